package main

// memusage: the cost of an idle actor.
//
// Spawns n actors (default 1,000,000) that do nothing (plain act.Actor) from
// the main goroutine, one node.Spawn after another, and reports
//   - spawn/s:    n / wall time of the spawn loop;
//   - bytes/proc: growth of the process's resident set (VmRSS) across the
//     spawn loop divided by n, each reading taken after a forced GC that
//     also returns freed memory to the OS.
// ergo-services/benchmarks' memusage spawns the same 1M idle actors but
// reports the Go heap (runtime.MemStats.Alloc) divided by the process
// count; that figure is printed on stderr as well, for reference.

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

type idle struct {
	act.Actor
}

func newIdle() gen.ProcessBehavior { return &idle{} }

type memSample struct {
	rss  uint64
	heap uint64
}

func settleAndSample() (memSample, error) {
	var s memSample
	for i := 0; i < 2; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		time.Sleep(100 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.heap = ms.HeapAlloc
	rss, err := rssBytes()
	if err != nil {
		return s, err
	}
	s.rss = rss
	return s, nil
}

func runMemusage(args []string) error {
	fs, c := newFlags("memusage")
	n := fs.Int("n", 1_000_000, "idle processes to spawn")
	fs.Parse(args)
	if *n < 1 {
		return fmt.Errorf("n must be positive")
	}
	describeRuntime()
	node, err := startNode("memusage", c)
	if err != nil {
		return err
	}
	// No node.Stop(): tearing down a million processes is not part of the
	// measurement; the process simply exits.

	before, err := settleAndSample()
	if err != nil {
		return err
	}
	info("memusage: before: RSS %.1f MiB, heap %.1f MiB", mib(before.rss), mib(before.heap))

	deadline := time.Now().Add(c.timeout)
	start := time.Now()
	for i := 0; i < *n; i++ {
		if _, err := node.Spawn(newIdle, gen.ProcessOptions{}); err != nil {
			return fmt.Errorf("spawn %d: %w", i, err)
		}
		if i&0xffff == 0 && time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s (%d spawned)", c.timeout, i)
		}
	}
	elapsed := time.Since(start)

	after, err := settleAndSample()
	if err != nil {
		return err
	}
	ni, err := node.Info()
	if err != nil {
		return err
	}
	info("memusage: spawned %d processes in %s; node reports %d processes", *n, elapsed, ni.ProcessesTotal)
	info("memusage: after: RSS %.1f MiB, heap %.1f MiB", mib(after.rss), mib(after.heap))
	heapPer := (float64(after.heap) - float64(before.heap)) / float64(*n)
	info("memusage: Go heap growth per process %.0f bytes (the benchmarks repo's metric is heap/processes)", heapPer)

	rssPer := (float64(after.rss) - float64(before.rss)) / float64(*n)
	result("memusage", rssPer, "bytes/proc")
	result("memusage", float64(*n)/elapsed.Seconds(), "spawn/s")
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
