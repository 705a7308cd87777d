//! Workers for the pool tests: each is numbered in start order and reports what it handles
//! into one channel, so that a test counts the work per worker.
#![allow(dead_code)]

use ergors::pool::PoolSpec;
use ergors::{Actor, Context, ExitReason, From, Message, Pid};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

/// What a worker handled: its number, its Pid, the sender and the message.
#[derive(Debug)]
pub struct Handled {
    pub worker: usize,
    pub pid: Pid,
    pub from: Pid,
    pub msg: Message,
}

/// Ends the worker that receives it with this reason.
pub struct Crash(pub ExitReason);

/// A worker's reply to any request: its number and Pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    pub worker: usize,
    pub pid: Pid,
}

pub struct Worker {
    n: usize,
    tx: Sender<Handled>,
    ended: Sender<(usize, ExitReason)>,
}

impl Actor for Worker {
    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(Crash(reason)) = msg.downcast_ref::<Crash>() {
            return Err(reason.clone());
        }
        let _ = self.tx.send(Handled { worker: self.n, pid: ctx.pid(), from, msg });
        Ok(())
    }
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        _req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(Message::new(Served { worker: self.n, pid: ctx.pid() })))
    }
    async fn terminate(&mut self, _ctx: &mut Context, reason: &ExitReason) {
        let _ = self.ended.send((self.n, reason.bare().clone()));
    }
}

/// Makes pool specs whose workers are numbered from 0 in start order.
pub struct Kit {
    started: Arc<AtomicUsize>,
    pub handled: Receiver<Handled>,
    tx: Sender<Handled>,
    pub ended: Receiver<(usize, ExitReason)>,
    ended_tx: Sender<(usize, ExitReason)>,
}

impl Kit {
    pub fn new() -> Self {
        let (tx, handled) = channel();
        let (ended_tx, ended) = channel();
        Kit { started: Arc::new(AtomicUsize::new(0)), handled, tx, ended, ended_tx }
    }

    /// A spec of `size` workers.
    pub fn spec(&self, size: usize) -> PoolSpec {
        let (started, tx, ended) = (self.started.clone(), self.tx.clone(), self.ended_tx.clone());
        PoolSpec::new(move || Worker {
            n: started.fetch_add(1, Ordering::SeqCst),
            tx: tx.clone(),
            ended: ended.clone(),
        })
        .size(size)
    }

    /// Workers started so far.
    pub fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }

    /// The next `n` things the workers handled.
    pub fn handled(&self, n: usize) -> Vec<Handled> {
        (0..n).map(|_| self.handled.recv_timeout(super::PATIENCE).expect("a worker handles it")).collect()
    }
}
