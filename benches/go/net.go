package main

// netping / netcall: ping11 and call with the receiver on another node of this OS process,
// over loopback TCP (two nodes with networking on, a static route from a to b). The same
// scenarios as the Rust example's, so the figures compare the network paths.

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"

	"ergo.services/ergo"
	"ergo.services/ergo/gen"
)

func startNetNode(name string, port uint16, route string, routePort uint16) (gen.Node, error) {
	var options gen.NodeOptions
	options.Network.Mode = gen.NetworkModeEnabled
	options.Network.Cookie = "bench"
	options.Network.Acceptors = []gen.AcceptorOptions{{Host: "127.0.0.1", Port: port, PortRange: 1000}}
	options.Log.DefaultLogger.Output = os.Stderr
	options.Log.Level = gen.LogLevelWarning
	node, err := ergo.StartNode(gen.Atom(name), options)
	if err != nil {
		return nil, err
	}
	if route != "" {
		r := gen.NetworkRoute{Route: gen.Route{Host: "127.0.0.1", Port: routePort}}
		if err := node.Network().AddRoute(route, r, 100); err != nil {
			node.Stop()
			return nil, err
		}
	}
	return node, nil
}

// netPair starts b (listening) and a (with a route to b).
func netPair(name string) (gen.Node, gen.Node, error) {
	b, err := startNetNode(name+"-b@localhost", 26000, "", 0)
	if err != nil {
		return nil, nil, err
	}
	var port uint16
	acceptors, err := b.Network().Acceptors()
	if err != nil {
		b.Stop()
		return nil, nil, err
	}
	for _, acc := range acceptors {
		if _, p, err := net.SplitHostPort(acc.Info().Interface); err == nil {
			if v, err := strconv.Atoi(p); err == nil {
				port = uint16(v)
			}
		}
	}
	a, err := startNetNode(name+"-a@localhost", 27000, name+"-b@localhost", port)
	if err != nil {
		b.Stop()
		return nil, nil, err
	}
	return a, b, nil
}

func runNetPing(args []string) error {
	fs, c := newFlags("netping")
	n := fs.Int("n", 1_000_000, "messages to send")
	fs.Parse(args)
	a, b, err := netPair("netping")
	if err != nil {
		return err
	}
	defer a.Stop()
	defer b.Stop()
	done := make(chan struct{})
	receiver, err := b.Spawn(newPingReceiver, gen.ProcessOptions{}, *n+1, done)
	if err != nil {
		return err
	}
	// One message first: the connection (and its pool) comes up outside the clock.
	if err := a.Send(receiver, 0); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond)
	sender, err := a.Spawn(newPingSender, gen.ProcessOptions{}, receiver, *n)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := a.Send(sender, startSending{}); err != nil {
		return err
	}
	if err := waitAll([]chan struct{}{done}, c.timeout); err != nil {
		return err
	}
	result("netping", float64(*n)/time.Since(start).Seconds(), "msg/s")
	return nil
}

func runNetCall(args []string) error {
	fs, c := newFlags("netcall")
	k := fs.Int("n", 100_000, "sequential calls")
	fs.Parse(args)
	a, b, err := netPair("netcall")
	if err != nil {
		return err
	}
	defer a.Stop()
	defer b.Stop()
	server, err := b.Spawn(newCallServer, gen.ProcessOptions{})
	if err != nil {
		return err
	}
	done := make(chan struct{})
	caller, err := a.Spawn(newCaller, gen.ProcessOptions{}, server, *k, done)
	if err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := a.Send(caller, startCalling{}); err != nil {
		return err
	}
	if err := waitAll([]chan struct{}{done}, c.timeout); err != nil {
		return fmt.Errorf("netcall: %w", err)
	}
	result("netcall", float64(*k)/time.Since(start).Seconds(), "calls/s")
	return nil
}

// netcallmany: callers processes on a call servers processes on b, each caller n/callers
// sequential calls (the fan-in of an RPC server node over one connection).
func runNetCallMany(args []string) error {
	fs, c := newFlags("netcallmany")
	n := fs.Int("n", 400_000, "calls in all")
	callers := fs.Int("callers", 100, "calling processes")
	servers := fs.Int("servers", runtime.NumCPU(), "serving processes")
	fs.Parse(args)
	a, b, err := netPair("netcallmany")
	if err != nil {
		return err
	}
	defer a.Stop()
	defer b.Stop()
	var pids []gen.PID
	for i := 0; i < *servers; i++ {
		s, err := b.Spawn(newCallServer, gen.ProcessOptions{})
		if err != nil {
			return err
		}
		pids = append(pids, s)
	}
	each := *n / *callers
	var dones []chan struct{}
	var callerPids []gen.PID
	for i := 0; i < *callers; i++ {
		done := make(chan struct{})
		p, err := a.Spawn(newCaller, gen.ProcessOptions{}, pids[i%len(pids)], each, done)
		if err != nil {
			return err
		}
		dones = append(dones, done)
		callerPids = append(callerPids, p)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	for _, p := range callerPids {
		if err := a.Send(p, startCalling{}); err != nil {
			return err
		}
	}
	if err := waitAll(dones, c.timeout); err != nil {
		return fmt.Errorf("netcallmany: %w", err)
	}
	result("netcallmany", float64(each**callers)/time.Since(start).Seconds(), "calls/s")
	return nil
}
