//! `Node::kill`: a process that is not running is removed before `kill` returns and its
//! `terminate` runs with `kill`; a process inside a callback ends when the callback returns; a
//! process waiting on a call has that call failed at once. Watchers hear `kill` exactly once.

mod support;

use ergors::{
    Actor, Context, Error, ExitReason, From, Message, MessageDown, MessageExit, Pid, ProcessState, SpawnOptions, Target,
};
use std::sync::mpsc::{Receiver, Sender, channel};
use support::agent::*;
use support::*;

fn asleep(node: &ergors::NodeHandle, pid: Pid) -> bool {
    eventually(|| node.process_info(pid).is_ok_and(|i| i.state == ProcessState::Sleep))
}

#[test]
fn killing_a_sleeping_process_removes_it_before_kill_returns() {
    let node = node("kill1", 2);
    let h = node.handle();
    let (victim, vrx) = agent_with(&h, SpawnOptions::default().worker(1));
    on(&h, victim, |ctx| ctx.register_name("victim")).unwrap();
    let (linker, lrx) = agent(&h, true);
    let (watcher, wrx) = agent(&h, false);
    on(&h, linker, move |ctx| ctx.link(victim)).unwrap();
    on(&h, watcher, move |ctx| ctx.monitor(victim)).unwrap();
    assert!(asleep(&h, victim));
    assert_eq!(node.kill(victim), Ok(()));
    // Gone before `kill` returned: not alive, unknown, its name free for another process.
    assert!(!node.is_alive(victim));
    assert_eq!(node.process_info(victim).unwrap_err(), Error::ProcessUnknown);
    assert_eq!(node.whereis("victim"), None);
    assert_eq!(node.send(victim, 1u64).unwrap_err(), Error::ProcessUnknown);
    let (heir, _hrx) = agent(&h, false);
    assert_eq!(on(&h, heir, |ctx| ctx.register_name("victim")), Ok(()));
    // Its terminate ran, with `kill`; each watcher heard `kill` once.
    assert_eq!(terminated(&vrx), ExitReason::Kill);
    assert_eq!(next_msg::<MessageExit>(&lrx).1, MessageExit { target: Target::Pid(victim), reason: ExitReason::Kill });
    assert_eq!(next_msg::<MessageDown>(&wrx).1, MessageDown { target: Target::Pid(victim), reason: ExitReason::Kill });
    assert!(quiet(&lrx) && quiet(&wrx), "exactly once");
    assert_eq!(node.kill(victim), Err(Error::ProcessUnknown));
    node.stop();
}

#[test]
fn a_call_racing_a_kill_is_never_left_to_time_out() {
    // The request lands before the kill (answered, or failed by the process's last run, which
    // drains its mailbox) or after it (the process is unknown by then).
    let opts =
        ergors::NodeOptions::default().workers(2).pin_workers(false).call_timeout(std::time::Duration::from_secs(60));
    let node = ergors::Node::start("kill2@localhost", opts).unwrap();
    let h = node.handle();
    for _ in 0..50 {
        let (victim, _vrx) = agent_with(&h, SpawnOptions::default().worker(1));
        assert!(asleep(&h, victim));
        let caller = {
            let h = h.clone();
            std::thread::spawn(move || h.call(victim, 1u64))
        };
        let _ = node.kill(victim);
        match caller.join().unwrap() {
            // Answered before the kill, or told at once: never left to the 60 s timeout.
            Ok(_) | Err(Error::Terminated) | Err(Error::ProcessUnknown) => {}
            other => panic!("{other:?}"),
        }
    }
    node.stop();
}

/// Blocks its worker inside `handle_message` until the test lets it go.
struct Busy {
    entered: Sender<()>,
    release: Receiver<()>,
    terminated: Sender<ExitReason>,
}

impl Actor for Busy {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.entered.send(());
        let _ = self.release.recv_timeout(PATIENCE);
        Ok(())
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.terminated.send(reason.clone());
    }
}

