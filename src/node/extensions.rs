//! Node-wide state owned by the layers above the node (applications): one value per type, made
//! on first use, and hooks that run when the node begins to stop, before its processes are
//! ended. Keeps `node` free of those layers' types (D60).

use super::NodeHandle;
use std::any::Any;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Runs on the thread that stops the node (never a worker), with the stop's deadline.
pub(crate) type StopHook = Arc<dyn Fn(&NodeHandle, Instant) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Extensions {
    values: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
    stop_hooks: Mutex<Vec<StopHook>>,
}

impl Extensions {
    pub(crate) fn stop_hooks(&self) -> Vec<StopHook> {
        self.stop_hooks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl NodeHandle {
    /// The node's value of type `T`, made by `make` the first time (under a lock: `make` must
    /// not ask for another extension; it may add stop hooks).
    pub(crate) fn extension<T: Any + Send + Sync>(&self, make: impl FnOnce(&NodeHandle) -> T) -> Arc<T> {
        let mut values = self.inner.extensions.values.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = values.iter().find_map(|v| v.clone().downcast::<T>().ok()) {
            return found;
        }
        let made = Arc::new(make(self));
        values.push(made.clone());
        made
    }

    /// Adds a hook run when the node begins to stop, in the order added.
    pub(crate) fn on_stop(&self, hook: StopHook) {
        self.inner.extensions.stop_hooks.lock().unwrap_or_else(|p| p.into_inner()).push(hook);
    }
}
