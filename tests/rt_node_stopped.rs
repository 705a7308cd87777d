//! After `Node::stop`, what a handle asks of the node fails with `NodeStopped` (not
//! `ProcessUnknown`): the node is gone, not the process.

mod support;

use ergors::{Error, SpawnOptions};
use support::*;

#[test]
fn after_stop_sends_calls_and_inspection_report_node_stopped() {
    let node = node("stopped", 1);
    let handle = node.handle();
    let (probe, _events) = probe();
    let pid = handle.spawn(probe, SpawnOptions::default()).unwrap();
    let name = "stopped-probe";
    let (named, _events2) = support::probe();
    handle.spawn_register(name, named, SpawnOptions::default()).unwrap();
    node.stop();
    assert_eq!(handle.send(pid, 1u64).unwrap_err(), Error::NodeStopped);
    assert_eq!(handle.send(handle.process_id(name), 1u64).unwrap_err(), Error::NodeStopped);
    assert_eq!(handle.call(pid, 1u64).unwrap_err(), Error::NodeStopped);
    assert_eq!(handle.process_info(pid).unwrap_err(), Error::NodeStopped);
    assert_eq!(handle.spawn(support::probe().0, SpawnOptions::default()).unwrap_err(), Error::NodeStopped);
}
