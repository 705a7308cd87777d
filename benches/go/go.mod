// Go side of the ergors vs Ergo side-by-side benchmarks.
// See README.md here and scripts/bench-vs-go.sh.
module ergo-bench

go 1.21

// github.com/ergo-services/ergo master at f5ff7ed
// (Ergo Framework 3.1.0: tag v1.999.310 plus 3 fixes).
require ergo.services/ergo v1.999.311-0.20251108131519-f5ff7ededc59
