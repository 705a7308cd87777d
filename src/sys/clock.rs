//! Monotonic time as nanoseconds, for the workers' timers.
//!
//! Two readings of the same clock: `now_ns` (`CLOCK_MONOTONIC`, what `Instant` reads) and
//! `coarse_ns` (`CLOCK_MONOTONIC_COARSE`: the value at the last timekeeping update, a few
//! nanoseconds to read instead of tens). The coarse reading is never ahead of the precise one
//! and usually lags it by less than a tick (its resolution), but a tickless kernel can let it lag
//! by more (4.6 ms against a 4 ms tick, measured here). So it only ever serves to rule out
//! "is a timer due?" cheaply with a margin (`coarse_margin_ns`); deadlines and the decision that
//! a timer is due use the precise clock, so a timer never fires early.

use std::sync::OnceLock;

fn read(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec on our stack; clock_gettime writes only it.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64))
}

/// The precise monotonic clock, in nanoseconds.
pub(crate) fn now_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; 0 would only make timers fire early-as-possible.
    read(libc::CLOCK_MONOTONIC).unwrap_or(0)
}

/// How far the coarse clock may lag the precise one: its resolution, or `None` when the kernel
/// has no coarse clock (then `coarse_ns` reads the precise one).
fn coarse_resolution() -> Option<u64> {
    static RES: OnceLock<Option<u64>> = OnceLock::new();
    *RES.get_or_init(|| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: as in `read`.
        let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
        let res = (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64);
        // A resolution above 100 ms would make coarse checks useless; treat it as absent.
        (rc == 0 && res > 0 && res <= 100_000_000 && read(libc::CLOCK_MONOTONIC_COARSE).is_some()).then_some(res)
    })
}

/// A reading that is at most `now_ns()` and more than `now_ns() - coarse_resolution_ns()`.
pub(crate) fn coarse_ns() -> u64 {
    match coarse_resolution() {
        Some(_) => read(libc::CLOCK_MONOTONIC_COARSE).unwrap_or_else(now_ns),
        None => now_ns(),
    }
}

/// How far past a coarse reading the precise clock is assumed to be at most: two ticks. If the
/// coarse clock lags more, a due timer is noticed late (by the excess), never early.
pub(crate) fn coarse_margin_ns() -> u64 {
    coarse_resolution().map_or(0, |r| 2 * r)
}

/// `now + d` in nanoseconds, saturating (a huge duration is "never").
pub(crate) fn deadline_ns(d: std::time::Duration) -> u64 {
    now_ns().saturating_add(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_never_runs_ahead_of_precise() {
        for _ in 0..10_000 {
            let coarse = coarse_ns();
            let after = now_ns();
            assert!(coarse <= after, "coarse {coarse} ahead of precise {after}");
        }
    }

    #[test]
    fn deadlines_are_from_the_precise_clock_and_saturate() {
        let before = now_ns();
        assert!(deadline_ns(std::time::Duration::from_millis(3)) >= before + 3_000_000);
        assert_eq!(deadline_ns(std::time::Duration::MAX), u64::MAX);
    }
}
