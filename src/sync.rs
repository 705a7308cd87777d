//! The one door to atomics and shared cells: std normally, `loom` under `--cfg loom`, so that the
//! lock-free code compiles unchanged inside loom's model checker (the tokio pattern).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, fence};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Mutex, RwLock};

#[cfg(not(loom))]
#[allow(unused_imports)] // AtomicBool, fence: used by the loom models' std twins
pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, fence};
#[cfg(not(loom))]
#[allow(unused_imports)] // Arc: used by the loom models' std twins
pub(crate) use std::sync::{Arc, Mutex, RwLock};

/// An `UnsafeCell` with loom's closure API, so callers read the same under both configurations.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(#[cfg(loom)] loom::cell::UnsafeCell<T>, #[cfg(not(loom))] std::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(loom)]
        return Self(loom::cell::UnsafeCell::new(value));
        #[cfg(not(loom))]
        return Self(std::cell::UnsafeCell::new(value));
    }

    /// Gives the closure a raw pointer to the value; the caller upholds exclusive access.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(loom)]
        return self.0.with_mut(f);
        #[cfg(not(loom))]
        return f(self.0.get());
    }
}

/// Under loom only, a SeqCst fence. The wake protocol and the death race rely on the single total
/// order of SeqCst *accesses* (cheap: plain loads on x86), which loom does not model (it treats
/// SeqCst accesses as AcqRel and reports false alarms); a SeqCst fence at the same places gives
/// loom the same order to check. Compiles to nothing otherwise.
#[inline(always)]
pub(crate) fn loom_sc_order() {
    #[cfg(loom)]
    fence(std::sync::atomic::Ordering::SeqCst);
}
