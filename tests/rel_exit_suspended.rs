//! Exit signals to a process suspended inside a callback (D168): one it does not trap (a link
//! firing, `send_exit`) ends it at once, whatever the callback awaits (a sleep, a blocking job,
//! a call of its own, the reply it owes); `terminate` runs with the exit and its own links fire.
//! A process that traps exits gets the `MessageExit` after its callback returns. Ergo delivers
//! exit signals through the Urgent queue and a process that does not trap them ends on taking
//! one; a Go callback blocked in a call cannot be left, ours can (the difference is recorded in
//! D168).

mod support;

use ergors::{Actor, Context, Error, ExitReason, From, Message, MessageExit, NodeOptions, Pid, SpawnOptions, Target};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::agent::*;
use support::*;

/// Long enough never to end within a test: a process still waiting on it was not interrupted.
const FOREVER: Duration = Duration::from_secs(3600);

/// What a `Suspender` waits on inside its callback.
#[derive(Clone)]
enum Wait {
    Sleep,
    /// A blocking job that returns when the test sends on its channel.
    Blocking(Arc<Mutex<Receiver<()>>>),
    /// A call to a process that never answers.
    Call(Pid),
}

#[derive(Debug, PartialEq)]
enum Step {
    /// The callback is about to suspend.
    Suspended,
    /// The callback finished its wait and returned.
    Resumed,
    /// A trapped exit signal, as a message.
    Exit(MessageExit),
    /// `terminate` ran with this reason; `calls` says whether a call made in it worked.
    Terminated(ExitReason, bool),
}

/// On any message, awaits its `Wait` inside `handle_message`; reports each step.
struct Suspender {
    wait: Wait,
    trap: bool,
    link_to: Option<Pid>,
    /// A process that answers calls: `terminate` calls it, to show the call slot is usable.
    echo: Option<Pid>,
    tx: Sender<Step>,
}

impl Actor for Suspender {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        ctx.set_trap_exit(self.trap);
        if let Some(to) = self.link_to {
            ctx.link(to).map_err(ExitReason::error)?;
        }
        Ok(())
    }

    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(exit) = msg.downcast::<MessageExit>() {
            let _ = self.tx.send(Step::Exit(exit));
            return Ok(());
        }
        let _ = self.tx.send(Step::Suspended);
        match self.wait.clone() {
            Wait::Sleep => ctx.sleep(FOREVER).await,
            Wait::Blocking(release) => {
                let job = ctx.spawn_blocking(move || {
                    let _ = release.lock().map(|rx| rx.recv_timeout(PATIENCE));
                });
                job.await.map_err(ExitReason::error)?;
            }
            Wait::Call(to) => {
                let _ = ctx.call_timeout(to, 1u64, FOREVER).await;
            }
        }
        let _ = self.tx.send(Step::Resumed);
        Ok(())
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        _req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        // Holds the caller's request across a long sleep.
        let _ = self.tx.send(Step::Suspended);
        ctx.sleep(FOREVER).await;
        let _ = self.tx.send(Step::Resumed);
        Ok(Some(Message::new(())))
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let calls = match self.echo {
            Some(echo) => ctx.call(echo, 7u64).await.is_ok_and(|r| r.downcast::<u64>().ok() == Some(7)),
            None => true,
        };
        let _ = self.tx.send(Step::Terminated(reason.clone(), calls));
    }
}

/// Answers no call (keeps every request unanswered).
struct Mute;

impl Actor for Mute {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        _req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(None)
    }
}

fn suspender(node: &ergors::NodeHandle, wait: Wait, trap: bool, link_to: Option<Pid>) -> (Pid, Receiver<Step>) {
    let (tx, rx) = channel();
    let s = Suspender { wait, trap, link_to, echo: None, tx };
    (node.spawn(s, SpawnOptions::default()).expect("spawn"), rx)
}

fn step(rx: &Receiver<Step>) -> Step {
    rx.recv_timeout(PATIENCE).expect("the process reports in time (a suspended one was not interrupted)")
}

