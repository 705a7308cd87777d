//! One request on a worker's ring: its shared state, its future, its cancellation.
//!
//! The state is shared between the worker whose ring took the request (it writes completions)
//! and the process awaiting it (which may run on another worker by then). Memory the kernel
//! reads or writes (a buffer, a socket address) is moved into the state before the request is
//! submitted and stays there until the request's last completion, even if the future awaiting
//! it was dropped: the driver's slab holds the state until then.

use crate::runtime::worker::{WorkerShared, with_current};
use io_uring::squeue;
use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// How the driver treats an op's completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One completion.
    Single,
    /// A result, then a notification once the kernel no longer reads the buffer.
    SendZc,
    /// One completion per accepted connection until the kernel ends it.
    AcceptMulti,
    /// Received bytes are copied out of the provided buffers into `data`.
    RecvMulti,
}

pub(crate) struct OpState {
    pub(crate) kind: Kind,
    /// The request's user data on its ring; 0 before it is submitted.
    pub(crate) ud: u64,
    /// The worker whose ring took it.
    owner: Option<Arc<WorkerShared>>,
    /// Completions not yet taken: (result, flags).
    pub(crate) results: VecDeque<(i32, u32)>,
    /// Bytes a multishot receive got and the reader has not taken yet.
    pub(crate) data: Vec<u8>,
    /// Beyond this many bytes waiting in `data`, a multishot receive is stopped.
    pub(crate) data_cap: usize,
    /// The last completion came: the kernel is done with the request and its memory.
    pub(crate) finished: bool,
    pub(crate) cancel_sent: bool,
    pub(crate) waker: Option<Waker>,
    /// What the kernel reads or writes, kept until `finished`.
    pub(crate) keep: Option<Box<dyn Any + Send>>,
}

pub(crate) struct OpShared {
    state: Mutex<OpState>,
}

impl OpShared {
    pub(crate) fn new(kind: Kind, keep: Option<Box<dyn Any + Send>>) -> Arc<OpShared> {
        Arc::new(OpShared {
            state: Mutex::new(OpState {
                kind,
                ud: 0,
                owner: None,
                results: VecDeque::new(),
                data: Vec::new(),
                data_cap: usize::MAX,
                finished: false,
                cancel_sent: false,
                waker: None,
                keep,
            }),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, OpState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The driver took the request (again, for a re-armed multishot).
    pub(crate) fn submitted(&self, ud: u64, owner: &Arc<WorkerShared>) {
        let mut s = self.lock();
        s.ud = ud;
        s.owner = Some(owner.clone());
        s.finished = false;
        s.cancel_sent = false;
    }

    /// Remembers `waker` to be woken by the next completion.
    pub(crate) fn set_waker(state: &mut OpState, waker: &Waker) {
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
    }
}

/// The error of ring I/O attempted off a worker thread.
pub(crate) fn not_on_worker() -> io::Error {
    io::Error::other("ring I/O runs only inside processes (on worker threads)")
}

/// Submits `entry` for `op` to the ring of the worker running the caller.
///
/// # Errors
/// Off a worker thread.
pub(crate) fn submit(entry: squeue::Entry, op: &Arc<OpShared>) -> io::Result<()> {
    with_current(|w| {
        let w = w.ok_or_else(not_on_worker)?;
        // Processes are polled outside the driver's turn, so it is never borrowed here.
        let mut driver = w.io.try_borrow_mut().map_err(|_| io::Error::other("the ring is busy"))?;
        driver.submit(entry, op, &w.shared);
        Ok(())
    })
}

/// Cancels `op`'s request if it is still in flight, from any thread: directly on the ring that
/// holds it, or through that worker's cancel queue.
pub(crate) fn cancel(op: &Arc<OpShared>) {
    let (ud, owner) = {
        let mut s = op.lock();
        if s.finished || s.ud == 0 || s.cancel_sent {
            return;
        }
        let Some(owner) = s.owner.clone() else { return };
        s.cancel_sent = true;
        (s.ud, owner)
    };
    let done_here = with_current(|w| match w {
        Some(w) if Arc::ptr_eq(&w.shared, &owner) => match w.io.try_borrow_mut() {
            Ok(mut driver) => {
                driver.cancel(ud);
                true
            }
            Err(_) => false,
        },
        _ => false,
    });
    if !done_here {
        owner.cancel_io(ud);
    }
}

/// Turns a completion's result into the byte count or the error it encodes.
pub(crate) fn result(res: i32) -> io::Result<u32> {
    if res < 0 { Err(io::Error::from_raw_os_error(-res)) } else { Ok(res as u32) }
}

/// A one-completion request (or a zero-copy send): submitted when first polled, cancelled if
/// dropped before it completes. The output is the completion's result and flags.
pub(crate) struct OpFuture {
    op: Arc<OpShared>,
    entry: Option<squeue::Entry>,
}

impl OpFuture {
    /// `entry` must point only at memory inside `keep` (or static memory).
    pub(crate) fn new(kind: Kind, entry: squeue::Entry, keep: Option<Box<dyn Any + Send>>) -> OpFuture {
        OpFuture { op: OpShared::new(kind, keep), entry: Some(entry) }
    }

    /// The memory handed to the kernel, back once the request is finished.
    pub(crate) fn take_keep<T: 'static>(&self) -> Option<T> {
        let mut s = self.op.lock();
        if !s.finished {
            return None;
        }
        s.keep.take().and_then(|b| b.downcast::<T>().ok()).map(|b| *b)
    }
}

impl Future for OpFuture {
    type Output = io::Result<(i32, u32)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(entry) = self.entry.take() {
            submit(entry, &self.op)?;
        }
        let mut s = self.op.lock();
        if s.finished {
            // A zero-copy send whose result never came (cannot happen) reads as cancelled.
            let r = s.results.pop_front().unwrap_or((-libc::ECANCELED, 0));
            return Poll::Ready(Ok(r));
        }
        OpShared::set_waker(&mut s, cx.waker());
        Poll::Pending
    }
}

impl Drop for OpFuture {
    fn drop(&mut self) {
        if self.entry.is_none() {
            cancel(&self.op);
        }
    }
}
