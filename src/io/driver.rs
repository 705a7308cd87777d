//! A worker's I/O driver: its ring, the requests in flight on it, and their completions.
//!
//! A process's op future submits its request to the ring of the worker polling it and parks its
//! waker in the op's shared state ([`OpShared`]). Every loop turn the worker pushes what waits,
//! enters the kernel once when there is anything to submit or the kernel flags completions
//! (`IORING_SQ_TASKRUN`; with `DEFER_TASKRUN` completions exist only after an enter), reaps the
//! CQ and hands each completion to its op, waking its waker. Processes move between workers;
//! their ops stay with the ring that took them, so the op state is shared, and a cancellation
//! from another thread is queued to the owning worker (`WorkerShared::io_cancels`).
//!
//! A full SQ is never an error: requests wait in a backlog and go in next turn. CQ overflow is
//! never loss either: the kernel keeps overflowed completions (`IORING_FEAT_NODROP`) and flushes
//! them on the next enter with `GETEVENTS`, which the turn does while the SQ ring says overflow.
//!
//! Worker thread only.

use crate::io::op::{Kind, OpShared};
use crate::sys::bufring::{self, BufRing};
use crate::sys::ring::{IGNORED_TOKEN, Ring};
use io_uring::{cqueue, opcode, squeue};
use slab::Slab;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

/// What the kernel offers and what the node uses (node info shows it: `NodeInfo::io`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoFeatures {
    /// The ring runs completions only when the worker enters the kernel (`DEFER_TASKRUN`).
    pub defer_taskrun: bool,
    /// Multishot accept is used (kernel 5.19+), else one accept request per connection.
    pub multishot_accept: bool,
    /// Multishot receive into the provided-buffer ring is used (kernel 6.0+), else one receive
    /// request per read into the reader's own buffer.
    pub multishot_recv: bool,
    /// `IORING_OP_SEND_ZC` is available (kernel 6.0+); else zero-copy sends fall back to plain
    /// sends.
    pub send_zc: bool,
    /// Provided buffers per worker (0 without multishot receive) and their size in bytes.
    pub recv_buffers: u16,
    /// Size of each provided buffer.
    pub recv_buffer_size: usize,
    /// Microseconds completions gather before an idle worker wakes (`ERGORS_IO_COALESCE_US`;
    /// 0 when off or when the kernel lacks `IORING_FEAT_MIN_TIMEOUT`, Linux 6.12).
    pub coalesce_us: u32,
}

/// How the driver is set up (from `NodeOptions`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IoConfig {
    /// Use multishot accept/receive where the kernel has them (`ERGORS_IO_MULTISHOT`).
    pub(crate) multishot: bool,
    pub(crate) recv_buffers: u16,
    pub(crate) recv_buffer_size: usize,
    /// Completions gather this long before an idle worker with requests in flight wakes (0: off).
    pub(crate) coalesce: std::time::Duration,
}

struct Slot {
    ud: u64,
    op: Arc<OpShared>,
}

pub(crate) struct Driver {
    pub(crate) ring: Ring,
    ops: Slab<Slot>,
    /// Bumped per submission: with the slab key it makes user data that a stale cancellation
    /// cannot confuse with a later op in the same slot.
    seq: u32,
    backlog: VecDeque<squeue::Entry>,
    bufs: Option<BufRing>,
    pub(crate) features: IoFeatures,
    /// Multishot receives to stop after this reap (their reader is behind).
    to_cancel: Vec<u64>,
    wakers: Vec<Waker>,
    /// `features.coalesce_us`, at hand for `park`.
    coalesce_us: u32,
}

/// User data: the op's slab key in the low 32 bits, a sequence number in the next 31 (the top
/// bit is left to the ring's own tokens).
fn user_data(key: usize, seq: u32) -> u64 {
    ((seq as u64 & 0x7fff_ffff) << 32) | key as u64
}

