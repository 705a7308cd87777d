package main

// peer: a Go Ergo node for the ergors interop tests (tests/net_interop_go.rs), not a benchmark.
//
// It starts a node with networking on (acceptor on 127.0.0.1:-port, cookie -cookie), registers
// an "echo" process (a string message is sent back to its sender as "echo: <text>"; a call with
// a string is answered "called: <text>"), adds a static route to the ergors node when -route
// names one, prints "READY" and then obeys lines on stdin:
//
//	send <node> <name> <text>   send <text> to the process <name> on <node>
//	call <node> <name> <text>   call it; prints "REPLY <text>" or "ERROR <error>"
//	important <node> <name> <text>  send it as an important message: prints "DELIVERED" once
//	                            the other node acknowledged it, or "ERROR <error>"
//	zip <node> <name> <n>       send a string of <n> 'z's with compression on (gzip above 1 KiB)
//	monitorevent <node> <event> -  monitor the event <event> of <node>: prints "EVENTS [<buffered>]"
//	                            or "ERROR <error>"; then "EVENT <node> <text>" for each message
//	                            and "DOWNEVENT <event> <reason>" when it ends
//	publish - <event> <text>    publish <text> on the prober's event <event> (registered on first
//	                            use, buffer 2): prints "PUBLISHED"
//	unregister - <event> -      unregister it: prints "UNREGISTERED"
//	spawn <node> <name> <arg>   remote spawn <name> on <node> with the argument <arg>, then call
//	                            the new process with "go": prints "SPAWNED <reply>" or "ERROR <error>"
//	victim <name> -             spawn a process registered as <name> that answers a call with its
//	                            PID and ends with reason "boom" on the message "die": prints "VICTIM"
//	monitor <node> <name> -     monitor that process by name: prints "MONITORING", later
//	                            "DOWN name <name> <reason>"
//	monitorpid <node> <name> -  call that process for its PID, monitor the PID: prints
//	                            "MONITORING", later "DOWN pid <reason>"
//	ping - - -                  prints "PONG" once the prober handled everything before it
//	gone <name> - -             wait (up to 10 s) until the victim <name> has ended:
//	                            prints "GONE" or "ERROR still there"
//	appstart <node> <name> -    start the application <name> on <node> (transient): prints
//	                            "STARTED" or "ERROR <error>"
//	quit                        stop the node and exit
//
// Whatever the prober process receives is printed as "GOT <from node> <text>". Other nodes may
// remote-spawn "goecho" (an echo process) and start the application "goapp" (one echo
// process registered as "goappecho").
//
// With -tls the acceptor serves TLS with a fresh self-signed certificate (lib's
// GenerateSelfSignedCert), the static route is dialled over TLS, and certificates are not
// verified (InsecureSkipVerify), as Ergo's TLS examples run.

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"ergo.services/ergo"
	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
	"ergo.services/ergo/lib"
	"ergo.services/ergo/net/registrar"
)

var outMu sync.Mutex

func say(format string, args ...any) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf(format+"\n", args...)
}

type interopEcho struct {
	act.Actor
}

func (e *interopEcho) HandleMessage(from gen.PID, message any) error {
	if s, ok := message.(string); ok {
		return e.Send(from, "echo: "+s)
	}
	return nil
}

func (e *interopEcho) HandleCall(from gen.PID, ref gen.Ref, request any) (any, error) {
	if s, ok := request.(string); ok {
		return "called: " + s, nil
	}
	return request, nil
}

type interopVictim struct {
	act.Actor
}

func (v *interopVictim) HandleMessage(from gen.PID, message any) error {
	if s, ok := message.(string); ok && s == "die" {
		return errors.New("boom")
	}
	return nil
}

func (v *interopVictim) HandleCall(from gen.PID, ref gen.Ref, request any) (any, error) {
	return v.PID(), nil
}

type interopApp struct{}

func (a *interopApp) Load(node gen.Node, args ...any) (gen.ApplicationSpec, error) {
	member := gen.ApplicationMemberSpec{Name: "goappecho", Factory: func() gen.ProcessBehavior { return &interopEcho{} }}
	return gen.ApplicationSpec{Name: "goapp", Group: []gen.ApplicationMemberSpec{member}}, nil
}

