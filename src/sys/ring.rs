//! A worker's io_uring: set-up with the best flags the kernel takes, the wake-up eventfd whose
//! read is kept armed in the ring, and parking in `io_uring_enter` with a timeout.
//!
//! Runs on its worker thread only (the ring is created there, as `SINGLE_ISSUER` and
//! `DEFER_TASKRUN` require). Other threads touch only the [`Waker`] (an eventfd write).

use crate::error::StartError;
use io_uring::{IoUring, opcode, types};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

/// The armed eventfd read's user data; op user data never has the top bit set (`io::driver`).
pub(crate) const WAKE_TOKEN: u64 = u64::MAX;
/// Requests whose completion nobody waits for (cancellations): ignored when reaped.
pub(crate) const IGNORED_TOKEN: u64 = u64::MAX - 1;
/// Completions a coalescing park waits for before its minimum wait is over.
const COALESCE_BATCH: usize = 32;

/// Which optional set-up flags the ring got (for logs and node info).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RingFeatures {
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
    /// The kernel flags pending completions in the SQ ring (`IORING_SQ_TASKRUN`): the worker
    /// enters the kernel to reap only when it is set.
    pub(crate) taskrun_flag: bool,
}

/// The cross-thread half: writing to the eventfd completes the armed read and wakes the worker.
pub(crate) struct Waker {
    fd: OwnedFd,
    /// Target of the armed eventfd read. It lives in the `Arc<Waker>`, which other threads keep
    /// (through the worker's shared half) for as long as the node lives: the kernel may complete
    /// or cancel the read after the ring fd is closed (`io_ring_exit_work` runs later), so the
    /// buffer must outlive the ring, not just be dropped after it.
    buf: std::cell::UnsafeCell<u64>,
}

// SAFETY: `buf` is written only by the kernel (the armed read) and never read by us; the fd is
// thread-safe. No Rust reference to `buf`'s content is ever created.
unsafe impl Sync for Waker {}

impl Waker {
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own. A failure can only be
        // EAGAIN on a saturated counter, in which case the worker is already due to wake.
        unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// The worker-owned half.
pub(crate) struct Ring {
    pub(crate) ring: IoUring,
    waker: Arc<Waker>,
    armed: bool,
    pub(crate) features: RingFeatures,
}

impl Ring {
    /// Creates the ring (on the calling thread, which must be the worker) and its eventfd.
    pub(crate) fn new(entries: u32) -> Result<Ring, StartError> {
        let (ring, features) = build(entries)?;
        if !ring.params().is_feature_ext_arg() {
            return Err(StartError::IoUringUnavailable {
                cause: "the kernel lacks IORING_FEAT_EXT_ARG (io_uring_enter with a timeout), added in Linux 5.11"
                    .into(),
                fix: "run on Linux 5.11 or newer".into(),
            });
        }
        // SAFETY: eventfd(2) with valid flags; the result is checked below.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(StartError::Io(io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let waker = Arc::new(Waker { fd, buf: std::cell::UnsafeCell::new(0) });
        let mut r = Ring { ring, waker, armed: false, features };
        r.arm();
        Ok(r)
    }

    pub(crate) fn waker(&self) -> Arc<Waker> {
        self.waker.clone()
    }

    fn arm(&mut self) {
        if self.armed {
            return;
        }
        let entry = opcode::Read::new(types::Fd(self.waker.fd.as_raw_fd()), self.waker.buf.get().cast(), 8)
            .build()
            .user_data(WAKE_TOKEN);
        // SAFETY: the buffer and the fd live in the Arc<Waker>, which the node's worker table
        // keeps alive beyond this ring (see `Waker::buf`).
        let pushed = unsafe { self.ring.submission().push(&entry) }.is_ok();
        // The SQ holds only this entry at a time, so it cannot be full; if it were, the next
        // park would retry.
        self.armed = pushed;
    }

