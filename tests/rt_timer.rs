//! `send_after`: delivered after the delay; a cancelled timer never delivers.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions, TimerHandle};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};
use support::*;

struct Scheduler {
    to: Pid,
    handles: Sender<TimerHandle>,
}

enum Cmd {
    After(u32, u64),
    AfterThenCancel(u32, u64),
}

impl Actor for Scheduler {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        match msg.downcast::<Cmd>() {
            Ok(Cmd::After(v, ms)) => {
                let h = ctx.send_after(self.to, v, Duration::from_millis(ms));
                let _ = self.handles.send(h);
            }
            Ok(Cmd::AfterThenCancel(v, ms)) => {
                let h = ctx.send_after(self.to, v, Duration::from_millis(ms));
                assert!(h.cancel(), "cancel before firing succeeds");
                assert!(!h.cancel(), "second cancel is a no-op");
                let _ = self.handles.send(h);
            }
            Err(_) => {}
        }
        Ok(())
    }
}

#[test]
fn send_after_delivers_after_the_delay() {
    let node = node("timer1", 2);
    let (p, rx) = probe();
    let sink = node.spawn(p, SpawnOptions::default().worker(1)).unwrap();
    let (htx, hrx) = channel();
    let s = node.spawn(Scheduler { to: sink, handles: htx }, SpawnOptions::default().worker(0)).unwrap();
    let start = Instant::now();
    node.send(s, Cmd::After(1, 60)).unwrap();
    node.send(s, Cmd::After(2, 10)).unwrap();
    let h1 = hrx.recv_timeout(PATIENCE).unwrap();
    let _h2 = hrx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(recv_msg::<u32>(&rx), (s, 2), "the shorter timer fires first");
    assert_eq!(recv_msg::<u32>(&rx).1, 1);
    assert!(start.elapsed() >= Duration::from_millis(60), "not before its time");
    assert!(h1.is_fired());
    assert!(!h1.cancel(), "cancelling a fired timer reports false");
    node.stop();
}

#[test]
fn cancelled_timer_never_delivers() {
    let node = node("timer2", 1);
    let (p, rx) = probe();
    let sink = node.spawn(p, SpawnOptions::default()).unwrap();
    let (htx, hrx) = channel();
    let s = node.spawn(Scheduler { to: sink, handles: htx }, SpawnOptions::default()).unwrap();
    node.send(s, Cmd::AfterThenCancel(7, 20)).unwrap();
    let h = hrx.recv_timeout(PATIENCE).unwrap();
    // Cancel from another thread too: still refused (already cancelled).
    assert!(!h.cancel());
    node.send(s, Cmd::After(8, 40)).unwrap();
    // The later, uncancelled timer arrives; the cancelled one never does.
    assert_eq!(recv_msg::<u32>(&rx).1, 8);
    std::thread::sleep(Duration::from_millis(30));
    assert!(rx.try_iter().all(|e| !matches!(e, Event::Msg(..))));
    assert!(!h.is_fired());
    node.stop();
}

#[test]
fn cancel_from_another_thread_before_it_fires() {
    let node = node("timer3", 1);
    let (p, rx) = probe();
    let sink = node.spawn(p, SpawnOptions::default()).unwrap();
    let (htx, hrx) = channel();
    let s = node.spawn(Scheduler { to: sink, handles: htx }, SpawnOptions::default()).unwrap();
    node.send(s, Cmd::After(9, 200)).unwrap();
    let h = hrx.recv_timeout(PATIENCE).unwrap();
    assert!(h.cancel());
    std::thread::sleep(Duration::from_millis(300));
    assert!(rx.try_iter().all(|e| !matches!(e, Event::Msg(..))));
    node.stop();
}

