//! Panic isolation: a panic in any callback ends only that process, with a panic reason; every
//! worker survives and the node keeps serving.

mod support;

use ergors::{Actor, Context, Error, ExitReason, From, Message, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

enum Where {
    Init,
    Message,
    Call,
    /// In `handle_call`, after waiting on a call of its own (the panic unwinds a suspended
    /// handler).
    CallAfterWait,
    Terminate,
}

struct Bomb {
    at: Where,
    terminated: Sender<(Pid, ExitReason)>,
}

impl Actor for Bomb {
    async fn init(&mut self, _ctx: &mut Context) -> Result<(), ExitReason> {
        if matches!(self.at, Where::Init) {
            panic!("boom in init");
        }
        Ok(())
    }
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        match self.at {
            Where::Message => panic!("boom in handle_message"),
            Where::Terminate => Err(ExitReason::Normal),
            _ => Ok(()),
        }
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        if let (Where::CallAfterWait, Some(echo)) = (&self.at, req.downcast_ref::<Pid>()) {
            let echo = *echo;
            ctx.call(echo, 1u8).await.map_err(ExitReason::error)?;
            panic!("boom in handle_call after a wait");
        }
        panic!("boom in handle_call");
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let _ = self.terminated.send((ctx.pid(), reason.clone()));
        if matches!(self.at, Where::Terminate) {
            panic!("boom in terminate");
        }
    }
}

fn quiet_panics() {
    // Thousands of expected panics would flood the test output.
    std::panic::set_hook(Box::new(|_| {}));
}

#[test]
fn panics_in_every_callback_end_only_that_process() {
    quiet_panics();
    let node = node("panic1", 2);
    let (tx, rx) = channel();
    // init: the process ends; terminate is not called after a failed init (as in Ergo).
    let p = node.spawn(Bomb { at: Where::Init, terminated: tx.clone() }, SpawnOptions::default()).unwrap();
    assert!(eventually(|| !node.is_alive(p)));
    // handle_message: terminate runs with the panic reason.
    let p = node.spawn(Bomb { at: Where::Message, terminated: tx.clone() }, SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    let (who, reason) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(who, p);
    assert_eq!(reason, ExitReason::Panic("boom in handle_message".into()));
    // handle_call: the caller is told at once, and the process ends with a panic reason.
    let p = node.spawn(Bomb { at: Where::Call, terminated: tx.clone() }, SpawnOptions::default()).unwrap();
    assert_eq!(node.call(p, ()).unwrap_err(), Error::Terminated);
    let (who, reason) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(who, p);
    assert!(matches!(reason, ExitReason::Panic(m) if m.contains("handle_call")));
    // The same after the handler was suspended (its caller is told at once, not at its timeout).
    let (echo, _erx) = probe(); // replies to calls with the request
    let echo = node.spawn(echo, SpawnOptions::default()).unwrap();
    let p = node.spawn(Bomb { at: Where::CallAfterWait, terminated: tx.clone() }, SpawnOptions::default()).unwrap();
    let asked = std::time::Instant::now();
    assert_eq!(node.call(p, echo).unwrap_err(), Error::Terminated);
    assert!(asked.elapsed() < std::time::Duration::from_secs(4), "told at once, not after the 5 s call timeout");
    let (who, reason) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(who, p);
    assert!(matches!(reason, ExitReason::Panic(m) if m.contains("after a wait")));
    node.kill(echo).unwrap();
    assert!(eventually(|| !node.is_alive(echo)));
    // terminate itself panicking changes nothing for the node.
    let p = node.spawn(Bomb { at: Where::Terminate, terminated: tx.clone() }, SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (p, ExitReason::Normal));
    assert!(eventually(|| !node.is_alive(p)));
    // The node still serves on every worker.
    for w in 0..2 {
        let (probe, prx) = probe();
        let q = node.spawn(probe, SpawnOptions::default().worker(w)).unwrap();
        node.send(q, 5u8).unwrap();
        assert_eq!(recv_msg::<u8>(&prx).1, 5);
    }
    assert_eq!(node.process_count(), 2);
    node.stop();
}

#[test]
fn many_panics_over_all_workers_lose_no_worker() {
    quiet_panics();
    // RELIABILITY.md R4, CI tier: 100k handler panics over all workers.
    const N: usize = 100_000;
    let workers = 2;
    let node = node("panic2", workers);
    let (tx, rx) = channel();
    let pids: Vec<Pid> = (0..N)
        .map(|i| {
            let b = Bomb { at: Where::Message, terminated: tx.clone() };
            node.spawn(b, SpawnOptions::default().worker(i % workers)).unwrap()
        })
        .collect();
    for p in &pids {
        node.send(*p, ()).unwrap();
    }
    let mut ended = std::collections::HashSet::new();
    for _ in 0..N {
        let (who, reason) = rx.recv_timeout(PATIENCE).unwrap();
        assert!(matches!(reason, ExitReason::Panic(_)));
        assert!(ended.insert(who), "{who} reported twice");
    }
    assert!(eventually(|| node.process_count() == 0), "table back to empty");
    for w in 0..workers {
        let (probe, prx) = probe();
        let q = node.spawn(probe, SpawnOptions::default().worker(w)).unwrap();
        node.send(q, 1u8).unwrap();
        assert_eq!(recv_msg::<u8>(&prx).1, 1, "worker {w} still runs");
    }
    node.stop();
}