impl Driver {
    pub(crate) fn new(ring: Ring, config: IoConfig) -> Result<Driver, crate::StartError> {
        let release = kernel_release();
        let mut probe = io_uring::Probe::new();
        let probed = ring.ring.submitter().register_probe(&mut probe).is_ok();
        let has = |code: u8| probed && probe.is_supported(code);
        let mut features = IoFeatures {
            defer_taskrun: ring.features.defer_taskrun,
            multishot_accept: config.multishot && release >= (5, 19) && has(opcode::Accept::CODE),
            multishot_recv: false,
            send_zc: has(opcode::SendZc::CODE),
            recv_buffers: 0,
            recv_buffer_size: 0,
            coalesce_us: if ring.ring.params().is_feature_min_timeout() {
                config.coalesce.as_micros().min(u32::MAX as u128) as u32
            } else {
                0
            },
        };
        let mut bufs = None;
        if config.multishot && release >= (6, 0) && config.recv_buffers > 0 {
            let ring_buf = BufRing::new(config.recv_buffers, config.recv_buffer_size).map_err(crate::StartError::Io)?;
            // SAFETY: the ring array lives in `ring_buf`, which the driver keeps until the ring
            // is gone (or leaks it: see `Drop`).
            let registered = unsafe {
                ring.ring.submitter().register_buf_ring_with_flags(
                    ring_buf.ring_addr(),
                    ring_buf.entries(),
                    bufring::GROUP,
                    0,
                )
            };
            match registered {
                Ok(()) => {
                    features.multishot_recv = true;
                    features.recv_buffers = ring_buf.entries();
                    features.recv_buffer_size = ring_buf.buf_size();
                    bufs = Some(ring_buf);
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => {
                    return Err(crate::StartError::IoBuffers {
                        cause: format!(
                            "registering {} receive buffers of {} bytes failed with ENOMEM: the locked-memory limit (RLIMIT_MEMLOCK, {}) is used up",
                            ring_buf.entries(),
                            ring_buf.buf_size(),
                            memlock_limit()
                        ),
                        fix: "raise `ulimit -l`, or lower ERGORS_IO_BUFFERS / ERGORS_RING_ENTRIES, or set ERGORS_IO_MULTISHOT=0".into(),
                    });
                }
                // An older kernel without provided-buffer rings: plain receives.
                Err(_) => {}
            }
        }
        Ok(Driver {
            ring,
            ops: Slab::new(),
            seq: 0,
            backlog: VecDeque::new(),
            bufs,
            coalesce_us: features.coalesce_us,
            features,
            to_cancel: Vec::new(),
            wakers: Vec::new(),
        })
    }

    /// Requests in flight (submitted or waiting in the backlog).
    pub(crate) fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// True when a turn has something to do: requests to push, or completions to reap.
    pub(crate) fn pending(&mut self) -> bool {
        if self.ops.is_empty() && self.backlog.is_empty() {
            return false;
        }
        !self.backlog.is_empty() || self.needs_enter() || !self.ring.ring.completion().is_empty()
    }

    fn needs_enter(&mut self) -> bool {
        let sq = self.ring.ring.submission();
        !sq.is_empty() || sq.taskrun() || sq.cq_overflow()
    }

    /// Takes `op` on: assigns its user data and queues `entry` (built to point at memory the op
    /// owns) for the next enter.
    pub(crate) fn submit(
        &mut self,
        entry: squeue::Entry,
        op: &Arc<OpShared>,
        owner: &Arc<crate::runtime::worker::WorkerShared>,
    ) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        let vacant = self.ops.vacant_entry();
        let ud = user_data(vacant.key(), self.seq);
        vacant.insert(Slot { ud, op: op.clone() });
        op.submitted(ud, owner);
        self.push(entry.user_data(ud));
        ud
    }

    /// Asks the kernel to cancel the request `ud` (its completion, `ECANCELED` or the
    /// result it had already reached, still comes to its op).
    pub(crate) fn cancel(&mut self, ud: u64) {
        if self.ops.get((ud & 0xffff_ffff) as usize).is_some_and(|s| s.ud == ud) {
            let entry = opcode::AsyncCancel::new(ud).build().user_data(IGNORED_TOKEN);
            self.push(entry);
        }
    }

    fn push(&mut self, entry: squeue::Entry) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(entry);
            return;
        }
        // SAFETY: every entry the driver pushes points at memory owned by its op's shared
        // state, which the slab keeps until the op's last completion.
        if unsafe { self.ring.ring.submission().push(&entry) }.is_err() {
            self.backlog.push_back(entry);
        }
    }

    /// One loop turn's I/O: cancellations from other threads, the backlog, one enter if needed,
    /// and every completion dispatched. Moves the wakers to wake into `woken` (woken by the
    /// caller once it has released the driver: a waker may poll or submit); both vectors keep
    /// their capacity from turn to turn.
    pub(crate) fn turn(&mut self, cancels: &crossbeam_queue::SegQueue<u64>, woken: &mut Vec<Waker>) {
        while let Some(ud) = cancels.pop() {
            self.cancel(ud);
        }
        self.flush_backlog();
        if self.needs_enter() {
            if let Err(e) = self.ring.ring.submit() {
                // EBUSY: the CQ overflowed and the kernel wants it drained first; EAGAIN /
                // EINTR: try again next turn. The SQ keeps what was not taken.
                if !matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::EAGAIN) | Some(libc::EINTR)) {
                    tracing::warn!(error = %e, "io_uring_enter failed");
                }
            }
            self.flush_backlog();
        }
        self.reap();
        woken.append(&mut self.wakers);
    }

    /// Parks in the ring (see `Ring::park`) and dispatches what completed meanwhile, moving the
    /// wakers to wake into `woken` (as `turn`).
    pub(crate) fn park(&mut self, timeout: Option<Duration>, woken: &mut Vec<Waker>) {
        self.flush_backlog();
        let Driver { ring, ops, bufs, to_cancel, wakers, coalesce_us, .. } = self;
        let coalesce = if ops.is_empty() { 0 } else { *coalesce_us };
        ring.park(timeout, coalesce, |ud, res, flags| dispatch(ops, bufs, to_cancel, wakers, ud, res, flags));
        self.after_reap();
        woken.append(&mut self.wakers);
    }

    fn flush_backlog(&mut self) {
        let mut entered = false;
        while let Some(entry) = self.backlog.front() {
            // SAFETY: as in `push`.
            if unsafe { self.ring.ring.submission().push(entry) }.is_ok() {
                self.backlog.pop_front();
                continue;
            }
            // The SQ is full: hand it to the kernel once to make room, else wait for next turn.
            if entered || self.ring.ring.submit().is_err() {
                return;
            }
            entered = true;
        }
    }

    fn reap(&mut self) {
        let Driver { ring, ops, bufs, to_cancel, wakers, .. } = self;
        ring.reap(|ud, res, flags| dispatch(ops, bufs, to_cancel, wakers, ud, res, flags));
        self.after_reap();
    }

    fn after_reap(&mut self) {
        for ud in std::mem::take(&mut self.to_cancel) {
            self.cancel(ud);
        }
    }
}

