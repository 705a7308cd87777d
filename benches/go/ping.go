package main

// ping11 / ping11x / pingNN: one-way message throughput between actors of one node.
//
// Each pair is a sender actor and a receiver actor. When told to start, the
// sender pushes n small messages (the integer 1) to its receiver in a tight
// loop from a single HandleMessage callback; the receiver only counts them.
// The clock starts just before the start signals are sent and stops when
// every receiver has counted all of its messages, so the figure is
// (pairs * n) / elapsed, measured at the receiving end. This is what the
// ergo-services/benchmarks "ping" local scenarios measure (3M messages for
// 1-1; NumCPU pairs x 1M messages for N-N).

import (
	"fmt"
	"runtime"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

type startSending struct{}

type pingSender struct {
	act.Actor
	to gen.PID
	n  int
}

func newPingSender() gen.ProcessBehavior { return &pingSender{} }

func (s *pingSender) Init(args ...any) error {
	s.to = args[0].(gen.PID)
	s.n = args[1].(int)
	return nil
}

func (s *pingSender) HandleMessage(from gen.PID, message any) error {
	if _, ok := message.(startSending); !ok {
		return nil
	}
	for i := 0; i < s.n; i++ {
		if err := s.SendPID(s.to, 1); err != nil {
			s.Log().Error("send %d failed: %s", i, err)
			return err
		}
	}
	return nil
}

type pingReceiver struct {
	act.Actor
	want int
	got  int
	done chan struct{}
}

func newPingReceiver() gen.ProcessBehavior { return &pingReceiver{} }

func (r *pingReceiver) Init(args ...any) error {
	r.want = args[0].(int)
	r.done = args[1].(chan struct{})
	return nil
}

func (r *pingReceiver) HandleMessage(from gen.PID, message any) error {
	r.got++
	if r.got == r.want {
		close(r.done)
	}
	return nil
}

func runPing11(args []string) error {
	fs, c := newFlags("ping11")
	n := fs.Int("n", 3_000_000, "messages to send")
	fs.Parse(args)
	return ping("ping11", 1, *n, c)
}

// runPing11x is ping11 under another name: Go Ergo has no placement, so the
// "receiver on another worker" variant of the Rust side is the same program
// here (the Go scheduler puts the two goroutines wherever it likes).
func runPing11x(args []string) error {
	fs, c := newFlags("ping11x")
	n := fs.Int("n", 3_000_000, "messages to send")
	fs.Parse(args)
	return ping("ping11x", 1, *n, c)
}

func runPingNN(args []string) error {
	fs, c := newFlags("pingNN")
	pairs := fs.Int("pairs", runtime.NumCPU(), "sender/receiver pairs running at once")
	n := fs.Int("n", 1_000_000, "messages each sender sends")
	fs.Parse(args)
	return ping("pingNN", *pairs, *n, c)
}

func ping(name string, pairs, n int, c *common) error {
	if pairs < 1 || n < 1 {
		return fmt.Errorf("pairs and n must be positive")
	}
	describeRuntime()
	node, err := startNode(name, c)
	if err != nil {
		return err
	}
	defer node.Stop()

	senders := make([]gen.PID, pairs)
	dones := make([]chan struct{}, pairs)
	for i := 0; i < pairs; i++ {
		dones[i] = make(chan struct{})
		receiver, err := node.Spawn(newPingReceiver, gen.ProcessOptions{}, n, dones[i])
		if err != nil {
			return err
		}
		senders[i], err = node.Spawn(newPingSender, gen.ProcessOptions{}, receiver, n)
		if err != nil {
			return err
		}
	}
	info("%s: %d pair(s), %d messages per sender, %d in total", name, pairs, n, pairs*n)

	start := time.Now()
	for _, pid := range senders {
		if err := node.Send(pid, startSending{}); err != nil {
			return err
		}
	}
	if err := waitAll(dones, c.timeout); err != nil {
		return err
	}
	elapsed := time.Since(start)

	total := float64(pairs) * float64(n)
	info("%s: %d messages received in %s", name, pairs*n, elapsed)
	result(name, total/elapsed.Seconds(), "msg/s")
	return nil
}
