package main

// tree: how well one parent's children are spread over the CPUs.
//
// One root actor, when told to start, spawns `children` child actors with
// default options and sends each one message; a child, on that message,
// keeps its CPU busy for `work` of wall-clock time (a clock, not a fixed
// computation, so that the Rust side does exactly the same work whatever
// either compiler makes of a loop) and counts itself done. The clock runs
// from the start signal until every child has done its work; the ideal is
// work * children / GOMAXPROCS (all CPUs busy, no overhead). Two RESULT lines:
// the elapsed time in ms, and elapsed / ideal * 100 (unit ideal_pct; 100 is
// perfect, lower is better).

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"ergo.services/ergo/act"
	"ergo.services/ergo/gen"
)

type startTree struct{}
type doWork struct{}

// treeCount is shared by every child: the one that brings it to zero closes done.
type treeCount struct {
	left atomic.Int64
	done chan struct{}
}

func (t *treeCount) tick() {
	if t.left.Add(-1) == 0 {
		close(t.done)
	}
}

// busy keeps the CPU busy for d of wall-clock time.
func busy(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

type treeLeaf struct {
	act.Actor
	work  time.Duration
	count *treeCount
}

func newTreeLeaf() gen.ProcessBehavior { return &treeLeaf{} }

func (l *treeLeaf) Init(args ...any) error {
	l.work = args[0].(time.Duration)
	l.count = args[1].(*treeCount)
	return nil
}

func (l *treeLeaf) HandleMessage(from gen.PID, message any) error {
	if _, ok := message.(doWork); ok {
		busy(l.work)
		l.count.tick()
	}
	return nil
}

type treeRoot struct {
	act.Actor
	children int
	work     time.Duration
	count    *treeCount
}

func newTreeRoot() gen.ProcessBehavior { return &treeRoot{} }

func (r *treeRoot) Init(args ...any) error {
	r.children = args[0].(int)
	r.work = args[1].(time.Duration)
	r.count = args[2].(*treeCount)
	return nil
}

func (r *treeRoot) HandleMessage(from gen.PID, message any) error {
	if _, ok := message.(startTree); !ok {
		return nil
	}
	for i := 0; i < r.children; i++ {
		pid, err := r.Spawn(newTreeLeaf, gen.ProcessOptions{}, r.work, r.count)
		if err != nil {
			r.Log().Error("spawn %d failed: %s", i, err)
			return err
		}
		if err := r.Send(pid, doWork{}); err != nil {
			r.Log().Error("send to child %d failed: %s", i, err)
			return err
		}
	}
	return nil
}

func runTree(args []string) error {
	fs, c := newFlags("tree")
	children := fs.Int("children", 10_000, "children the root spawns")
	workUs := fs.Int("work-us", 20, "microseconds of busy work each child does")
	fs.Parse(args)
	if *children < 1 || *workUs < 1 {
		return fmt.Errorf("children and work-us must be positive")
	}
	return tree(*children, time.Duration(*workUs)*time.Microsecond, c)
}

func tree(children int, work time.Duration, c *common) error {
	describeRuntime()
	node, err := startNode("tree", c)
	if err != nil {
		return err
	}
	defer node.Stop()

	count := &treeCount{done: make(chan struct{})}
	count.left.Store(int64(children))
	root, err := node.Spawn(newTreeRoot, gen.ProcessOptions{}, children, work, count)
	if err != nil {
		return err
	}
	workers := runtime.GOMAXPROCS(0)
	ideal := work.Seconds() * float64(children) / float64(workers)
	info("tree: %d children x %s on %d CPUs: ideal %.1f ms", children, work, workers, ideal*1e3)

	start := time.Now()
	if err := node.Send(root, startTree{}); err != nil {
		return err
	}
	if err := waitOne(count.done, c.timeout, "the children"); err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()

	result("tree", elapsed*1e3, "ms")
	result("tree", elapsed/ideal*100, "ideal_pct")
	return nil
}
