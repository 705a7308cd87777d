//! A process's environment (Ergo's `Env`): layered maps shared between processes until one
//! changes, so the common spawn copies nothing (D14, D17). Plain data; never locks.

use std::collections::HashMap;
use std::sync::Arc;

/// A process environment: name → value, shared between processes until one adds to it.
pub(crate) type Env = Option<Arc<HashMap<String, String>>>;

/// `base` plus `extra` (later entries win); shares `base` when there is nothing to add.
pub(crate) fn extend_env(base: Env, extra: &[(String, String)]) -> Env {
    if extra.is_empty() {
        return base;
    }
    let mut env = base.as_deref().cloned().unwrap_or_default();
    env.extend(extra.iter().map(|(k, v)| (k.to_uppercase(), v.clone())));
    Some(Arc::new(env))
}

/// `lower` overlaid with `upper` (upper wins); shares one side when the other adds nothing.
pub(crate) fn layer_env(lower: Env, upper: Env) -> Env {
    match (&lower, &upper) {
        (_, None) => lower,
        (None, _) => upper,
        (Some(l), Some(u)) if Arc::ptr_eq(l, u) || l.is_empty() => upper,
        (Some(l), Some(u)) => {
            let mut env = HashMap::clone(l);
            env.extend(u.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(Arc::new(env))
        }
    }
}

/// An environment as a sorted list.
pub(crate) fn env_list(env: &Env) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> =
        env.as_deref().map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    list.sort();
    list
}
