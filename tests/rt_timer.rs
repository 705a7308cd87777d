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
