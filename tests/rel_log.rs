//! Logging: records carry the node, the Pid, the name and the level; per-process levels filter;
//! process loggers receive process and node records in their Log queue and are removed when they
//! end.

mod support;

use ergors::{Actor, Context, Error, ExitReason, LogSource, MessageLog, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::agent::*;
use support::*;
use tracing::Level;

/// Handles nothing.
struct Idle;
impl Actor for Idle {}

/// Forwards every record it gets as a logger.
struct Shipper(Sender<MessageLog>);

impl Actor for Shipper {
    async fn handle_log(&mut self, _ctx: &mut Context, record: MessageLog) -> Result<(), ExitReason> {
        let _ = self.0.send(record);
        Ok(())
    }
}

#[test]
fn records_carry_identity_levels_filter_and_loggers_receive_them() {
    let capture = support::Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt().with_max_level(Level::TRACE).with_ansi(false).with_writer(move || writer.clone()).init();

    let node = node("plog", 2);
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    on(&h, a, |ctx| ctx.register_name("worker-7")).unwrap();
    on(&h, a, |ctx| ctx.log(Level::INFO, "hello from a process"));
    on(&h, a, |ctx| ctx.log(Level::DEBUG, "too detailed"));
    let text = capture.text();
    let line = text.lines().find(|l| l.contains("hello from a process")).expect("the record reached tracing");
    assert!(
        line.contains("INFO") && line.contains(&format!("pid={a}")) && line.contains("name=\"worker-7\""),
        "{line}"
    );
    assert!(line.contains("node=plog@localhost"), "{line}");
    assert!(!text.contains("too detailed"), "the process level (info, from the node) filters debug");
    on(&h, a, |ctx| ctx.set_log_level(Level::DEBUG));
    on(&h, a, |ctx| ctx.log(Level::DEBUG, "now detailed"));
    assert!(capture.text().contains("now detailed"));

    // A process logger for warnings and errors.
    let (tx, rx) = channel();
    let shipper = node.spawn(Shipper(tx), SpawnOptions::default()).unwrap();
    assert_eq!(node.logger_add_pid(shipper, "ship", &[Level::WARN, Level::ERROR]), Ok(()));
    assert_eq!(node.logger_add_pid(shipper, "again", &[]), Err(Error::NotAllowed("a process can be one logger only")));
    on(&h, a, |ctx| ctx.log(Level::INFO, "not for the shipper"));
    on(&h, a, |ctx| ctx.log(Level::WARN, "disk almost full"));
    let record = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(record.level, Level::WARN);
    assert_eq!(record.message, "disk almost full");
    assert_eq!(record.source, LogSource::Process { pid: a, name: Some(ergors::Name::new("worker-7")) });
    assert!(rx.recv_timeout(std::time::Duration::from_millis(50)).is_err(), "info was filtered out");
    // The logger goes away with its process.
    node.send(shipper, ()).unwrap();
    node.kill(shipper).unwrap();
    assert!(eventually(|| !node.is_alive(shipper)));
    assert!(!node.logger_remove("ship"), "already removed when its process ended");
    node.stop();
}

#[test]
fn loggers_receive_the_nodes_own_records() {
    let node = node("nlog", 2);
    let h = node.handle();
    let (tx, rx) = channel();
    let shipper = node.spawn(Shipper(tx), SpawnOptions::default()).unwrap();
    node.logger_add_pid(shipper, "ship", &[Level::INFO, Level::WARN]).unwrap();

    // Embedding code logs as the node.
    node.log(Level::INFO, "maintenance window opens");
    node.log(Level::DEBUG, "below the node's level");
    let record = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!((record.level, record.message.as_str()), (Level::INFO, "maintenance window opens"));
    assert_eq!(record.source, LogSource::Node(node.name()));

    // The node reports an abnormal termination, naming the process and the reason.
    let (a, _arx) = agent(&h, false);
    node.send(a, Stop(ExitReason::error("disk on fire"))).unwrap();
    let record = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!((record.level, record.source.clone()), (Level::WARN, LogSource::Node(node.name())));
    assert!(record.message.contains(&a.to_string()) && record.message.contains("disk on fire"), "{}", record.message);

    // A message nobody handles is reported by the process that got it, under its own identity.
    // A logger's own records (here: its unhandled-message warning) reach no logger, so loggers
    // that message each other cannot feed a loop.
    let (tx2, rx2) = channel();
    let sink = node.spawn(Shipper(tx2), SpawnOptions::default()).unwrap();
    node.logger_add_pid(sink, "sink", &[]).unwrap();
    node.send(shipper, 42u32).unwrap();
    node.send(sink, 43u32).unwrap();
    let record = rx.recv_timeout(std::time::Duration::from_millis(100));
    assert!(record.is_err(), "a logger's records are not shipped: {record:?}");
    let record = rx2.recv_timeout(std::time::Duration::from_millis(100));
    assert!(record.is_err(), "a logger's records are not shipped: {record:?}");
    let idle = node.spawn(Idle, SpawnOptions::default()).unwrap();
    node.send(idle, 7u8).unwrap();
    let record = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(record.source, LogSource::Process { pid: idle, name: None });
    assert_eq!(rx2.recv_timeout(PATIENCE).unwrap().source, record.source, "every logger gets it");
    assert!(record.message.contains("unhandled message"), "{}", record.message);
    node.stop();
}
