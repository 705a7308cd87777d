//! Declaring a supervision tree in Rust (Step 4, item 6): the specs are plain values built with
//! chained calls, and a supervisor or a pool is itself a child spec, so a whole tree (an
//! application of supervisors of workers and pools) is one expression, checked by the compiler,
//! with no closure to write for the inner nodes (D100).
//!
//! ```no_run
//! use ergors::application::{ApplicationMode, ApplicationSpec};
//! use ergors::pool::PoolSpec;
//! use ergors::{Actor, ChildSpec, Node, NodeOptions, Restart, SupervisorSpec};
//!
//! struct Worker;
//! impl Actor for Worker {}
//!
//! let shop = ApplicationSpec::new("shop").mode(ApplicationMode::Transient).member(ChildSpec::supervisor(
//!     "shop_sup",
//!     SupervisorSpec::one_for_one()
//!         .restart(Restart::Permanent)
//!         .child(ChildSpec::new("orders", || Worker))
//!         .child(ChildSpec::pool("checkout", PoolSpec::new(|| Worker).size(4)))
//!         .child(ChildSpec::supervisor(
//!             "billing_sup",
//!             SupervisorSpec::rest_for_one().child(ChildSpec::new("ledger", || Worker)),
//!         )),
//! ));
//! let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
//! node.application_load(shop)?;
//! node.application_start("shop")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::pool::{Pool, PoolBehavior, PoolSpec};
use super::supervisor::{ChildSpec, Supervisor, SupervisorSpec};

impl ChildSpec {
    /// A child that is a supervisor of `spec` (a fresh one, from the same spec, at every start).
    pub fn supervisor(name: &str, spec: SupervisorSpec) -> ChildSpec {
        ChildSpec::new(name, move || Supervisor::new(spec.clone()))
    }

    /// A child that is a pool of `spec` (a fresh one, with fresh workers, at every start).
    pub fn pool<B: PoolBehavior + Clone + Sync>(name: &str, spec: PoolSpec<B>) -> ChildSpec {
        ChildSpec::new(name, move || Pool::new(spec.clone()))
    }
}
