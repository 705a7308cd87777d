#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for N seconds each (default 30), one after the other, on
# stable Rust without a sanitizer (`cargo fuzz run -s none`). Needs cargo-fuzz
# (`cargo install cargo-fuzz`). Not part of CI: too slow. A crash leaves its input in
# fuzz/artifacts/<target>/ and stops the script; replay it with
# `cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>` (from fuzz/).
#
#   scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"

seconds="${1:-30}"
shift || true
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz.sh: cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for target in "${targets[@]}"; do
    echo "== $target: ${seconds}s"
    if ! cargo fuzz run -s none "$target" -- -max_total_time="$seconds" -rss_limit_mb=1024 >"$log" 2>&1; then
        grep -v '^#' "$log" | tail -40 >&2
        echo "fuzz.sh: $target failed; its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^Done' "$log" || true
done
