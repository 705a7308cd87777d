package main

// fanin: many senders, one receiver.
//
// As many sender actors as CPUs (the Rust side puts one on every worker)
// each send n small messages (the integer 1) to one shared receiver actor
// that only counts them. The clock runs from just before the start signals
// are sent until the receiver has counted senders * n messages, so the
// figure is the rate at which one mailbox absorbs traffic from every core.
// By default the senders share 4,000,000 messages between them, so the run
// takes about as long on any core count.

import (
	"fmt"
	"runtime"
	"time"

	"ergo.services/ergo/gen"
)

// faninTotal is the default number of messages, split evenly between the
// senders (the Rust side uses the same figure).
const faninTotal = 4_000_000

func runFanin(args []string) error {
	fs, c := newFlags("fanin")
	senders := fs.Int("senders", runtime.NumCPU(), "sender actors, all sending to the one receiver")
	n := fs.Int("n", 0, "messages each sender sends (default 4000000 / senders)")
	fs.Parse(args)
	if *senders < 1 {
		return fmt.Errorf("senders must be positive")
	}
	if *n == 0 {
		*n = faninTotal / *senders
	}
	if *n < 1 {
		return fmt.Errorf("n must be positive")
	}
	return fanin(*senders, *n, c)
}

func fanin(senders, n int, c *common) error {
	describeRuntime()
	node, err := startNode("fanin", c)
	if err != nil {
		return err
	}
	defer node.Stop()

	total := senders * n
	done := make(chan struct{})
	receiver, err := node.Spawn(newPingReceiver, gen.ProcessOptions{}, total, done)
	if err != nil {
		return err
	}
	pids := make([]gen.PID, senders)
	for i := range pids {
		pids[i], err = node.Spawn(newPingSender, gen.ProcessOptions{}, receiver, n)
		if err != nil {
			return err
		}
	}
	info("fanin: %d sender(s) x %d messages into 1 receiver, %d in total", senders, n, total)

	start := time.Now()
	for _, pid := range pids {
		if err := node.Send(pid, startSending{}); err != nil {
			return err
		}
	}
	if err := waitOne(done, c.timeout, "the receiver"); err != nil {
		return err
	}
	elapsed := time.Since(start)

	info("fanin: %d messages received in %s", total, elapsed)
	result("fanin", float64(total)/elapsed.Seconds(), "msg/s")
	return nil
}