    /// Blocks in `io_uring_enter` until the eventfd is written, any other request completes, or
    /// `timeout` passes; then hands every completion but the eventfd's to `each`.
    ///
    /// With `coalesce_us` > 0 (only on kernels with `IORING_FEAT_MIN_TIMEOUT`), completions
    /// gather for up to that long (or until `COALESCE_BATCH` of them) before the first wakes it.
    pub(crate) fn park(&mut self, timeout: Option<Duration>, coalesce_us: u32, each: impl FnMut(u64, i32, u32)) {
        self.arm();
        let want = if coalesce_us > 0 { COALESCE_BATCH } else { 1 };
        let res = match timeout {
            Some(t) => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts).min_wait_usec(coalesce_us);
                self.ring.submitter().submit_with_args(want, &args)
            }
            None if coalesce_us > 0 => {
                // Without a general timeout the kernel would take the minimum wait for one and
                // return empty-handed every `coalesce_us` while idle: an hour instead (the
                // caller loops anyway).
                let ts = types::Timespec::new().sec(3600);
                let args = types::SubmitArgs::new().timespec(&ts).min_wait_usec(coalesce_us);
                self.ring.submitter().submit_with_args(want, &args)
            }
            None => self.ring.submitter().submit_and_wait(1),
        };
        if let Err(e) = res {
            // ETIME: the timeout passed; EINTR: a signal; EBUSY: CQ overflow, reaped below.
            if !matches!(e.raw_os_error(), Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)) {
                tracing::warn!(error = %e, "io_uring_enter failed while parking");
            }
        }
        self.reap(each);
    }

    /// Hands every completion waiting in the CQ to `each` (user data, result, flags), except
    /// the eventfd read's, which is re-armed.
    pub(crate) fn reap(&mut self, mut each: impl FnMut(u64, i32, u32)) {
        loop {
            let mut cq = self.ring.completion();
            if cq.is_empty() {
                break;
            }
            for cqe in &mut cq {
                match cqe.user_data() {
                    WAKE_TOKEN => self.armed = false,
                    IGNORED_TOKEN => {}
                    ud => each(ud, cqe.result(), cqe.flags()),
                }
            }
        }
        self.arm();
    }
}

fn build(entries: u32) -> Result<(IoUring, RingFeatures), StartError> {
    // Best first; older kernels reject newer flags with EINVAL, so fall back step by step.
    let attempts = [
        RingFeatures { single_issuer: true, defer_taskrun: true, coop_taskrun: false, taskrun_flag: true },
        RingFeatures { single_issuer: true, defer_taskrun: false, coop_taskrun: true, taskrun_flag: true },
        RingFeatures { single_issuer: false, defer_taskrun: false, coop_taskrun: true, taskrun_flag: true },
        RingFeatures::default(),
    ];
    let mut last = None;
    for f in attempts {
        let mut b = IoUring::builder();
        if f.single_issuer {
            b.setup_single_issuer();
        }
        if f.defer_taskrun {
            b.setup_defer_taskrun();
        }
        if f.coop_taskrun {
            b.setup_coop_taskrun();
        }
        if f.taskrun_flag {
            b.setup_taskrun_flag();
        }
        match b.build(entries) {
            Ok(r) => return Ok((r, f)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(unavailable(e)),
        }
    }
    Err(unavailable(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))))
}

/// Turns an `io_uring_setup` failure into an error that names the cause and the fix.
pub(crate) fn unavailable(e: io::Error) -> StartError {
    let disabled =
        std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok().and_then(|s| s.trim().parse::<u8>().ok());
    let (cause, fix) = match e.raw_os_error() {
        Some(libc::ENOSYS) => (
            "io_uring_setup returned ENOSYS: the kernel has no io_uring (older than 5.1 or built without CONFIG_IO_URING)".to_string(),
            "run on Linux 5.11 or newer with io_uring enabled".to_string(),
        ),
        Some(libc::EPERM) if disabled == Some(2) => (
            "io_uring_setup returned EPERM: io_uring is disabled system-wide (kernel.io_uring_disabled = 2)".to_string(),
            "set `sysctl kernel.io_uring_disabled=0`".to_string(),
        ),
        Some(libc::EPERM) if disabled == Some(1) => (
            "io_uring_setup returned EPERM: io_uring is restricted to the io_uring_group (kernel.io_uring_disabled = 1)".to_string(),
            "add this user to the group in kernel.io_uring_group, or set `sysctl kernel.io_uring_disabled=0`".to_string(),
        ),
        Some(libc::EPERM) => (
            "io_uring_setup returned EPERM: a seccomp filter (e.g. a container runtime's default profile) forbids io_uring".to_string(),
            "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp profile (docker/podman: --security-opt seccomp=<profile allowing io_uring>)".to_string(),
        ),
        Some(libc::ENOMEM) => (
            "io_uring_setup returned ENOMEM: the locked-memory limit (RLIMIT_MEMLOCK) is too small for the ring".to_string(),
            "raise `ulimit -l`, or lower ERGORS_RING_ENTRIES".to_string(),
        ),
        _ => (format!("io_uring_setup failed: {e}"), "check the kernel's io_uring support and limits".to_string()),
    };
    StartError::IoUringUnavailable { cause, fix }
}