/// Hands one completion to its op; frees the op's slot after its last one.
fn dispatch(
    ops: &mut Slab<Slot>,
    bufs: &mut Option<BufRing>,
    to_cancel: &mut Vec<u64>,
    wakers: &mut Vec<Waker>,
    ud: u64,
    res: i32,
    flags: u32,
) {
    let key = (ud & 0xffff_ffff) as usize;
    let Some(slot) = ops.get(key).filter(|s| s.ud == ud) else { return };
    let more = cqueue::more(flags);
    let mut state = slot.op.lock();
    match state.kind {
        Kind::RecvMulti => {
            if let Some(id) = cqueue::buffer_select(flags) {
                if let Some(b) = bufs.as_mut() {
                    b.take(id, res.max(0) as usize, &mut state.data);
                }
                if more && state.data.len() >= state.data_cap && !state.cancel_sent {
                    // The reader is behind: stop receiving (the socket's window fills and the
                    // peer slows down); the next read re-arms.
                    state.cancel_sent = true;
                    to_cancel.push(ud);
                }
            } else if res != -libc::ENOBUFS && res != -libc::ECANCELED {
                // End of stream (0) or an error; running out of buffers or being cancelled just
                // ends this multishot (the reader re-arms).
                state.results.push_back((res, flags));
            }
        }
        Kind::SendZc => {
            // The first completion carries the result; the buffer is free after the notification.
            if !cqueue::notif(flags) {
                state.results.push_back((res, flags));
            }
        }
        Kind::Single | Kind::AcceptMulti => state.results.push_back((res, flags)),
    }
    if !more {
        state.finished = true;
    }
    if let Some(w) = state.waker.take() {
        wakers.push(w);
    }
    drop(state);
    if !more {
        ops.remove(key);
    }
}

impl Drop for Driver {
    /// The worker is exiting: requests still in flight are cancelled and waited for a moment;
    /// if some never end, their memory (and the buffer ring) is leaked rather than freed under
    /// the kernel.
    fn drop(&mut self) {
        if !self.ops.is_empty() {
            let keys: Vec<u64> = self.ops.iter().map(|(_, s)| s.ud).collect();
            for ud in keys {
                self.cancel(ud);
            }
            let until = Instant::now() + Duration::from_millis(200);
            let mut woken = Vec::new();
            while !self.ops.is_empty() && Instant::now() < until {
                self.park(Some(Duration::from_millis(10)), &mut woken);
                woken.clear();
            }
        }
        if !self.ops.is_empty() {
            tracing::warn!(
                requests = self.ops.len(),
                "worker exits with io_uring requests still in flight; their buffers are leaked"
            );
            std::mem::forget(std::mem::take(&mut self.ops));
            if let Some(b) = self.bufs.take() {
                std::mem::forget(b);
            }
        } else if self.bufs.is_some() {
            let _ = self.ring.ring.submitter().unregister_buf_ring(bufring::GROUP);
        }
    }
}

/// The running kernel's (major, minor), from uname; (0, 0) if unreadable.
fn kernel_release() -> (u32, u32) {
    // SAFETY: uname fills the zeroed struct it is given.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (0, 0);
    }
    // SAFETY: uname NUL-terminates `release`.
    let release = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) }.to_string_lossy();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    let major = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let minor = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (major, minor)
}

fn memlock_limit() -> String {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } != 0 {
        return "unknown".into();
    }
    if lim.rlim_cur == libc::RLIM_INFINITY { "unlimited".into() } else { format!("{} KiB", lim.rlim_cur / 1024) }
}
