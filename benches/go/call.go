package main

// call / callx / callNN: synchronous request/response round trips between actors.
//
// ergo-services/benchmarks has no Call scenario; this one is ours. A caller
// actor, when told to start, performs k sequential Calls to its own server
// actor, each waiting for the reply before the next; the server's HandleCall
// returns the request as the reply straight away. The caller checks every
// reply. `call` runs one caller/server pair; `callNN` runs NumCPU
// independent pairs at once. The figure is (pairs * k) / elapsed, with the
// clock running from just before the start signals until every caller has
// finished.

import (
	"fmt"
	"runtime"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

type startCalling struct{}

type callServer struct {
	act.Actor
}

func newCallServer() gen.ProcessBehavior { return &callServer{} }

func (s *callServer) HandleCall(from gen.PID, ref gen.Ref, request any) (any, error) {
	return request, nil
}

type caller struct {
	act.Actor
	server gen.PID
	k      int
	done   chan struct{}
}

func newCaller() gen.ProcessBehavior { return &caller{} }

func (c *caller) Init(args ...any) error {
	c.server = args[0].(gen.PID)
	c.k = args[1].(int)
	c.done = args[2].(chan struct{})
	return nil
}

func (c *caller) HandleMessage(from gen.PID, message any) error {
	if _, ok := message.(startCalling); !ok {
		return nil
	}
	for i := 0; i < c.k; i++ {
		reply, err := c.Call(c.server, i)
		if err != nil {
			c.Log().Error("call %d failed: %s", i, err)
			return err
		}
		if got, ok := reply.(int); !ok || got != i {
			err := fmt.Errorf("call %d: unexpected reply %#v", i, reply)
			c.Log().Error("%s", err)
			return err
		}
	}
	close(c.done)
	return nil
}

func runCall(args []string) error {
	fs, c := newFlags("call")
	pairs := fs.Int("pairs", 1, "caller/server pairs running at once")
	k := fs.Int("n", 1_000_000, "sequential calls each caller makes")
	fs.Parse(args)
	return calls("call", *pairs, *k, c)
}

// runCallx is call under another name: Go Ergo has no placement, so the
// "server on another worker" variant of the Rust side is the same program here.
func runCallx(args []string) error {
	fs, c := newFlags("callx")
	pairs := fs.Int("pairs", 1, "caller/server pairs running at once")
	k := fs.Int("n", 1_000_000, "sequential calls each caller makes")
	fs.Parse(args)
	return calls("callx", *pairs, *k, c)
}

func runCallNN(args []string) error {
	fs, c := newFlags("callNN")
	pairs := fs.Int("pairs", runtime.NumCPU(), "caller/server pairs running at once")
	k := fs.Int("n", 1_000_000, "sequential calls each caller makes")
	fs.Parse(args)
	return calls("callNN", *pairs, *k, c)
}

func calls(name string, pairs, k int, c *common) error {
	if pairs < 1 || k < 1 {
		return fmt.Errorf("pairs and n must be positive")
	}
	describeRuntime()
	node, err := startNode(name, c)
	if err != nil {
		return err
	}
	defer node.Stop()

	callers := make([]gen.PID, pairs)
	dones := make([]chan struct{}, pairs)
	for i := 0; i < pairs; i++ {
		dones[i] = make(chan struct{})
		server, err := node.Spawn(newCallServer, gen.ProcessOptions{})
		if err != nil {
			return err
		}
		callers[i], err = node.Spawn(newCaller, gen.ProcessOptions{}, server, k, dones[i])
		if err != nil {
			return err
		}
	}
	info("%s: %d pair(s), %d calls per caller, %d in total", name, pairs, k, pairs*k)

	start := time.Now()
	for _, pid := range callers {
		if err := node.Send(pid, startCalling{}); err != nil {
			return err
		}
	}
	if err := waitAll(dones, c.timeout); err != nil {
		return err
	}
	elapsed := time.Since(start)

	total := float64(pairs) * float64(k)
	info("%s: %d calls completed in %s (%.2f us per round trip per pair)",
		name, pairs*k, elapsed, elapsed.Seconds()*1e6/float64(k))
	result(name, total/elapsed.Seconds(), "calls/s")
	return nil
}
