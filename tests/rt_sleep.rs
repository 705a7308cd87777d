//! `Context::sleep`: suspends only the sleeping process, for at least the time asked; a sleep
//! dropped early (lost a race in a `select`) leaves no timer behind.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};
use support::*;

struct Sleeper(Sender<(u64, Duration)>);

impl Actor for Sleeper {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(ms) = msg.downcast::<u64>() {
            let start = Instant::now();
            ctx.sleep(Duration::from_millis(ms)).await;
            let _ = self.0.send((ms, start.elapsed()));
        }
        Ok(())
    }
}

#[test]
fn sleep_waits_at_least_its_time_and_suspends_only_its_process() {
    // One worker: while the sleeper sleeps, another process on the same worker answers.
    let node = node("sleep1", 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let sleeper = node.spawn(Sleeper(tx), SpawnOptions::default()).unwrap();
    let (p, prx) = probe();
    let other = node.spawn(p, SpawnOptions::default()).unwrap();
    node.send(sleeper, 80u64).unwrap();
    node.send(other, 1u32).unwrap();
    assert_eq!(recv_msg::<u32>(&prx).1, 1, "the worker runs other processes meanwhile");
    assert!(rx.try_recv().is_err(), "the sleeper is still asleep");
    let (ms, took) = rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(ms, 80);
    assert!(took >= Duration::from_millis(80), "woke after {took:?}");
    // Zero: completes at once.
    node.send(sleeper, 0u64).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap().0, 0);
    node.stop();
}

struct Racer(Sender<(u8, usize)>);

impl Actor for Racer {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let won = first_of(ctx.sleep(Duration::from_millis(10)), ctx.sleep(Duration::from_secs(3600))).await;
        // The hour-long sleep was dropped: its timer is gone from the worker's map.
        let _ = self.0.send((won, ctx.worker_timers()));
        Ok(())
    }
}

#[test]
fn a_sleep_dropped_early_frees_its_timer() {
    let node = node("sleep2", 1);
    let (tx, rx) = std::sync::mpsc::channel();
    let racer = node.spawn(Racer(tx), SpawnOptions::default()).unwrap();
    for _ in 0..3 {
        node.send(racer, ()).unwrap();
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), (1, 0), "the short sleep wins; no timer left");
    }
    node.stop();
}

/// Sleeps an hour inside a callback; reports its end.
struct LongSleeper(Sender<ExitReason>);

impl Actor for LongSleeper {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        ctx.sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.0.send(reason.clone());
    }
}

#[test]
fn kill_ends_a_process_suspended_in_a_callback() {
    // Not in a call: nothing would ever resume the callback; the kill abandons it, `terminate`
    // runs with Kill, and watchers see Kill.
    let node = node("sleep3", 2);
    let (tx, rx) = std::sync::mpsc::channel();
    let sleeper = node.spawn(LongSleeper(tx), SpawnOptions::default()).unwrap();
    let (watcher, seen) = support::agent::agent(&node, false);
    support::agent::on(&node, watcher, move |ctx| ctx.monitor(sleeper)).unwrap();
    node.send(sleeper, ()).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    node.kill(sleeper).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), ExitReason::Kill);
    let down = support::agent::next_msg::<ergors::MessageDown>(&seen).1;
    assert_eq!(down.reason, ExitReason::Kill);
    assert!(eventually(|| node.info().processes_total == 1));
    node.stop();
}

/// Answers a call only after an hour.
struct SlowServer;

impl Actor for SlowServer {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: ergors::From,
        _req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        ctx.sleep(Duration::from_secs(3600)).await;
        Ok(Some(Message::new(())))
    }
}

#[test]
fn killing_a_process_suspended_in_handle_call_fails_the_call_at_once() {
    let node = node("sleep4", 2);
    let server = node.spawn(SlowServer, SpawnOptions::default()).unwrap();
    let handle = node.handle();
    let caller = std::thread::spawn(move || handle.call_timeout(server, (), Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(50));
    node.kill(server).unwrap();
    // Told by the abandoned handler's guard, not by the 60 s timeout.
    assert_eq!(caller.join().unwrap().map(|_| ()), Err(ergors::Error::Terminated));
    node.stop();
}
