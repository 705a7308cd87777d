package main

// overload / overload_unthrottled: producers faster than their consumers.
//
// `senders` streamer actors each send n/senders sequence-numbered messages
// (sender id, seq) to receiver id % receivers, `batch` of them per
// HandleMessage turn, then a message to themselves to carry on in a later
// turn. Each receiver checks that every sender's messages arrive in order
// (a gap fails the run), counts them, and spins `work-ns` nanoseconds of
// wall-clock time per message (the same clock loop as tree's work). The
// clock runs from just before the start signals until every receiver has
// counted all of its messages. Two figures: msg/s, and the peak resident set
// of the process (VmHWM), which is where producers that outrun their
// consumers show: every message not yet handled sits in a mailbox.
//
// The Rust side has backpressure (a producer that fills a queue past a
// high-water mark is held) and runs overload_unthrottled with it off. Go
// Ergo has neither backpressure nor placement (Rust puts the senders on one
// worker and the receivers on another), and its mailboxes are unbounded by
// default, so both names run the same program here and print their results
// under the name they were invoked with.

import (
	"fmt"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

// overloadMsg is one streamed message: sender id and its sequence number.
type overloadMsg struct {
	id  int
	seq uint64
}

// overloadNext is a streamer's message to itself: send the next batch.
type overloadNext struct{}

type overloadStreamer struct {
	act.Actor
	id    int
	to    gen.PID
	n     uint64
	sent  uint64
	batch uint64
}

func newOverloadStreamer() gen.ProcessBehavior { return &overloadStreamer{} }

func (s *overloadStreamer) Init(args ...any) error {
	s.id = args[0].(int)
	s.to = args[1].(gen.PID)
	s.n = args[2].(uint64)
	s.batch = args[3].(uint64)
	return nil
}

func (s *overloadStreamer) HandleMessage(from gen.PID, message any) error {
	switch message.(type) {
	case startSending, overloadNext:
	default:
		return nil
	}
	end := min(s.sent+s.batch, s.n)
	for seq := s.sent; seq < end; seq++ {
		if err := s.SendPID(s.to, overloadMsg{id: s.id, seq: seq}); err != nil {
			s.Log().Error("send %d failed: %s", seq, err)
			return err
		}
	}
	s.sent = end
	if s.sent < s.n {
		if err := s.SendPID(s.PID(), overloadNext{}); err != nil {
			s.Log().Error("send to itself failed: %s", err)
			return err
		}
	}
	return nil
}

type overloadReceiver struct {
	act.Actor
	work   time.Duration
	next   []uint64
	got    uint64
	expect uint64
	done   chan struct{}
	failed chan error
}

func newOverloadReceiver() gen.ProcessBehavior { return &overloadReceiver{} }

func (r *overloadReceiver) Init(args ...any) error {
	r.work = args[0].(time.Duration)
	r.next = make([]uint64, args[1].(int))
	r.expect = args[2].(uint64)
	r.done = args[3].(chan struct{})
	r.failed = args[4].(chan error)
	if r.expect == 0 {
		// More receivers than senders: this one gets nothing.
		close(r.done)
	}
	return nil
}

func (r *overloadReceiver) HandleMessage(from gen.PID, message any) error {
	m, ok := message.(overloadMsg)
	if !ok {
		return nil
	}
	if r.next[m.id] != m.seq {
		err := fmt.Errorf("sender %d: got message %d, expected %d", m.id, m.seq, r.next[m.id])
		select {
		case r.failed <- err:
		default:
		}
		return err
	}
	r.next[m.id]++
	r.got++
	if r.work > 0 {
		busy(r.work)
	}
	if r.got == r.expect {
		close(r.done)
	}
	return nil
}

func runOverload(args []string) error { return runOverloadAs("overload", args) }

// runOverloadUnthrottled is overload under another name: the Rust side runs
// it with its backpressure off; Go Ergo has none to turn off.
func runOverloadUnthrottled(args []string) error { return runOverloadAs("overload_unthrottled", args) }

func runOverloadAs(name string, args []string) error {
	fs, c := newFlags(name)
	n := fs.Int("n", 100_000_000, "messages in all, split evenly between the senders")
	senders := fs.Int("senders", 64, "sender actors")
	receivers := fs.Int("receivers", 16, "receiver actors (sender i sends to receiver i % receivers)")
	batch := fs.Int("batch", 2000, "messages a sender sends per turn before messaging itself to go on")
	workNs := fs.Int("work-ns", 100, "busy wall-clock time per message at the receiver, in ns")
	fs.Parse(args)
	if *senders < 1 || *receivers < 1 || *batch < 1 || *n < *senders || *workNs < 0 {
		return fmt.Errorf("needs -senders, -receivers, -batch above 0, -n of at least -senders and -work-ns of at least 0")
	}
	return overload(name, *n, *senders, *receivers, *batch, time.Duration(*workNs), c)
}

func overload(name string, n, senders, receivers, batch int, work time.Duration, c *common) error {
	describeRuntime()
	node, err := startNode(name, c)
	if err != nil {
		return err
	}
	defer node.Stop()

	perSender := uint64(n / senders)
	failed := make(chan error, 1)
	dones := make([]chan struct{}, receivers)
	sinks := make([]gen.PID, receivers)
	for r := range sinks {
		// Receiver r gets senders r, r + receivers, ...
		var expect uint64
		for id := r; id < senders; id += receivers {
			expect += perSender
		}
		dones[r] = make(chan struct{})
		sinks[r], err = node.Spawn(newOverloadReceiver, gen.ProcessOptions{}, work, senders, expect, dones[r], failed)
		if err != nil {
			return err
		}
	}
	streamers := make([]gen.PID, senders)
	for id := range streamers {
		streamers[id], err = node.Spawn(newOverloadStreamer, gen.ProcessOptions{}, id, sinks[id%receivers], perSender, uint64(batch))
		if err != nil {
			return err
		}
	}
	total := perSender * uint64(senders)
	info("%s: %d sender(s) x %d messages into %d receiver(s), batch %d, work %s per message, %d in total",
		name, senders, perSender, receivers, batch, work, total)

	start := time.Now()
	for _, pid := range streamers {
		if err := node.Send(pid, startSending{}); err != nil {
			return err
		}
	}
	finished := make(chan error, 1)
	go func() { finished <- waitAll(dones, c.timeout) }()
	select {
	case err := <-finished:
		if err != nil {
			return err
		}
	case err := <-failed:
		return err
	}
	elapsed := time.Since(start)

	peak, err := procStatusBytes("VmHWM")
	if err != nil {
		return err
	}
	info("%s: %d messages received in %s, peak RSS %.2f MiB", name, total, elapsed, mib(peak))
	result(name, float64(total)/elapsed.Seconds(), "msg/s")
	result(name+"_peak_rss", mib(peak), "MiB")
	return nil
}
