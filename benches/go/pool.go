package main

// pool: calls through an act.Pool from several callers at once.
//
// A pool of `size` workers (each an actor whose HandleCall returns the
// request, as call's server) and `callers` caller actors (call's caller: k
// sequential Calls, every reply checked), all calling the pool's PID; the pool
// forwards each request to its next worker, which replies to the caller
// directly. The clock runs from just before the start signals until every
// caller has finished; the figure is (callers * k) / elapsed.

import (
	"fmt"
	"runtime"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

type benchPool struct {
	act.Pool
}

func newBenchPool() gen.ProcessBehavior { return &benchPool{} }

func (p *benchPool) Init(args ...any) (act.PoolOptions, error) {
	return act.PoolOptions{
		PoolSize:      int64(args[0].(int)),
		WorkerFactory: newCallServer,
	}, nil
}

func runPool(args []string) error {
	fs, c := newFlags("pool")
	callers := fs.Int("callers", runtime.NumCPU(), "caller actors calling the pool at once")
	size := fs.Int("size", runtime.NumCPU(), "workers in the pool")
	k := fs.Int("n", 500_000, "sequential calls each caller makes")
	fs.Parse(args)
	if *callers < 1 || *size < 1 || *k < 1 {
		return fmt.Errorf("callers, size and n must be positive")
	}
	describeRuntime()
	node, err := startNode("pool", c)
	if err != nil {
		return err
	}
	defer node.Stop()

	pool, err := node.Spawn(newBenchPool, gen.ProcessOptions{}, *size)
	if err != nil {
		return err
	}
	pids := make([]gen.PID, *callers)
	dones := make([]chan struct{}, *callers)
	for i := range pids {
		dones[i] = make(chan struct{})
		pids[i], err = node.Spawn(newCaller, gen.ProcessOptions{}, pool, *k, dones[i])
		if err != nil {
			return err
		}
	}
	info("pool: %d worker(s), %d caller(s), %d calls per caller", *size, *callers, *k)

	start := time.Now()
	for _, pid := range pids {
		if err := node.Send(pid, startCalling{}); err != nil {
			return err
		}
	}
	if err := waitAll(dones, c.timeout); err != nil {
		return err
	}
	elapsed := time.Since(start)

	total := float64(*callers) * float64(*k)
	result("pool", total/elapsed.Seconds(), "calls/s")
	return nil
}
