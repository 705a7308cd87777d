// Command ergo-bench runs the Go Ergo half of the ergors side-by-side
// benchmarks. Each subcommand builds a fresh local node (networking
// disabled), runs one scenario and prints exactly one machine-readable line
// per metric on stdout:
//
//	RESULT name=<bench> value=<number> unit=<unit>
//
// Everything else (progress, details) goes to stderr. The Rust example
// `bench` prints the same lines for the same subcommands, so the driver
// script (scripts/bench-vs-go.sh) can put the two side by side.
//
// Usage:
//
//	ergo-bench <subcommand> [flags]
//
// Subcommands: ping11, ping11x, pingNN, call, callx, callNN, fanin, tree,
// memusage, pubsub, restart, pool, overload, overload_unthrottled, tcpecho100,
// tcpecho1000, http.
// Run `ergo-bench <subcommand> -h` for the flags and their defaults.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"ergo.services/ergo"
	"ergo.services/ergo/gen"
)

type subcommand struct {
	about string
	run   func(args []string) error
}

var subcommands = map[string]subcommand{
	"ping11":   {"1 sender -> 1 receiver, one-way sends, msg/s measured at the receiver", runPing11},
	"ping11x":  {"ping11 under the name of the Rust cross-worker variant (Go has no placement)", runPing11x},
	"pingNN":   {"N independent sender->receiver pairs in parallel (N = CPUs), total msg/s", runPingNN},
	"call":     {"1 caller doing sequential synchronous Calls to 1 server, calls/s", runCall},
	"callx":    {"call under the name of the Rust cross-worker variant (Go has no placement)", runCallx},
	"callNN":   {"N caller->server pairs in parallel (N = CPUs), total calls/s", runCallNN},
	"fanin":    {"N senders (N = CPUs) all sending to 1 receiver, msg/s at the receiver", runFanin},
	"tree":     {"1 process spawns 10,000 children doing 20us of work each: ms, and % of ideal", runTree},
	"memusage": {"spawn 1M idle actors: RSS bytes per process and spawns/s", runMemusage},
	"pubsub":   {"1 producer publishes events to S local event subscribers, deliveries/s", runPubsub},

	// Step 4: supervision.
	"restart": {"crash-and-restart cycles/s of 1 child under a one-for-one supervisor", runRestart},
	"pool":    {"N callers (N = CPUs) make sequential Calls through 1 pool of N workers, calls/s", runPool},

	// Step 5: I/O (the load generator is the Rust example loadgen, path in $LOADGEN).
	"tcpecho100":  {"TCP server meta, ping-pong from 100 connections: msg/s, p99 us, bytes per connection", runTCPEcho100},
	"tcpecho1000": {"tcpecho100 with 1,000 connections", runTCPEcho1000},
	"http":        {"web meta + a pool of WebWorkers answering GET with hello, 100 keep-alive connections: req/s, p99 us", runHTTP},
	"netping":     {"ping11 with the receiver on another node (two networked nodes in one process, loopback TCP)", runNetPing},
	"netcall":     {"call with the server on another node (two networked nodes in one process, loopback TCP)", runNetCall},
	"netcallmany": {"100 callers on one node call N servers (N = CPUs) on another, over one connection, calls/s", runNetCallMany},
	"peer":        {"a Go node for the ergors interop tests (tests/net_interop_go.rs), not a benchmark", runPeer},

	// Producers faster than their consumers (the Rust side's backpressure test).
	"overload":             {"64 senders stream 100M ordered messages to 16 receivers: msg/s and peak RSS", runOverload},
	"overload_unthrottled": {"overload under the name of the Rust run without backpressure (Go has none)", runOverloadUnthrottled},
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s <subcommand> [flags]\n\nsubcommands:\n", os.Args[0])
	names := make([]string, 0, len(subcommands))
	for name := range subcommands {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(os.Stderr, "  %-20s %s\n", name, subcommands[name].about)
	}
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	cmd, ok := subcommands[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "unknown subcommand %q\n", name)
		usage()
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// common holds the flags shared by every subcommand.
type common struct {
	verbose bool
	timeout time.Duration
}

func newFlags(name string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	c := &common{}
	fs.BoolVar(&c.verbose, "v", false, "let the node log at info level (to stderr)")
	fs.DurationVar(&c.timeout, "timeout", 120*time.Second, "give up if the scenario has not finished after this long")
	return fs, c
}

// startNode starts a node with default options except: networking is off
// (every scenario is node-local, and nothing should listen on a port or look
// for a registrar), and the default logger writes to stderr at warning level
// so that stdout only carries RESULT lines.
func startNode(name string, c *common) (gen.Node, error) {
	var options gen.NodeOptions
	options.Network.Mode = gen.NetworkModeDisabled
	options.Log.DefaultLogger.Output = os.Stderr
	options.Log.Level = gen.LogLevelWarning
	if c.verbose {
		options.Log.Level = gen.LogLevelInfo
	}
	return ergo.StartNode(gen.Atom(name+"@localhost"), options)
}

func info(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", args...)
}

func result(name string, value float64, unit string) {
	fmt.Printf("RESULT name=%s value=%s unit=%s\n", name, strconv.FormatFloat(value, 'f', 2, 64), unit)
}

// waitAll waits until every channel in chans is closed, or the deadline passes.
func waitAll(chans []chan struct{}, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i, ch := range chans {
		select {
		case <-ch:
		case <-deadline.C:
			return fmt.Errorf("timed out after %s (%d of %d finished)", timeout, i, len(chans))
		}
	}
	return nil
}

// waitOne waits for a single channel to be closed, or the deadline to pass.
func waitOne(ch chan struct{}, timeout time.Duration, what string) error {
	select {
	case <-ch:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
	}
}

// rssBytes returns the resident set size of this process (VmRSS).
func rssBytes() (uint64, error) {
	return procStatusBytes("VmRSS")
}

// procStatusBytes returns a field of /proc/self/status given in kB (VmRSS,
// VmHWM, ...), in bytes.
func procStatusBytes(field string) (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, field+":") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			break
		}
		kb, err := strconv.ParseUint(fields[1], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%s not found in /proc/self/status", field)
}

func describeRuntime() {
	info("%s, GOMAXPROCS=%d, NumCPU=%d", runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU())
}
