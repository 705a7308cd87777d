//! A Pid of a process that has ended is refused, even after its table slot is reused.

mod support;

use ergors::{Error, ExitReason, SpawnOptions};
use support::*;

#[test]
fn stale_pid_gets_process_unknown_and_never_reaches_the_new_occupant() {
    let node = node("stale1", 1);
    let (p, rx) = probe();
    let old = node.spawn(p, SpawnOptions::default()).unwrap();
    node.send(old, ExitReason::Normal).unwrap();
    assert!(eventually(|| !node.is_alive(old)));
    // Spawn enough processes that the old slot is reused.
    let mut fresh = Vec::new();
    for _ in 0..200 {
        let (p, _rx) = probe();
        fresh.push((node.spawn(p, SpawnOptions::default()).unwrap(), _rx));
    }
    let reused = fresh.iter().find(|(pid, _)| pid.id as u32 == old.id as u32);
    assert!(reused.is_some(), "slot of {old} was reused");
    let (new_pid, new_rx) = reused.unwrap();
    assert_ne!(*new_pid, old);
    assert_eq!(node.send(old, 1u8), Err(Error::ProcessUnknown));
    assert_eq!(node.call(old, 1u8).unwrap_err(), Error::ProcessUnknown);
    assert!(new_rx.try_iter().all(|e| !matches!(e, Event::Msg(..))), "stale send reached the new occupant");
    drop(rx);
    node.stop();
}
