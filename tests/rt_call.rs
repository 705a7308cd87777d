//! `call`: immediate and deferred replies, timeouts with late replies discarded, calls across
//! workers, from plain threads, and the error cases.

mod support;

use ergors::{Actor, Context, Error, ExitReason, From, Message, Pid, SpawnOptions};
use std::time::Duration;
use support::*;

/// Replies `n + 1` to a `u64`; for `Slow(n, ms)` replies after `ms` milliseconds (deferred, via
/// send_after to itself); for `Never` keeps the request forever; for `Stop` ends without reply.
struct Server {
    held: Vec<From>,
}

struct Slow(u64, u64);
struct Never;
struct Stop;
struct ReplyNow(From, u64);

impl Actor for Server {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let req = match req.downcast::<u64>() {
            Ok(n) => return Ok(Some(Message::new(n + 1))),
            Err(m) => m,
        };
        let req = match req.downcast::<Slow>() {
            Ok(Slow(n, ms)) => {
                let me = ctx.pid();
                ctx.send_after(me, ReplyNow(from, n + 1), Duration::from_millis(ms));
                return Ok(None);
            }
            Err(m) => m,
        };
        if req.is::<Never>() {
            self.held.push(from);
            return Ok(None);
        }
        if req.is::<Stop>() {
            return Err(ExitReason::error("asked to stop"));
        }
        Err(ExitReason::error("unexpected request"))
    }

    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(ReplyNow(to, v)) = msg.downcast::<ReplyNow>() {
            ctx.send_response(to, v).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

fn server() -> Server {
    Server { held: vec![] }
}

#[test]
fn node_call_gets_immediate_and_deferred_replies() {
    let node = node("call1", 2);
    let s = node.spawn(server(), SpawnOptions::default()).unwrap();
    assert_eq!(node.call(s, 41u64).unwrap().downcast::<u64>().ok(), Some(42));
    assert_eq!(node.call(s, Slow(9, 20)).unwrap().downcast::<u64>().ok(), Some(10));
    node.stop();
}

#[test]
fn node_call_errors() {
    let node = node("call2", 1);
    let s = node.spawn(server(), SpawnOptions::default()).unwrap();
    let t = Duration::from_millis(50);
    assert_eq!(node.call_timeout(s, Never, t).unwrap_err(), Error::Timeout(t));
    // The callee ends while the call waits in its mailbox or after it: no reply ever comes.
    assert_eq!(node.call(s, Stop).unwrap_err(), Error::Terminated);
    assert!(eventually(|| !node.is_alive(s)));
    assert_eq!(node.call(s, 1u64).unwrap_err(), Error::ProcessUnknown);
    node.stop();
}

/// Calls its server with a short timeout and reports each outcome to the test.
struct Client {
    server: Pid,
    tx: std::sync::mpsc::Sender<Result<u64, Error>>,
}

struct Ask(u64, u64); // (request value, timeout ms)
struct AskSlow(u64, u64, u64); // (value, server delay ms, timeout ms)

impl Actor for Client {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<Ask>() {
            Ok(Ask(v, ms)) => {
                let r = ctx.call_timeout(self.server, v, Duration::from_millis(ms)).await;
                let _ = self.tx.send(r.map(|m| m.downcast::<u64>().unwrap_or(u64::MAX)));
                return Ok(());
            }
            Err(m) => m,
        };
        if let Ok(AskSlow(v, delay, ms)) = msg.downcast::<AskSlow>() {
            let r = ctx.call_timeout(self.server, Slow(v, delay), Duration::from_millis(ms)).await;
            let _ = self.tx.send(r.map(|m| m.downcast::<u64>().unwrap_or(u64::MAX)));
            return Ok(());
        }
        // Any other message is a late reply leaking into the mailbox: report it as a failure.
        let _ = self.tx.send(Err(Error::NotAllowed("a late reply arrived as a message")));
        Ok(())
    }
}

