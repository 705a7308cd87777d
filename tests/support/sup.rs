//! Children for the supervisor tests: each reports its start and its end into one channel, so
//! that a test sees the order of starts and stops across children.
#![allow(dead_code)]

use ergors::supervisor::ChildSpec;
use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

/// What a child did.
#[derive(Clone, Debug, PartialEq)]
pub enum Rec {
    Start(String, Pid),
    /// With the bare reason (a child ended by its supervisor's exit sees it wrapped).
    Stop(String, Pid, ExitReason),
    /// Now stuck in a call that nobody answers.
    Blocked(String, Pid),
}

/// Ends the child that receives it, with this reason.
pub struct Crash(pub ExitReason);

/// Makes the child slow to end: it still takes exit signals (even inside a callback, D168), but
/// its `terminate`, once it has reported the stop, waits on a future that never completes until
/// the child is killed (which abandons it).
pub struct Block;

pub struct Child {
    name: String,
    log: Sender<Rec>,
    /// `init` fails while this is above zero (counting down).
    fail: Arc<AtomicUsize>,
    /// Sent `Block`: `terminate` does not finish.
    stuck: bool,
}

impl Actor for Child {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        if self.fail.load(Ordering::SeqCst) > 0 {
            self.fail.fetch_sub(1, Ordering::SeqCst);
            return Err(ExitReason::error("init refused"));
        }
        let _ = self.log.send(Rec::Start(self.name.clone(), ctx.pid()));
        Ok(())
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(Crash(reason)) = msg.downcast_ref::<Crash>() {
            return Err(reason.clone());
        }
        if msg.is::<Block>() {
            self.stuck = true;
            let _ = self.log.send(Rec::Blocked(self.name.clone(), ctx.pid()));
        }
        Ok(())
    }
    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        let _ = self.log.send(Rec::Stop(self.name.clone(), ctx.pid(), reason.bare().clone()));
        if self.stuck {
            std::future::pending::<()>().await;
        }
    }
}

/// Makes child specs that all log into one channel.
pub struct Kit {
    pub tx: Sender<Rec>,
    pub rx: Receiver<Rec>,
}

impl Kit {
    pub fn new() -> Kit {
        let (tx, rx) = channel();
        Kit { tx, rx }
    }

    /// A child spec named `name`.
    pub fn child(&self, name: &str) -> ChildSpec {
        self.failing(name, Arc::new(AtomicUsize::new(0)))
    }

    /// A child spec whose `init` fails as long as `fail` is above zero.
    pub fn failing(&self, name: &str, fail: Arc<AtomicUsize>) -> ChildSpec {
        let (tx, n) = (self.tx.clone(), name.to_string());
        ChildSpec::new(name, move || Child { name: n.clone(), log: tx.clone(), fail: fail.clone(), stuck: false })
            .options(SpawnOptions::default())
    }

    /// The next record.
    pub fn next(&self) -> Rec {
        self.rx.recv_timeout(super::PATIENCE).expect("a child start or stop")
    }

    /// The next record, which must be a start of `name`: its Pid.
    pub fn started(&self, name: &str) -> Pid {
        match self.next() {
            Rec::Start(n, pid) if n == name => pid,
            other => panic!("expected {name} to start, got {other:?}"),
        }
    }

    /// The next record, which must be a stop of `name`: its Pid and reason.
    pub fn stopped(&self, name: &str) -> (Pid, ExitReason) {
        match self.next() {
            Rec::Stop(n, pid, r) if n == name => (pid, r),
            other => panic!("expected {name} to stop, got {other:?}"),
        }
    }

    /// True if no child starts or stops for a short while.
    pub fn quiet(&self) -> bool {
        self.rx.recv_timeout(Duration::from_millis(50)).is_err()
    }
}