/// `from` (an agent) sends `to` an exit signal (`Context::send_exit`).
fn send_exit(h: &ergors::NodeHandle, from: Pid, to: Pid, reason: ExitReason) {
    on(h, from, move |ctx| ctx.send_exit(to, reason)).expect("send_exit");
}

/// The reason `terminate` got for an exit signal from `from` with `reason`.
fn exit_from(from: Pid, reason: ExitReason) -> ExitReason {
    ExitReason::Exit(Box::new(MessageExit { target: Target::Pid(from), reason }))
}

#[test]
fn a_link_firing_ends_a_process_asleep_in_a_callback_and_its_own_links_fire() {
    let node = node("exs1", 2);
    let h = node.handle();
    let (crasher, _crx) = agent(&h, false);
    let (sleeper, rx) = suspender(&h, Wait::Sleep, false, Some(crasher));
    // Someone linked to the sleeper, trapping: it hears the sleeper's end.
    let (watcher, wrx) = agent(&h, true);
    on(&h, watcher, move |ctx| ctx.link(sleeper)).unwrap();
    h.send(sleeper, "go").unwrap();
    assert_eq!(step(&rx), Step::Suspended);

    let boom = ExitReason::Error("boom".into());
    h.send(crasher, Stop(boom.clone())).unwrap();
    // Ends now, not in an hour: terminate runs with the exit, the watcher gets the bare reason.
    assert_eq!(step(&rx), Step::Terminated(exit_from(crasher, boom.clone()), true));
    assert_eq!(next_msg::<MessageExit>(&wrx).1, MessageExit { target: Target::Pid(sleeper), reason: boom });
    assert!(eventually(|| !h.is_alive(sleeper)));
    node.stop();
}

#[test]
fn send_exit_ends_a_process_awaiting_a_blocking_job() {
    let node = node("exs2", 2);
    let h = node.handle();
    let (release, job_rx) = channel();
    let (p, rx) = suspender(&h, Wait::Blocking(Arc::new(Mutex::new(job_rx))), false, None);
    h.send(p, "go").unwrap();
    assert_eq!(step(&rx), Step::Suspended);
    let reason = ExitReason::Error("enough".into());
    let (sender, _srx) = agent(&h, false);
    send_exit(&h, sender, p, reason.clone());
    assert_eq!(step(&rx), Step::Terminated(exit_from(sender, reason), true));
    // The job itself cannot be stopped: it was detached, and ends when released.
    let _ = release.send(());
    node.stop();
}

#[test]
fn a_trapping_process_gets_the_exit_after_its_callback() {
    let node = node("exs3", 2);
    let h = node.handle();
    let (release, job_rx) = channel();
    let (p, rx) = suspender(&h, Wait::Blocking(Arc::new(Mutex::new(job_rx))), true, None);
    h.send(p, "go").unwrap();
    assert_eq!(step(&rx), Step::Suspended);
    let reason = ExitReason::Error("noted".into());
    let (sender, _srx) = agent(&h, false);
    send_exit(&h, sender, p, reason.clone());
    // The callback is left to finish: nothing happens until the job returns.
    assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "the callback was not interrupted");
    release.send(()).unwrap();
    assert_eq!(step(&rx), Step::Resumed);
    assert_eq!(step(&rx), Step::Exit(MessageExit { target: Target::Pid(sender), reason }));
    assert!(h.is_alive(p), "a trapped exit does not end it");
    node.stop();
}

#[test]
fn a_process_waiting_on_its_own_call_ends_and_its_call_slot_is_clean() {
    let node = node("exs4", 2);
    let h = node.handle();
    let mute = h.spawn(Mute, SpawnOptions::default()).unwrap();
    let (echo, _erx) = agent(&h, false);
    let (tx, rx) = channel();
    let s = Suspender { wait: Wait::Call(mute), trap: false, link_to: None, echo: Some(echo), tx };
    let p = h.spawn(s, SpawnOptions::default()).unwrap();
    h.send(p, "go").unwrap();
    assert_eq!(step(&rx), Step::Suspended);
    let reason = ExitReason::Error("cut".into());
    send_exit(&h, echo, p, reason.clone());
    // Its abandoned call leaves nothing behind: the call `terminate` makes is answered.
    assert_eq!(step(&rx), Step::Terminated(exit_from(echo, reason), true));
    node.stop();
}

