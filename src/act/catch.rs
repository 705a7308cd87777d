//! `CatchUnwind`: polls a future inside `catch_unwind`, turning a panic into an `Err` with the
//! panic's message, so one callback's panic ends only its process.

use crate::runtime::worker::panic_message;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

pub(crate) struct CatchUnwind<F> {
    inner: F,
}

impl<F> CatchUnwind<F> {
    pub(crate) fn new(inner: F) -> Self {
        CatchUnwind { inner }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning: `inner` is never moved out of `self`, and `CatchUnwind` has
        // no Drop impl and no other way to reach `inner` unpinned.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        // AssertUnwindSafe: after a panic the future is never polled again; the process ends.
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(p) => Poll::Ready(Err(panic_message(&*p))),
        }
    }
}
