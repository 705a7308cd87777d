//! The node's log level (`ERGORS_LOG` / `NodeOptions::log_level`) filters the node's own
//! records, and every record carries the node's name.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Node, NodeOptions, Pid, SpawnOptions};

struct Failing;

impl Actor for Failing {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        Err(ExitReason::error("deliberate failure"))
    }
}

fn run(name: &str, level: tracing::Level) {
    let opts = NodeOptions::default().workers(1).pin_workers(false).log_level(level);
    let node = Node::start(&format!("{name}@localhost"), opts).unwrap();
    let p = node.spawn(Failing, SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    assert!(support::eventually(|| !node.is_alive(p)));
    node.stop();
}

#[test]
fn node_level_filters_records_and_records_name_the_node() {
    let capture = support::Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    run("logquiet", tracing::Level::ERROR);
    let quiet = capture.text();
    assert!(!quiet.contains("deliberate failure"), "ERROR level lets a WARN record through:\n{quiet}");
    assert!(!quiet.contains("node started"));

    run("loud", tracing::Level::INFO);
    let loud = capture.text();
    let line = loud.lines().find(|l| l.contains("deliberate failure")).expect("the abnormal exit is logged at WARN");
    assert!(line.contains("WARN") && line.contains("node=loud@localhost"), "{line}");
    assert!(loud.lines().any(|l| l.contains("node started") && l.contains("node=loud@localhost")));
    assert!(!loud.contains("worker ring ready"), "DEBUG records stay out at INFO");
}