#[test]
fn the_caller_of_a_handler_ended_by_an_exit_is_told_at_once() {
    // A call timeout far beyond the test's patience: the caller hears `Terminated`, not a
    // timeout.
    let opts = NodeOptions::default().workers(2).pin_workers(false).call_timeout(Duration::from_secs(600));
    let node = ergors::Node::start("exs5@localhost", opts).unwrap();
    let h = node.handle();
    let (crasher, _crx) = agent(&h, false);
    let (p, rx) = suspender(&h, Wait::Sleep, false, Some(crasher));
    let (done_tx, done_rx) = channel();
    {
        let h = h.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(h.call(p, 1u64));
        });
    }
    assert_eq!(step(&rx), Step::Suspended);
    h.send(crasher, Stop(ExitReason::Error("gone".into()))).unwrap();
    assert_eq!(done_rx.recv_timeout(PATIENCE).expect("the call ends").err(), Some(Error::Terminated));
    assert!(matches!(step(&rx), Step::Terminated(ExitReason::Exit(_), true)));
    node.stop();
}

#[test]
fn an_exit_to_a_process_between_messages_ends_it_and_a_trapped_one_is_a_message() {
    // Not inside a callback: the exit is taken as before. Trapping: a message, and it goes on.
    let node = node("exs6", 2);
    let h = node.handle();
    let (sender, _srx) = agent(&h, false);
    let (p, rx) = suspender(&h, Wait::Sleep, false, None);
    let reason = ExitReason::Error("idle".into());
    send_exit(&h, sender, p, reason.clone());
    assert_eq!(step(&rx), Step::Terminated(exit_from(sender, reason), true));

    let (q, qrx) = agent(&h, true);
    send_exit(&h, sender, q, ExitReason::Normal);
    assert_eq!(
        next_msg::<MessageExit>(&qrx).1,
        MessageExit { target: Target::Pid(sender), reason: ExitReason::Normal }
    );
    assert!(on(&h, q, |ctx| ctx.trap_exit()), "still serving, still trapping");
    node.stop();
}

/// Takes an exit, then hangs in `terminate` (on a sleep) until killed.
struct SlowEnd {
    tx: Sender<Step>,
}

impl Actor for SlowEnd {
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let _ = self.tx.send(Step::Terminated(reason.clone(), true));
        ctx.sleep(FOREVER).await;
        let _ = self.tx.send(Step::Resumed);
    }
}

#[test]
fn a_kill_ends_a_process_suspended_in_terminate_and_fails_what_it_was_sent() {
    // D169: the kill abandons `terminate`, and the process finishes: a request that reached it
    // after its loop ended is failed at once, not left to the caller's (long) timeout.
    let opts = NodeOptions::default().workers(2).pin_workers(false).call_timeout(Duration::from_secs(600));
    let node = ergors::Node::start("exs7@localhost", opts).unwrap();
    let h = node.handle();
    let (sender, _srx) = agent(&h, false);
    let (tx, rx) = channel();
    let p = h.spawn(SlowEnd { tx }, SpawnOptions::default()).unwrap();
    send_exit(&h, sender, p, ExitReason::Error("stop".into()));
    assert!(matches!(step(&rx), Step::Terminated(ExitReason::Exit(_), true)));
    let (done_tx, done_rx) = channel();
    {
        let h = h.clone();
        std::thread::spawn(move || {
            let _ = done_tx.send(h.call(p, 1u64));
        });
    }
    // Queued, never to be read by the loop (it has ended).
    assert!(eventually(|| h.process_info(p).is_ok_and(|i| i.mailbox.iter().sum::<usize>() == 1)));
    node.kill(p).unwrap();
    let outcome = done_rx.recv_timeout(PATIENCE).expect("the call ends").err();
    assert_eq!(outcome, Some(Error::Terminated));
    assert!(eventually(|| !h.is_alive(p)));
    assert!(rx.try_recv().is_err(), "terminate was abandoned, not resumed");
    node.stop();
}
