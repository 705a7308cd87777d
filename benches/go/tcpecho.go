package main

// tcpecho: Ergo's TCP server meta under ping-pong load.
//
// A process spawns meta.CreateTCPServer on 127.0.0.1 with a ProcessPool of
// NumCPU echo handlers and 4-byte length-header chunking; each handler sends
// every MessageTCP back to the connection it came from. The load generator is
// the Rust example `loadgen` (the same client against both servers: the path
// is $LOADGEN, which the script sets):
// `conns` connections, one message in flight each. Once they are all up this
// program reads its own RSS growth (per connection), lets the load run, and
// passes loadgen's RESULT lines (msg/s and p99 in us) through.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
	"ergo.services/ergo/meta"
)

type tcpEchoHandler struct {
	act.Actor
}

func newTCPEchoHandler() gen.ProcessBehavior { return &tcpEchoHandler{} }

func (h *tcpEchoHandler) HandleMessage(from gen.PID, message any) error {
	if m, ok := message.(meta.MessageTCP); ok {
		h.Send(m.ID, meta.MessageTCP{ID: m.ID, Data: m.Data})
	}
	return nil
}

type tcpEchoServer struct {
	act.Actor
}

func newTCPEchoServer() gen.ProcessBehavior { return &tcpEchoServer{} }

func (s *tcpEchoServer) Init(args ...any) error {
	port := args[0].(int)
	handlers := args[1].(int)
	ready := args[2].(chan error)
	pool := []gen.Atom{}
	for i := 0; i < handlers; i++ {
		name := gen.Atom(fmt.Sprintf("tcpecho_handler_%d", i))
		if _, err := s.SpawnRegister(name, newTCPEchoHandler, gen.ProcessOptions{}); err != nil {
			return err
		}
		pool = append(pool, name)
	}
	server, err := meta.CreateTCPServer(meta.TCPServerOptions{
		Host:        "127.0.0.1",
		Port:        uint16(port),
		ProcessPool: pool,
		ReadChunk: meta.ChunkOptions{
			Enable:               true,
			HeaderSize:           4,
			HeaderLengthPosition: 0,
			HeaderLengthSize:     4,
		},
	})
	if err != nil {
		return err
	}
	if _, err := s.SpawnMeta(server, gen.MetaOptions{}); err != nil {
		return err
	}
	close(ready)
	return nil
}

// freePort asks the kernel for a free port (Ergo's server takes a fixed one).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// rss is rssBytes as a number (0 if unreadable).
func rss() int64 {
	v, err := rssBytes()
	if err != nil {
		return 0
	}
	return int64(v)
}

func runTCPEcho100(args []string) error  { return runTCPEcho("100", args) }
func runTCPEcho1000(args []string) error { return runTCPEcho("1000", args) }

func runTCPEcho(defaultConns string, args []string) error {
	fs, c := newFlags("tcpecho")
	connsList := fs.String("conns", defaultConns, "connection counts to run, comma-separated")
	seconds := fs.Int("seconds", 5, "seconds of load per connection count")
	fs.Parse(args)
	node, port, err := startServer("tcpecho", c, newTCPEchoServer)
	if err != nil {
		return err
	}
	defer node.Stop()
	loadgen, err := loadgenPath()
	if err != nil {
		return err
	}
	for _, field := range strings.Split(*connsList, ",") {
		conns, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || conns < 1 {
			return fmt.Errorf("bad -conns entry %q", field)
		}
		if err := runLoad(loadgen, "tcp", fmt.Sprintf("tcpecho%d", conns), port, conns, *seconds); err != nil {
			return err
		}
	}
	return nil
}

// startServer starts a node and, in it, the server process made by factory
// (its Init gets a free port, the handler count and a channel it closes once
// it listens); it returns the node and the port.
func startServer(name string, c *common, factory gen.ProcessFactory) (gen.Node, int, error) {
	describeRuntime()
	node, err := startNode(name, c)
	if err != nil {
		return nil, 0, err
	}
	port, err := freePort()
	if err == nil {
		ready := make(chan error)
		if _, err = node.Spawn(factory, gen.ProcessOptions{}, port, runtime.NumCPU(), ready); err == nil {
			<-ready
			return node, port, nil
		}
	}
	node.Stop()
	return nil, 0, err
}

// loadgenPath is the Rust load generator, from $LOADGEN.
func loadgenPath() (string, error) {
	path := os.Getenv("LOADGEN")
	if path == "" {
		return "", fmt.Errorf("set LOADGEN to the Rust load generator (target/release/examples/loadgen)")
	}
	return path, nil
}

// runLoad runs loadgen (proto tcp or http) against the port, reporting under name:
// this process's RSS growth per connection once they are up, then loadgen's lines.
func runLoad(loadgen, proto, name string, port, conns, seconds int) error {
	base := rss()
	cmd := exec.Command(loadgen, "--addr", fmt.Sprintf("127.0.0.1:%d", port),
		"--conns", strconv.Itoa(conns), "--seconds", strconv.Itoa(seconds),
		"--name", name, "--proto", proto)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case strings.HasPrefix(line, "CONNECTED"):
			time.Sleep(200 * time.Millisecond)
			grown := rss() - base
			if grown < 0 {
				grown = 0
			}
			result(name, float64(grown)/float64(conns), "B/conn")
			fmt.Fprintln(stdin)
		case strings.HasPrefix(line, "RESULT"):
			fmt.Println(line)
		}
	}
	return cmd.Wait()
}
