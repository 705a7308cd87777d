//! Inspection: process info (state, name, aliases, links, monitors, mailbox per queue, message
//! counts, running time, uptime, parent, leader) and node info, from a process and the node.

mod support;

use ergors::{NodeOptions, ProcessState, Target};
use support::agent::*;

#[test]
fn process_and_node_info() {
    let opts = NodeOptions::default().workers(2).pin_workers(false).process_timing(true);
    let node = ergors::Node::start("insp1@localhost", opts).unwrap();
    let h = node.handle();
    let (a, arx) = agent(&h, false);
    let (b, _brx) = agent(&h, false);
    on(&h, a, |ctx| ctx.register_name("inspected")).unwrap();
    let alias = on(&h, a, |ctx| ctx.create_alias()).unwrap();
    on(&h, a, move |ctx| ctx.link(b)).unwrap();
    on(&h, b, move |ctx| ctx.monitor(a)).unwrap();
    for i in 0..5u32 {
        node.send(a, i).unwrap();
        next_msg::<u32>(&arx);
    }
    let info = node.process_info(a).unwrap();
    assert_eq!(info.pid, a);
    assert_eq!(info.name.as_deref(), Some("inspected"));
    assert_eq!(info.aliases, vec![alias]);
    assert_eq!(info.links, vec![Target::Pid(b)]);
    assert_eq!(info.monitored_by, 1);
    // It goes back to sleep right after answering (its worker may still be finishing the turn).
    assert!(support::eventually(|| node.process_info(a).unwrap().state == ProcessState::Sleep));
    assert_eq!(info.parent.node, node.name());
    assert_eq!(info.mailbox, [0, 0, 0, 0]);
    // Counts are published when a turn ends: asleep, the process shows them all.
    let info = node.process_info(a).unwrap();
    assert_eq!(info.messages_in, 5 + 3, "5 sends and 3 scripted calls");
    assert_eq!(info.messages_out, 0);
    on(&h, a, move |ctx| ctx.send(b, 1u8)).unwrap();
    assert!(support::eventually(|| node.process_info(a).unwrap().messages_out == 1));
    assert!(info.running_time > std::time::Duration::ZERO);
    // From inside the process, the same view, in the Running state.
    let (state, pid) = on(&h, a, |ctx| {
        let i = ctx.info();
        (i.state, i.pid)
    });
    assert_eq!((state, pid), (ProcessState::Running, a));
    on(&h, a, |ctx| ctx.set_env("role", Some("inspected")));
    let env = on(&h, a, |ctx| ctx.info().env);
    assert_eq!(env, vec![("ROLE".to_string(), "inspected".to_string())]);
    assert_eq!(node.process_info(a).unwrap().env, env, "the node handle sees the environment too");
    let n = node.info();
    assert_eq!(n.processes_total, 2);
    assert_eq!(n.registered_names, 1);
    assert_eq!(n.registered_aliases, 1);
    assert_eq!(n.workers, 2);
    assert!(n.memory_rss > 0);
    node.stop();
}
