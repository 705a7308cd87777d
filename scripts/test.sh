#!/usr/bin/env bash
# The whole test suite: unit, integration and doc tests, then the loom model checks of the
# concurrent code (mailbox MPSC queue, sleep/wake protocol, worker park handshake, process
# table slot reuse). The `ci` profile (Cargo.toml) is `release` without LTO, for build time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --profile ci
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}" \
    cargo test --profile ci --lib --target-dir target/loom loom
