#!/usr/bin/env bash
# Side-by-side benchmarks: ergors (Rust) vs Ergo (Go).
#
# Usage: scripts/bench-vs-go.sh [benchmark ...]
#
#   With no arguments every benchmark runs:
#       ping11 ping11x pingNN call callx callNN fanin tree memusage pubsub
#       restart pool overload overload_unthrottled tcpecho100 tcpecho1000 http
#       netping netcall netcallmany
#   (linelat, Rust only, first: the round trip of one cache line between CPUs 0
#   and 1, the physical floor under the cross-worker rows, which move with
#   where the host places the two vCPUs.)
#   (ping11x/callx: the receiver on another worker on the Rust side; Go has no
#   placement and runs ping11/call under those names. tree prints two lines,
#   ms and ideal_pct, both lower-is-better. overload prints msg/s and
#   overload_peak_rss in MiB, lower-is-better, shown as the overload row in
#   MiB; overload_unthrottled is the Rust run with backpressure off, and Go,
#   which has none, runs overload under that name. restart counts
#   crash-and-restart cycles/s of one child under a one-for-one supervisor,
#   pool calls/s from nproc callers through one pool of nproc workers (Step 4).
#   tcpecho100/tcpecho1000 (Step 5) run each side's TCP server meta under the
#   same load generator, the Rust example loadgen (ping-pong, 64-byte frames):
#   msg/s, p99_us and B/conn (the server's RSS growth per connection), the
#   last two lower-is-better; http the same for each side's Web meta answering
#   GET / with "hello" from a pool of web workers (loadgen --proto http, 100
#   keep-alive connections). The Go side finds loadgen through $LOADGEN,
#   which this script sets. netping/netcall (Step 6) run ping11 and call
#   between two networked nodes of one OS process over loopback TCP;
#   netcallmany 100 callers on one node calling nproc servers on the other.
#   examples/bench.rs and benches/go/README.md describe each one.)
#   Both sides print lines of the form
#       RESULT name=<benchmark> value=<number> unit=<unit>
#   - Rust: the example `bench` (cargo build --release --examples),
#           run as `target/release/examples/bench <benchmark>`;
#   - Go:   the program in benches/go, built to target/go-bench/ergo-bench,
#           run as `target/go-bench/ergo-bench <benchmark>`.
#   Each benchmark runs RUNS times per side, alternating the two sides (and
#   which one goes first), and the script prints a markdown table of the
#   medians. A side that lacks a benchmark (no RESULT line on its first run)
#   shows "n/a".
#
# Environment:
#   RUNS=5            runs per benchmark and side
#   BENCH_TIMEOUT=180 seconds before a single run is killed
#   PAUSE=1           seconds to sleep between runs
#   NO_BUILD=1        skip both builds and use the binaries already there
#   RUST_BENCH=path   Rust benchmark binary (default target/release/examples/bench)
#   GO_BENCH=path     Go benchmark binary   (default target/go-bench/ergo-bench)
#   CARGO_TARGET_DIR  honoured for the Rust build
#   GOWORK, GOFLAGS, GOPROXY, GOTOOLCHAIN, ... are left exactly as the caller
#   set them and so apply to the Go build.
#
# About the Go build: benches/go/go.mod requires ergo.services/ergo like any
# Go program does, so building it needs that module and its checksum in
# benches/go/go.sum. With access to the Go module proxy, run once
#     (cd benches/go && go mod tidy)
# (this script does it for you when go.sum has no entry for Ergo and no Go
# workspace is in effect). Without network access, point a go.work file of
# your own, kept outside this repository, at a local copy of Ergo's source
# (`use` this benches/go directory and `replace ergo.services/ergo => <copy>`)
# and export GOWORK=<that go.work> GOPROXY=off before running this script.
#
# Results and each run's stderr are kept under target/bench-vs-go/<timestamp>/.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALL_BENCHES=(linelat ping11 ping11x pingNN call callx callNN fanin tree memusage pubsub restart pool overload overload_unthrottled tcpecho100 tcpecho1000 http netping netcall netcallmany)
RUNS="${RUNS:-5}"
export RUNS
BENCH_TIMEOUT="${BENCH_TIMEOUT:-180}"
PAUSE="${PAUSE:-1}"
CARGO_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RUST_BENCH="${RUST_BENCH:-$CARGO_TARGET/release/examples/bench}"
GO_BENCH="${GO_BENCH:-$ROOT/target/go-bench/ergo-bench}"
export LOADGEN="${LOADGEN:-$CARGO_TARGET/release/examples/loadgen}"

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer (got '$RUNS')"
[[ "$BENCH_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIMEOUT must be a positive integer of seconds"
command -v python3 >/dev/null || die "python3 is needed to compute the medians"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"

if [[ $# -gt 0 ]]; then
    BENCHES=("$@")
else
    BENCHES=("${ALL_BENCHES[@]}")
fi
for b in "${BENCHES[@]}"; do
    [[ "$b" =~ ^[A-Za-z0-9_]+$ ]] || die "bad benchmark name '$b'"
    known=0
    for k in "${ALL_BENCHES[@]}"; do [[ "$b" == "$k" ]] && known=1; done
    [[ $known -eq 1 ]] || log "warning: '$b' is not one of: ${ALL_BENCHES[*]} (running it anyway)"
done

# ---------------------------------------------------------------- builds
if [[ "${NO_BUILD:-0}" != 1 ]]; then
    log "==> building the Rust side: cargo build --release --examples"
    cargo build --release --examples

    log "==> building the Go side: go build -o $GO_BENCH ./benches/go"
    command -v go >/dev/null || die "no 'go' on PATH"
    mkdir -p "$(dirname "$GO_BENCH")"
    (
        cd benches/go
        gowork="$(go env GOWORK)"
        if [[ -z "$gowork" || "$gowork" == off ]] &&
            ! grep -qs '^ergo.services/ergo ' go.sum; then
            log "    go.sum has no checksum for ergo.services/ergo: running 'go mod tidy' (needs the module proxy)"
            go mod tidy
        fi
        go build -o "$GO_BENCH" .
    )
fi

if [[ ! -x "$RUST_BENCH" ]]; then
    log "warning: no Rust benchmark binary at $RUST_BENCH; the ergors column will be n/a"
fi
[[ -x "$GO_BENCH" ]] || log "warning: no Go benchmark binary at $GO_BENCH; the Go column will be n/a"

# ---------------------------------------------------------------- runs
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$ROOT/target/bench-vs-go/$STAMP"
mkdir -p "$OUT"
DATA="$OUT/results.tsv"   # side <TAB> bench <TAB> unit <TAB> value
NOTES="$OUT/notes.tsv"    # side <TAB> bench <TAB> note
: >"$DATA"
: >"$NOTES"

declare -A SKIP=()

# run_one SIDE BENCH RUN: run one side once, append its RESULT lines to $DATA
run_one() {
    local side="$1" bench="$2" run="$3" bin rc=0
    if [[ "$side" == ergors ]]; then bin="$RUST_BENCH"; else bin="$GO_BENCH"; fi
    [[ -n "${SKIP[$side/$bench]:-}" ]] && return 0
    if [[ ! -x "$bin" ]]; then
        SKIP[$side/$bench]=1
        printf '%s\t%s\t%s\n' "$side" "$bench" "binary missing" >>"$NOTES"
        return 0
    fi
    local stdout="$OUT/$side.$bench.$run.out" stderr="$OUT/$side.$bench.$run.err"
    log "    [$run/$RUNS] $side $bench"
    timeout --kill-after=10 "$BENCH_TIMEOUT" "$bin" "$bench" >"$stdout" 2>"$stderr" </dev/null || rc=$?
    sleep "$PAUSE"
    local found
    found="$(awk -v side="$side" -v bench="$bench" '
        $1 == "RESULT" {
            name = ""; value = ""; unit = ""
            for (i = 2; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == "name") name = kv[2]
                else if (kv[1] == "value") value = kv[2]
                else if (kv[1] == "unit") unit = kv[2]
            }
            # <bench>_peak_rss (overload): kept under <bench>, its unit (MiB) tells it apart
            if ((name == bench || name == bench "_peak_rss") && value != "" && unit != "") {
                printf "%s\t%s\t%s\t%s\n", side, bench, unit, value
            }
        }' "$stdout")"
    local timed_out=0
    [[ $rc -eq 124 || $rc -eq 137 ]] && timed_out=1
    if [[ $run -eq 1 && -z "$found" && $timed_out -eq 0 ]]; then
        # nothing on the first run (e.g. an unknown subcommand): this side
        # does not have the benchmark; don't run it again
        SKIP[$side/$bench]=1
        printf '%s\t%s\t%s\n' "$side" "$bench" \
            "no RESULT line (exit status $rc); treated as not implemented (see $stderr)" >>"$NOTES"
        log "      $side $bench: no RESULT line (exit status $rc); skipping it"
        return 0
    fi
    if [[ $rc -ne 0 ]]; then
        local why="exit status $rc"
        [[ $timed_out -eq 1 ]] && why="timed out after ${BENCH_TIMEOUT}s"
        printf '%s\t%s\t%s\n' "$side" "$bench" "run $run: $why (see $stderr)" >>"$NOTES"
        log "      $side $bench run $run: $why"
        return 0   # a failed run's partial numbers are not used
    fi
    if [[ -n "$found" ]]; then
        printf '%s\n' "$found" >>"$DATA"
    else
        printf '%s\t%s\t%s\n' "$side" "$bench" "run $run: no RESULT line (see $stdout)" >>"$NOTES"
    fi
}

for bench in "${BENCHES[@]}"; do
    log "==> $bench"
    for ((run = 1; run <= RUNS; run++)); do
        if ((run % 2 == 1)); then order=(ergors go); else order=(go ergors); fi
        for side in "${order[@]}"; do
            run_one "$side" "$bench" "$run"
        done
    done
done

# ---------------------------------------------------------------- report
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
rustc_version="$(rustc --version 2>/dev/null || echo unknown)"
go_version="$(go version 2>/dev/null || echo unknown)"
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
ergo_module="$(awk '$1 == "require" && $2 == "ergo.services/ergo" { print $2 " " $3 }' benches/go/go.mod)"
go_workspace="$(cd benches/go && go env GOWORK 2>/dev/null || true)"
if [[ -n "$go_workspace" && "$go_workspace" != off ]]; then
    ergo_module="$ergo_module (built through a go.work workspace)"
fi

export BENCH_LIST="${BENCHES[*]}"
{
    echo "## ergors vs Go Ergo"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- nproc: $(nproc)"
    echo "- cpu: ${cpu_model:-unknown}"
    echo "- kernel: $(uname -sr)"
    echo "- rustc: $rustc_version"
    echo "- go: $go_version"
    echo "- ergors commit: $commit"
    echo "- Go Ergo: ${ergo_module:-unknown}"
    echo "- runs per side: $RUNS (median shown)"
    echo
    python3 - "$DATA" "$NOTES" <<'PY'
import os, statistics, sys

data_path, notes_path = sys.argv[1], sys.argv[2]
benches = os.environ["BENCH_LIST"].split()
LOWER_IS_BETTER = ("bytes/proc", "ms", "ideal_pct", "MiB", "p99_us", "B/conn")

values = {}   # (bench, unit) -> side -> [values]
units = {}    # bench -> units in order of first appearance
with open(data_path) as f:
    for line in f:
        side, bench, unit, value = line.rstrip("\n").split("\t")
        try:
            v = float(value)
        except ValueError:
            continue
        values.setdefault((bench, unit), {}).setdefault(side, []).append(v)
        units.setdefault(bench, [])
        if unit not in units[bench]:
            units[bench].append(unit)

def fmt(x):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}"

print("| benchmark | unit | ergors median | Go Ergo median | ratio |")
print("|---|---|---:|---:|---:|")
for bench in benches:
    for unit in units.get(bench) or ["?"]:
        sides = values.get((bench, unit), {})
        rust = statistics.median(sides["ergors"]) if sides.get("ergors") else None
        go = statistics.median(sides["go"]) if sides.get("go") else None
        ratio = "n/a"
        if rust is not None and go is not None:
            if unit in LOWER_IS_BETTER:
                ratio = f"{go / rust:.2f}" if rust else "n/a"
            else:
                ratio = f"{rust / go:.2f}" if go else "n/a"
        def n(side):
            k = len(sides.get(side, []))
            return f" ({k} runs)" if 0 < k < int(os.environ.get("RUNS", "0")) else ""
        print(f"| {bench} | {unit} | {fmt(rust)}{n('ergors')} | {fmt(go)}{n('go')} | {ratio} |")

print()
print("ratio = ergors / Go (higher is better for ergors); for the lower-is-better units (bytes/proc, ms, ideal_pct, MiB, p99_us, B/conn) it is Go / ergors, so > 1 still means ergors is better.")

notes = []
with open(notes_path) as f:
    for line in f:
        side, bench, note = line.rstrip("\n").split("\t", 2)
        notes.append(f"- {side} {bench}: {note}")
if notes:
    print()
    print("Notes:")
    print("\n".join(notes))
PY
} | tee "$OUT/results.md"
log "(raw output kept in $OUT)"