/// Sets its flag when dropped: shows when a timer's message is freed.
struct DropFlag(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The "idle timeout" pattern: every message cancels the timer and arms a new one. A million
/// re-arms keep the worker's timer map at a couple of entries (docs/decisions.md D25).
#[test]
fn re_arming_a_timer_a_million_times_keeps_the_timer_map_small() {
    let node = node("timer-rearm", 1);
    let h = node.handle();
    let (a, _arx) = support::agent::agent(&h, false);
    let (max_held, held_after) = support::agent::on(&h, a, |ctx| {
        let me = ctx.pid();
        let mut timer = ctx.send_after(me, 0u32, Duration::from_secs(3600));
        let mut max_held = 0;
        for i in 0..1_000_000u32 {
            assert!(timer.cancel());
            timer = ctx.send_after(me, i, Duration::from_secs(3600));
            max_held = max_held.max(ctx.worker_timers());
        }
        timer.cancel();
        (max_held, ctx.worker_timers())
    });
    assert!(max_held <= 2, "the timer map grew to {max_held} entries");
    assert_eq!(held_after, 0);
    node.stop();
}

/// Cancelled from another thread, timers are purged by their worker; the map stays bounded.
#[test]
fn timers_cancelled_from_another_thread_are_purged() {
    let node = node("timer-remote-cancel", 1);
    let h = node.handle();
    let (a, _arx) = support::agent::agent(&h, false);
    let mut max_held = 0;
    for i in 0..10_000u32 {
        let (timer, held) = support::agent::on(&h, a, move |ctx| {
            let me = ctx.pid();
            (ctx.send_after(me, i, Duration::from_secs(3600)), ctx.worker_timers())
        });
        max_held = max_held.max(held);
        assert!(timer.cancel());
    }
    assert!(max_held <= 4, "the timer map grew to {max_held} entries");
    node.stop();
}

/// A timer set for `Duration::MAX` and cancelled frees its message at once (on its worker), or
/// at the worker's next purge when cancelled from elsewhere.
#[test]
fn cancelling_a_far_timer_frees_its_message() {
    let node = node("timer-max", 1);
    let h = node.handle();
    let (a, _arx) = support::agent::agent(&h, false);
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    let freed_at_once = support::agent::on(&h, a, move |ctx| {
        let me = ctx.pid();
        let timer = ctx.send_after(me, DropFlag(flag.clone()), Duration::MAX);
        assert!(!flag.load(std::sync::atomic::Ordering::SeqCst));
        assert!(timer.cancel());
        flag.load(std::sync::atomic::Ordering::SeqCst)
    });
    assert!(freed_at_once, "the cancelled timer's message is still held");

    let dropped2 = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped2.clone();
    let timer = support::agent::on(&h, a, move |ctx| {
        let me = ctx.pid();
        ctx.send_after(me, DropFlag(flag), Duration::MAX)
    });
    assert!(timer.cancel());
    // The worker purges when it next goes idle; give it something to do.
    support::agent::on(&h, a, |_| ());
    assert!(eventually(|| dropped2.load(std::sync::atomic::Ordering::SeqCst)));
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
    node.stop();
}

/// `send_after` to a name resolves the name when the timer fires (Ergo's `SendAfter`), not when
/// it is set. Timers fire on their worker between process turns, so everything one callback does
/// comes before its timers fire: no timing involved.
#[test]
fn send_after_to_a_name_resolves_it_when_the_timer_fires() {
    use support::agent::{agent, next_msg, on, quiet};
    let node = node("timer-name", 1);
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    let (b, brx) = agent(&h, false);
    let (c, crx) = agent(&h, false);
    // Not registered yet when the timer is set; registered before it fires.
    on(&h, a, move |ctx| {
        ctx.send_after("later", 1u32, Duration::ZERO);
        ctx.node().register_name("later", b).unwrap();
    });
    assert_eq!(next_msg::<u32>(&brx), (a, 1));
    // Moved to another process before it fires: the message follows the name.
    on(&h, a, move |ctx| {
        ctx.send_after("later", 2u32, Duration::ZERO);
        assert_eq!(ctx.node().unregister_name("later"), Ok(b));
        ctx.node().register_name("later", c).unwrap();
    });
    assert_eq!(next_msg::<u32>(&crx), (a, 2));
    // Gone when it fires: dropped.
    on(&h, a, |ctx| {
        ctx.send_after("later", 3u32, Duration::ZERO);
        ctx.node().unregister_name("later").unwrap();
    });
    on(&h, a, |_| ());
    assert!(quiet(&brx) && quiet(&crx));
    // By ProcessId too.
    h.register_name("by-id", b).unwrap();
    let id = h.process_id("by-id");
    on(&h, a, move |ctx| ctx.send_after(id, 4u32, Duration::ZERO));
    assert_eq!(next_msg::<u32>(&brx), (a, 4));
    node.stop();
}

#[test]
fn send_after_to_an_alias_and_with_a_priority() {
    use support::agent::{agent, next_msg, on};
    let node = node("timer-alias", 1);
    let h = node.handle();
    let (a, _arx) = agent(&h, false);
    let (b, brx) = agent(&h, false);
    let alias = on(&h, b, |ctx| ctx.create_alias().unwrap());
    on(&h, a, move |ctx| ctx.send_after(alias, 5u32, Duration::ZERO));
    assert_eq!(next_msg::<u32>(&brx), (a, 5));
    // Both fire in the same round, before `b` runs: the Urgent one overtakes the Main one set
    // before it.
    on(&h, a, move |ctx| {
        ctx.send_after(b, "main", Duration::ZERO);
        ctx.send_after_with_priority(b, "urgent", Duration::ZERO, ergors::Priority::Urgent);
    });
    assert_eq!(next_msg::<&str>(&brx).1, "urgent");
    assert_eq!(next_msg::<&str>(&brx).1, "main");
    // A deleted alias: the timer's message is dropped.
    on(&h, b, move |ctx| ctx.delete_alias(alias)).unwrap();
    on(&h, a, move |ctx| ctx.send_after(alias, 6u32, Duration::ZERO));
    on(&h, a, |_| ());
    assert!(support::agent::quiet(&brx));
    node.stop();
}