func (a *interopApp) Start(mode gen.ApplicationMode) {}
func (a *interopApp) Terminate(reason error)         {}

type proberCommand struct {
	verb string
	to   gen.ProcessID
	text string
}

type interopProber struct {
	act.Actor
	tokens map[gen.Atom]gen.Ref
}

func (p *interopProber) HandleEvent(message gen.MessageEvent) error {
	say("EVENT %s %v", message.Event.Node, message.Message)
	return nil
}

func (p *interopProber) HandleMessage(from gen.PID, message any) error {
	switch m := message.(type) {
	case proberCommand:
		switch m.verb {
		case "call":
			reply, err := p.Call(m.to, m.text)
			if err != nil {
				say("ERROR %v", err)
			} else {
				say("REPLY %v", reply)
			}
		case "important":
			if err := p.SendImportant(m.to, m.text); err != nil {
				say("ERROR %v", err)
			} else {
				say("DELIVERED")
			}
		case "spawn":
			pid, err := p.RemoteSpawn(m.to.Node, m.to.Name, gen.ProcessOptions{}, m.text)
			if err != nil {
				say("ERROR %v", err)
				break
			}
			reply, err := p.Call(pid, "go")
			if err != nil {
				say("ERROR %v", err)
			} else {
				say("SPAWNED %v", reply)
			}
		case "monitor":
			if err := p.MonitorProcessID(m.to); err != nil {
				say("ERROR %v", err)
			} else {
				say("MONITORING")
			}
		case "monitorpid":
			reply, err := p.Call(m.to, "pid")
			if err != nil {
				say("ERROR %v", err)
				break
			}
			pid, ok := reply.(gen.PID)
			if !ok {
				say("ERROR not a PID: %v", reply)
				break
			}
			if err := p.MonitorPID(pid); err != nil {
				say("ERROR %v", err)
			} else {
				say("MONITORING")
			}
		case "ping":
			say("PONG")
		case "zip":
			n, _ := strconv.Atoi(m.text)
			p.SetCompression(true)
			err := p.Send(m.to, strings.Repeat("z", n))
			p.SetCompression(false)
			if err != nil {
				say("ERROR %v", err)
			}
		case "monitorevent":
			buffered, err := p.MonitorEvent(gen.Event{Name: m.to.Name, Node: m.to.Node})
			if err != nil {
				say("ERROR %v", err)
				break
			}
			texts := []string{}
			for _, e := range buffered {
				texts = append(texts, fmt.Sprint(e.Message))
			}
			say("EVENTS %v", texts)
		case "publish":
			if p.tokens == nil {
				p.tokens = make(map[gen.Atom]gen.Ref)
			}
			token, found := p.tokens[m.to.Name]
			if found == false {
				t, err := p.RegisterEvent(m.to.Name, gen.EventOptions{Buffer: 2})
				if err != nil {
					say("ERROR %v", err)
					break
				}
				token = t
				p.tokens[m.to.Name] = t
			}
			if err := p.SendEvent(m.to.Name, token, m.text); err != nil {
				say("ERROR %v", err)
				break
			}
			say("PUBLISHED")
		case "unregister":
			delete(p.tokens, m.to.Name)
			if err := p.UnregisterEvent(m.to.Name); err != nil {
				say("ERROR %v", err)
				break
			}
			say("UNREGISTERED")
		default:
			if err := p.Send(m.to, m.text); err != nil {
				say("ERROR %v", err)
			}
		}
	case string:
		say("GOT %s %s", from.Node, m)
	case gen.MessageDownEvent:
		say("DOWNEVENT %s %v", m.Event.Name, m.Reason)
	case gen.MessageDownProcessID:
		say("DOWN name %s %v", m.ProcessID.Name, m.Reason)
	case gen.MessageDownPID:
		say("DOWN pid %v", m.Reason)
	}
	return nil
}

