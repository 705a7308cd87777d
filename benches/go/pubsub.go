package main

// pubsub: event fan-out from one producer to many subscriber actors.
//
// A single-node version of ergo-services/benchmarks' distributed pub/sub
// scenario (1 producer, 1 event, 10 nodes x 100,000 subscribers). Here all
// subscribers live on the producer's node, so the fan-out is the local part
// of that scenario: the node delivering one event into each subscriber's
// mailbox and every subscriber handling it.
//
// The producer actor registers an event; s subscriber actors each subscribe
// to it with MonitorEvent (from their first message, as a process may not
// subscribe from Init). Once all are subscribed, the producer is told to
// publish e events back to back. The clock runs from just before that signal
// until every subscriber has handled all e events; the figure is
// (s * e) / elapsed deliveries per second. The time the producer itself
// spends publishing and the time needed to subscribe everyone are printed
// on stderr.

import (
	"fmt"
	"sync/atomic"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

const pubsubEventName gen.Atom = "bench.pubsub"

type pubsubPayload struct {
	Payload string
}

type registerEvent struct{}
type startPublishing struct{}
type subscribeNow struct{}

// countdown closes done when it has been ticked `left` times.
type countdown struct {
	left atomic.Int64
	done chan struct{}
}

func newCountdown(n int) *countdown {
	c := &countdown{done: make(chan struct{})}
	c.left.Store(int64(n))
	return c
}

func (c *countdown) tick() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

type producer struct {
	act.Actor
	events    int
	token     gen.Ref
	ready     chan struct{}
	published chan struct{}
}

func newProducer() gen.ProcessBehavior { return &producer{} }

func (p *producer) Init(args ...any) error {
	p.events = args[0].(int)
	p.ready = args[1].(chan struct{})
	p.published = args[2].(chan struct{})
	// registering an event is not allowed while in Init
	return p.Send(p.PID(), registerEvent{})
}

func (p *producer) HandleMessage(from gen.PID, message any) error {
	switch message.(type) {
	case registerEvent:
		token, err := p.RegisterEvent(pubsubEventName, gen.EventOptions{})
		if err != nil {
			p.Log().Error("register event: %s", err)
			return err
		}
		p.token = token
		close(p.ready)
	case startPublishing:
		msg := pubsubPayload{Payload: "test"}
		for i := 0; i < p.events; i++ {
			if err := p.SendEvent(pubsubEventName, p.token, msg); err != nil {
				p.Log().Error("publish %d: %s", i, err)
				return err
			}
		}
		close(p.published)
	}
	return nil
}

type subscriber struct {
	act.Actor
	event      gen.Event
	want       int
	got        int
	subscribed *countdown
	delivered  *countdown
}

func newSubscriber() gen.ProcessBehavior { return &subscriber{} }

func (s *subscriber) Init(args ...any) error {
	s.event = args[0].(gen.Event)
	s.want = args[1].(int)
	s.subscribed = args[2].(*countdown)
	s.delivered = args[3].(*countdown)
	// subscribing is not allowed while in Init
	return s.Send(s.PID(), subscribeNow{})
}

func (s *subscriber) HandleMessage(from gen.PID, message any) error {
	if _, ok := message.(subscribeNow); !ok {
		return nil
	}
	if _, err := s.MonitorEvent(s.event); err != nil {
		s.Log().Error("subscribe: %s", err)
		return err
	}
	s.subscribed.tick()
	return nil
}

func (s *subscriber) HandleEvent(message gen.MessageEvent) error {
	if _, ok := message.Message.(pubsubPayload); !ok {
		return nil
	}
	s.got++
	if s.got == s.want {
		s.delivered.tick()
	}
	return nil
}

func runPubsub(args []string) error {
	fs, c := newFlags("pubsub")
	subs := fs.Int("subs", 100_000, "subscriber processes")
	events := fs.Int("events", 1, "events the producer publishes")
	fs.Parse(args)
	if *subs < 1 || *events < 1 {
		return fmt.Errorf("subs and events must be positive")
	}
	describeRuntime()
	node, err := startNode("pubsub", c)
	if err != nil {
		return err
	}
	// No node.Stop(): tearing down the subscribers is not measured.

	ready := make(chan struct{})
	published := make(chan struct{})
	producerPID, err := node.Spawn(newProducer, gen.ProcessOptions{}, *events, ready, published)
	if err != nil {
		return err
	}
	if err := waitOne(ready, c.timeout, "the producer to register its event"); err != nil {
		return err
	}

	event := gen.Event{Name: pubsubEventName, Node: node.Name()}
	subscribed := newCountdown(*subs)
	delivered := newCountdown(*subs)
	subStart := time.Now()
	for i := 0; i < *subs; i++ {
		if _, err := node.Spawn(newSubscriber, gen.ProcessOptions{}, event, *events, subscribed, delivered); err != nil {
			return fmt.Errorf("spawn subscriber %d: %w", i, err)
		}
	}
	if err := waitOne(subscribed.done, c.timeout, "subscriptions"); err != nil {
		return err
	}
	info("pubsub: %d subscribers spawned and subscribed in %s", *subs, time.Since(subStart))

	start := time.Now()
	if err := node.Send(producerPID, startPublishing{}); err != nil {
		return err
	}
	if err := waitOne(published, c.timeout, "the producer to publish"); err != nil {
		return err
	}
	publishTime := time.Since(start)
	if err := waitOne(delivered.done, c.timeout, "deliveries"); err != nil {
		return err
	}
	elapsed := time.Since(start)

	total := float64(*subs) * float64(*events)
	info("pubsub: %d event(s) x %d subscribers: published in %s, all %d delivered in %s",
		*events, *subs, publishTime, int64(total), elapsed)
	result("pubsub", total/elapsed.Seconds(), "deliveries/s")
	return nil
}
