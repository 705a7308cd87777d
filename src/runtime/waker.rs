//! A `std::task::Waker` for a process: waking it notifies its scheduling word and, if that wins
//! the Idle → Scheduled transition, queues it on its home worker. The data pointer is an
//! `Arc<ProcessEntry>` turned raw.

use crate::process::entry::ProcessEntry;
use crate::runtime::worker::schedule;
use std::mem::ManuallyDrop;
use std::sync::Arc;
use std::task::{RawWaker, RawWakerVTable, Waker};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Arc::into_raw`/`Arc::as_ptr` of a live entry; the waker being
    // cloned keeps it alive, and the new waker owns the count we add.
    unsafe { Arc::increment_strong_count(data.cast::<ProcessEntry>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: an owning waker holds one strong count, which we take back here.
    let entry = unsafe { Arc::from_raw(data.cast::<ProcessEntry>()) };
    notify(&entry);
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker (owning or borrowed) keeps the entry alive for this call; ManuallyDrop
    // keeps us from releasing a count we do not own.
    let entry = ManuallyDrop::new(unsafe { Arc::from_raw(data.cast::<ProcessEntry>()) });
    notify(&entry);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: releases the count owned by this waker.
    drop(unsafe { Arc::from_raw(data.cast::<ProcessEntry>()) });
}

/// Schedules `entry` if this notification is the one that wakes it.
pub(crate) fn notify(entry: &Arc<ProcessEntry>) {
    if entry.sched.notify() {
        schedule(entry.clone());
    }
}

/// A waker borrowing `entry` without touching its count; valid while `entry` is.
pub(crate) fn waker_ref(entry: &Arc<ProcessEntry>) -> ManuallyDrop<Waker> {
    let raw = RawWaker::new(Arc::as_ptr(entry).cast(), &VTABLE);
    // SAFETY: the vtable upholds the RawWaker contract; ManuallyDrop means dropping the borrowed
    // waker never runs `drop_waker`, and clones made from it take their own count.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw) })
}

/// The process a waker belongs to, if it is a process's own waker (not a combinator's): lets
/// the process's future read its entry without storing a pointer to it (every idle process
/// carries that future).
pub(crate) fn entry_of(waker: &Waker) -> Option<&ProcessEntry> {
    if !std::ptr::eq(waker.vtable(), &VTABLE) {
        return None;
    }
    // SAFETY: a waker with our vtable carries an `Arc<ProcessEntry>` pointer as its data (see
    // `waker_ref` and `clone`), and keeps that entry alive for as long as the waker lives; the
    // reference returned borrows the waker.
    Some(unsafe { &*waker.data().cast::<ProcessEntry>() })
}

/// A waker that unparks a plain thread (for the blocking waits of `NodeHandle`).
pub(crate) fn thread_waker() -> Waker {
    struct ThreadWaker(std::thread::Thread);
    impl std::task::Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    Waker::from(Arc::new(ThreadWaker(std::thread::current())))
}