func runPeer(args []string) error {
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	name := fs.String("name", "go@localhost", "node name")
	cookie := fs.String("cookie", "secret", "cookie")
	port := fs.Int("port", 11144, "acceptor port")
	route := fs.String("route", "", "name of a node to reach by a static route")
	routePort := fs.Int("route-port", 0, "that node's acceptor port on 127.0.0.1")
	registrarPort := fs.Int("registrar-port", 0, "the registrar's port (0: Go's default, 4499)")
	useTLS := fs.Bool("tls", false, "serve and dial TLS (self-signed, InsecureSkipVerify)")
	fs.Parse(args)

	var options gen.NodeOptions
	options.Network.Mode = gen.NetworkModeEnabled
	options.Network.Cookie = *cookie
	options.Network.Acceptors = []gen.AcceptorOptions{{Host: "127.0.0.1", Port: uint16(*port)}}
	options.Log.Level = gen.LogLevelWarning
	if *useTLS {
		cert, err := lib.GenerateSelfSignedCert("ergors interop", "localhost", "127.0.0.1")
		if err != nil {
			return err
		}
		options.CertManager = gen.CreateCertManager(cert)
		options.Network.InsecureSkipVerify = true
	}
	if *registrarPort != 0 {
		options.Network.Registrar = registrar.Create(registrar.Options{Port: uint16(*registrarPort)})
	}
	node, err := ergo.StartNode(gen.Atom(*name), options)
	if err != nil {
		return err
	}
	defer node.Stop()
	if *route != "" {
		r := gen.NetworkRoute{Route: gen.Route{Host: "127.0.0.1", Port: uint16(*routePort), TLS: *useTLS}}
		r.InsecureSkipVerify = *useTLS
		if err := node.Network().AddRoute(*route, r, 100); err != nil {
			return err
		}
	}
	if _, err := node.SpawnRegister("echo", func() gen.ProcessBehavior { return &interopEcho{} }, gen.ProcessOptions{}); err != nil {
		return err
	}
	if err := node.Network().EnableSpawn("goecho", func() gen.ProcessBehavior { return &interopEcho{} }); err != nil {
		return err
	}
	if _, err := node.ApplicationLoad(&interopApp{}); err != nil {
		return err
	}
	if err := node.Network().EnableApplicationStart("goapp"); err != nil {
		return err
	}
	prober, err := node.Spawn(func() gen.ProcessBehavior { return &interopProber{} }, gen.ProcessOptions{})
	if err != nil {
		return err
	}
	victims := make(map[string]gen.PID)
	say("READY")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.SplitN(in.Text(), " ", 4)
		switch {
		case len(f) == 1 && f[0] == "quit":
			return nil
		case len(f) == 4 && f[0] == "gone":
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := node.ProcessState(victims[f[1]]); err != nil {
					say("GONE")
					break
				}
				if time.Now().After(deadline) {
					say("ERROR still there")
					break
				}
				time.Sleep(time.Millisecond)
			}
		case len(f) == 4 && f[0] == "appstart":
			remote, err := node.Network().GetNode(gen.Atom(f[1]))
			if err == nil {
				err = remote.ApplicationStartTransient(gen.Atom(f[2]), gen.ApplicationOptions{})
			}
			if err != nil {
				say("ERROR %v", err)
			} else {
				say("STARTED")
			}
		case len(f) == 4 && f[0] == "victim":
			behavior := func() gen.ProcessBehavior { return &interopVictim{} }
			// Its abnormal end would be logged on stdout, among the answers.
			quiet := gen.ProcessOptions{LogLevel: gen.LogLevelDisabled}
			if pid, err := node.SpawnRegister(gen.Atom(f[1]), behavior, quiet); err != nil {
				say("ERROR %v", err)
			} else {
				victims[f[1]] = pid
				say("VICTIM")
			}
		case len(f) == 4 && (f[0] == "send" || f[0] == "call" || f[0] == "important" || f[0] == "zip" ||
			f[0] == "monitorevent" || f[0] == "publish" || f[0] == "unregister" ||
			f[0] == "spawn" || f[0] == "monitor" || f[0] == "monitorpid" || f[0] == "ping"):
			to := gen.ProcessID{Node: gen.Atom(f[1]), Name: gen.Atom(f[2])}
			node.Send(prober, proberCommand{verb: f[0], to: to, text: f[3]})
		default:
			say("ERROR bad command %q", in.Text())
		}
	}
	return nil
}