#[test]
fn process_call_timeout_discards_late_reply() {
    let node = node("call3", 2);
    let s = node.spawn(server(), SpawnOptions::default().worker(1)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let c = node.spawn(Client { server: s, tx }, SpawnOptions::default().worker(0)).unwrap();
    // The server answers after 100 ms; the caller gives up after 20 ms.
    node.send(c, AskSlow(1, 100, 20)).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Err(Error::Timeout(Duration::from_millis(20))));
    // The next call must get its own reply, not the late one (which carried 2).
    std::thread::sleep(Duration::from_millis(150));
    node.send(c, Ask(10, 1000)).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(11));
    // And nothing else arrived at the client as a message.
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    node.stop();
}

#[test]
fn process_calls_across_and_within_workers() {
    let node = node("call4", 2);
    let (tx, rx) = std::sync::mpsc::channel();
    for (server_worker, client_worker) in [(0, 0), (0, 1), (1, 0)] {
        let s = node.spawn(server(), SpawnOptions::default().worker(server_worker)).unwrap();
        let c =
            node.spawn(Client { server: s, tx: tx.clone() }, SpawnOptions::default().worker(client_worker)).unwrap();
        for i in 0..100 {
            node.send(c, Ask(i, 5000)).unwrap();
        }
        for i in 0..100 {
            assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(i + 1));
        }
    }
    node.stop();
}

/// Calls itself: must be refused rather than deadlock.
struct SelfCaller(std::sync::mpsc::Sender<Error>);

impl Actor for SelfCaller {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let me = ctx.pid();
        if let Err(e) = ctx.call(me, 1u64).await {
            let _ = self.0.send(e);
        }
        Ok(())
    }
}

#[test]
fn call_to_self_is_refused() {
    let node = node("call5", 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let p = node.spawn(SelfCaller(tx), SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    assert!(matches!(rx.recv_timeout(PATIENCE).unwrap(), Error::NotAllowed(_)));
    node.stop();
}

/// A blocking node call from inside a process would stall its worker: it is refused.
struct BlockingCaller(std::sync::mpsc::Sender<Error>, Pid);

impl Actor for BlockingCaller {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        if let Err(e) = ctx.node().call(self.1, 1u64) {
            let _ = self.0.send(e);
        }
        Ok(())
    }
}

#[test]
fn blocking_node_call_on_worker_is_refused() {
    let node = node("call6", 1);
    let s = node.spawn(server(), SpawnOptions::default()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let p = node.spawn(BlockingCaller(tx, s), SpawnOptions::default()).unwrap();
    node.send(p, ()).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Error::WouldBlockWorker("call"));
    node.stop();
}

#[test]
fn embedding_from_many_plain_threads() {
    let node = node("call7", 2);
    let s = node.spawn(server(), SpawnOptions::default()).unwrap();
    let handle = node.handle();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let h = handle.clone();
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let v = t * 1000 + i;
                    assert_eq!(h.call(s, v).unwrap().downcast::<u64>().ok(), Some(v + 1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    node.stop();
}

#[test]
fn a_call_racing_the_callees_death_is_never_left_to_time_out() {
    // The callee dies between the caller's liveness check and its push in some of these rounds;
    // the caller must learn it at once (Terminated or ProcessUnknown), never by its timeout.
    let opts = ergors::NodeOptions::default().workers(2).pin_workers(false).call_timeout(Duration::from_secs(20));
    let node = ergors::Node::start("race@localhost", opts).unwrap();
    for i in 0..20_000u32 {
        // A probe answers calls and ends when sent a reason.
        let (mortal, _events) = probe();
        let victim = node.spawn(mortal, SpawnOptions::default().worker(1)).unwrap();
        node.send(victim, ExitReason::Normal).unwrap();
        if i % 2 == 0 {
            std::thread::yield_now();
        }
        match node.call(victim, i) {
            Err(Error::Terminated) | Err(Error::ProcessUnknown) => {}
            other => panic!("round {i}: {other:?}"),
        }
    }
    node.stop();
}
