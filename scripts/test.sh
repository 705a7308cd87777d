#!/usr/bin/env bash
# The whole test suite: unit, integration and doc tests, then the loom model checks of the
# concurrent code (mailbox MPSC queue, sleep/wake protocol, worker park handshake, process
# table slot reuse).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --release
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
    cargo test --release --lib --target-dir target/loom loom
