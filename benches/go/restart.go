package main

// restart: crash-and-restart cycles of one child under a one-for-one
// supervisor.
//
// A driver actor spawns an act.Supervisor (one-for-one, transient restarts)
// with one child. A cycle:
//  1. the child instance, once running, tells the driver it is up (its Init
//     sends `restartUp` to itself and passes it on from HandleMessage: Ergo
//     registers a process only after its Init has returned, so a report sent
//     from Init could be answered before the instance can be reached);
//  2. the driver asks the supervisor for its child (a Call the supervisor
//     answers itself) and checks it is that instance: Ergo links a supervisor
//     to a new child only after the child has started running, and a child
//     that dies before that link exists is never restarted, so the driver
//     must not crash it earlier; the answer comes once the restart is done;
//  3. the driver sends the instance `restartCrash`; the child drops its
//     registered name (Ergo sends a dying process's exit signals before it
//     releases its name, so a fast restart can find the name still taken,
//     ErrTaken, and the supervisor ends) and returns an error, an abnormal
//     reason: the supervisor restarts it, and the next cycle begins.
// Both races were seen here within a few thousand cycles. The Rust side runs
// exactly the same steps (it needs neither workaround). The clock runs from
// the driver's start signal until the instance after the last crash is up;
// the figure is cycles / elapsed.
//
// Restart intensity: Ergo counts restarts in a window of Period seconds
// (uint16, at least 1) and allows Intensity (uint16, at most 65535) of them.
// Each supervisor is set to 65535 restarts per 1 s, and sees at most `batch`
// (<= 65535) restarts in its life: no rate can make it exceed. `n` cycles are
// run as n/batch batches (rounded up; n is then rounded down to even batches),
// each under a fresh supervisor (the previous one is stopped with an exit
// signal, not waited for; its child's name differs from the next child's).

import (
	"errors"
	"fmt"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

// restartBatchMax is the most restarts one supervisor sees (Ergo's intensity is a uint16).
const restartBatchMax = 65535

type startRestarts struct{}
type restartUp struct{}
type restartCrash struct{}

var errCrash = errors.New("crash")

type crasher struct {
	act.Actor
	driver gen.PID
}

func newCrasher() gen.ProcessBehavior { return &crasher{} }

func (c *crasher) Init(args ...any) error {
	c.driver = args[0].(gen.PID)
	// Not to the driver straight away: a process is registered only once its
	// Init has returned, so the driver's crash could find no one. A message to
	// itself is handled once it runs.
	return c.Send(c.PID(), restartUp{})
}

func (c *crasher) HandleMessage(from gen.PID, message any) error {
	switch message.(type) {
	case restartUp:
		return c.Send(c.driver, restartUp{})
	case restartCrash:
		// Drop the name first: Ergo sends a dying process's exit signals before
		// it releases its name, so the supervisor's SpawnRegister of the next
		// instance can find the name still taken (ErrTaken, and the supervisor
		// ends) when the restart is fast. The Rust side does the same.
		if err := c.UnregisterName(); err != nil {
			return err
		}
		return errCrash
	}
	return nil
}

type crashSup struct {
	act.Supervisor
}

func newCrashSup() gen.ProcessBehavior { return &crashSup{} }

func (s *crashSup) Init(args ...any) (act.SupervisorSpec, error) {
	driver := args[0].(gen.PID)
	name := args[1].(gen.Atom)
	return act.SupervisorSpec{
		Type: act.SupervisorTypeOneForOne,
		Children: []act.SupervisorChildSpec{
			{Name: name, Factory: newCrasher, Args: []any{driver}},
		},
		Restart: act.SupervisorRestart{
			Strategy:  act.SupervisorStrategyTransient,
			Intensity: restartBatchMax,
			Period:    1,
		},
	}, nil
}

// whichChild asks a crashSup for the PID of its child.
type whichChild struct{}

func (s *crashSup) HandleCall(from gen.PID, ref gen.Ref, request any) (any, error) {
	if _, ok := request.(whichChild); ok {
		for _, c := range s.Children() {
			return c.PID, nil
		}
	}
	return nil, nil
}

type restartDriver struct {
	act.Actor
	batches int
	batch   int
	started int
	crashes int
	sup     gen.PID
	done    chan struct{}
}

func newRestartDriver() gen.ProcessBehavior { return &restartDriver{} }

func (d *restartDriver) Init(args ...any) error {
	d.batches = args[0].(int)
	d.batch = args[1].(int)
	d.done = args[2].(chan struct{})
	return nil
}

// nextBatch stops the current supervisor (if any) and starts the next one,
// or reports done after the last batch.
func (d *restartDriver) nextBatch() error {
	if d.sup != (gen.PID{}) {
		if err := d.SendExit(d.sup, gen.TerminateReasonShutdown); err != nil {
			return err
		}
		d.sup = gen.PID{}
	}
	if d.started == d.batches {
		close(d.done)
		return nil
	}
	name := gen.Atom(fmt.Sprintf("crasher%d", d.started))
	d.started++
	d.crashes = 0
	sup, err := d.Spawn(newCrashSup, gen.ProcessOptions{}, d.PID(), name)
	if err != nil {
		d.Log().Error("spawning supervisor %d failed: %s", d.started, err)
		return err
	}
	d.sup = sup
	return nil
}

func (d *restartDriver) HandleMessage(from gen.PID, message any) error {
	switch message.(type) {
	case startRestarts:
		return d.nextBatch()
	case restartUp:
		if d.crashes == d.batch {
			return d.nextBatch()
		}
		// Ask the supervisor for its child before crashing it: Ergo links a
		// supervisor to its new child only after the child has started
		// running, and a child that dies before that link is made is never
		// restarted. The supervisor answers once it is done with the restart.
		reply, err := d.Call(d.sup, whichChild{})
		if err != nil {
			return err
		}
		if pid, ok := reply.(gen.PID); !ok || pid != from {
			return fmt.Errorf("supervisor's child is %v, expected %s", reply, from)
		}
		d.crashes++
		return d.Send(from, restartCrash{})
	}
	return nil
}

func runRestart(args []string) error {
	fs, c := newFlags("restart")
	n := fs.Int("n", 100_000, "crash-and-restart cycles in all")
	batch := fs.Int("batch", 50_000, "most cycles under one supervisor (at most 65535)")
	fs.Parse(args)
	if *n < 1 || *batch < 1 || *batch > restartBatchMax {
		return fmt.Errorf("n must be positive and batch from 1 to %d", restartBatchMax)
	}
	describeRuntime()
	node, err := startNode("restart", c)
	if err != nil {
		return err
	}
	defer node.Stop()

	batches := (*n + *batch - 1) / *batch
	per := *n / batches // even batches: n rounded down to a multiple of the batch count
	done := make(chan struct{})
	driver, err := node.Spawn(newRestartDriver, gen.ProcessOptions{}, batches, per, done)
	if err != nil {
		return err
	}

	start := time.Now()
	if err := node.Send(driver, startRestarts{}); err != nil {
		return err
	}
	if err := waitOne(done, c.timeout, "the restarts"); err != nil {
		return err
	}
	elapsed := time.Since(start)

	info("restart: %d cycles in %d batch(es) of %d in %s", batches*per, batches, per, elapsed)
	result("restart", float64(batches*per)/elapsed.Seconds(), "cycles/s")
	return nil
}