#[test]
fn a_running_process_ends_when_its_callback_returns() {
    let node = node("kill3", 2);
    let (entered_tx, entered) = channel();
    let (release, release_rx) = channel();
    let (term_tx, term) = channel();
    let busy = Busy { entered: entered_tx, release: release_rx, terminated: term_tx };
    let p = node.spawn(busy, SpawnOptions::default().worker(1)).unwrap();
    node.send(p, ()).unwrap();
    entered.recv_timeout(PATIENCE).unwrap();
    assert_eq!(node.kill(p), Ok(()));
    assert!(node.is_alive(p), "still inside its callback");
    release.send(()).unwrap();
    assert_eq!(term.recv_timeout(PATIENCE).unwrap(), ExitReason::Kill);
    assert!(eventually(|| !node.is_alive(p)));
    node.stop();
}

/// Keeps every request (never replies).
struct Silent;
impl Actor for Silent {
    async fn handle_call(&mut self, _c: &mut Context, _f: From, _r: Message) -> Result<Option<Message>, ExitReason> {
        Ok(None)
    }
}

/// On any message, calls `0` and reports the outcome.
struct Caller(Pid, Sender<Result<Message, Error>>, Sender<ExitReason>);
impl Actor for Caller {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let outcome = ctx.call(self.0, ()).await;
        let _ = self.1.send(outcome);
        Ok(())
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.2.send(reason.clone());
    }
}

#[test]
fn a_process_waiting_on_a_call_has_the_call_failed_and_ends_after_its_callback() {
    let opts =
        ergors::NodeOptions::default().workers(2).pin_workers(false).call_timeout(std::time::Duration::from_secs(60));
    let node = ergors::Node::start("kill4@localhost", opts).unwrap();
    let silent = node.spawn(Silent, SpawnOptions::default().worker(0)).unwrap();
    let (otx, outcome) = channel();
    let (ttx, term) = channel();
    let p = node.spawn(Caller(silent, otx, ttx), SpawnOptions::default().worker(1)).unwrap();
    node.send(p, ()).unwrap();
    assert!(eventually(|| node.process_info(p).is_ok_and(|i| i.state == ProcessState::WaitResponse)));
    assert_eq!(node.kill(p), Ok(()));
    assert_eq!(outcome.recv_timeout(PATIENCE).unwrap().unwrap_err(), Error::Terminated);
    assert_eq!(term.recv_timeout(PATIENCE).unwrap(), ExitReason::Kill);
    assert!(eventually(|| !node.is_alive(p)));
    node.stop();
}

/// A future of the test's own, completed from the test thread.
#[derive(Default)]
struct Gate {
    open: std::sync::atomic::AtomicBool,
    waker: std::sync::Mutex<Option<std::task::Waker>>,
}

struct WaitGate(std::sync::Arc<Gate>);

impl std::future::Future for WaitGate {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.open.load(std::sync::atomic::Ordering::SeqCst) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    }
}

/// Awaits the gate inside `handle_message`.
struct Waiter(std::sync::Arc<Gate>, Sender<()>, Sender<ExitReason>);

impl Actor for Waiter {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let _ = self.1.send(());
        WaitGate(self.0.clone()).await;
        Ok(())
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.2.send(reason.clone());
    }
}

#[test]
fn a_process_killed_while_awaiting_its_own_future_still_ends() {
    let node = node("kill5", 2);
    let gate = std::sync::Arc::new(Gate::default());
    let (entered_tx, entered) = channel();
    let (ttx, term) = channel();
    let p = node.spawn(Waiter(gate.clone(), entered_tx, ttx), SpawnOptions::default().worker(1)).unwrap();
    node.send(p, ()).unwrap();
    entered.recv_timeout(PATIENCE).unwrap();
    assert!(asleep(&node.handle(), p));
    // Suspended on a future that is not a call: it counts as asleep and is removed at once.
    assert_eq!(node.kill(p), Ok(()));
    assert!(!node.is_alive(p));
    // Once its future completes, the callback returns and the process ends with `kill`.
    gate.open.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(w) = gate.waker.lock().unwrap().take() {
        w.wake();
    }
    assert_eq!(term.recv_timeout(PATIENCE).unwrap(), ExitReason::Kill);
    node.stop();
}
