//! Stress of the sleep/wake protocol: receivers that fall asleep and are woken over and over by
//! senders on plain threads and on both workers. Every message must arrive exactly once and in
//! per-sender order; a lost wake-up shows as a hang (caught by the timeout), a double schedule
//! as a duplicate or a panic.

mod support;

use ergors::{Actor, Context, ExitReason, Message, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use support::*;

const RECEIVERS: usize = 64;
const THREADS: usize = 4;
const PER_THREAD: usize = 40_000;
const PROCS: usize = 4;
const PER_PROC: usize = 20_000;

struct Counter {
    /// Next expected sequence number per sender (threads first, then processes).
    next: Vec<u64>,
    done: Sender<(usize, Vec<u64>)>,
    idx: usize,
}

impl Actor for Counter {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Report>() {
            let _ = self.done.send((self.idx, self.next.clone()));
            return Ok(());
        }
        let (sender, seq) = msg.downcast::<(usize, u64)>().map_err(|_| ExitReason::error("bad message"))?;
        if self.next[sender] != seq {
            let _ = self.done.send((usize::MAX, vec![sender as u64, self.next[sender], seq]));
            return Err(ExitReason::error("out of order"));
        }
        self.next[sender] += 1;
        Ok(())
    }
}

struct Report;

/// A process sender: spreads its messages over every receiver.
struct Spray {
    id: usize,
    to: Vec<Pid>,
    done: Sender<()>,
}

impl Actor for Spray {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, _msg: Message) -> Result<(), ExitReason> {
        let mut seqs = vec![0u64; self.to.len()];
        for i in 0..PER_PROC {
            let r = (i * 7 + self.id) % self.to.len();
            ctx.send(self.to[r], (THREADS + self.id, seqs[r])).map_err(ExitReason::error)?;
            seqs[r] += 1;
        }
        let _ = self.done.send(());
        Ok(())
    }
}

#[test]
fn receivers_woken_over_and_over_lose_and_duplicate_nothing() {
    let node = node("wake1", 2);
    let (tx, rx) = channel();
    let receivers: Vec<Pid> = (0..RECEIVERS)
        .map(|idx| {
            let c = Counter { next: vec![0; THREADS + PROCS], done: tx.clone(), idx };
            node.spawn(c, SpawnOptions::default().worker(idx % 2)).unwrap()
        })
        .collect();
    let (ptx, prx) = channel();
    let sprays: Vec<Pid> = (0..PROCS)
        .map(|id| {
            let s = Spray { id, to: receivers.clone(), done: ptx.clone() };
            node.spawn(s, SpawnOptions::default().worker(id % 2)).unwrap()
        })
        .collect();
    for s in &sprays {
        node.send(*s, ()).unwrap();
    }
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let h = node.handle();
            let to = receivers.clone();
            std::thread::spawn(move || {
                let mut seqs = vec![0u64; to.len()];
                for i in 0..PER_THREAD {
                    let r = (i * 13 + t) % to.len();
                    h.send(to[r], (t, seqs[r])).unwrap();
                    seqs[r] += 1;
                    if i.is_multiple_of(512) {
                        // Give receivers time to drain and fall asleep, so wake-ups keep happening.
                        std::thread::yield_now();
                    }
                }
                seqs
            })
        })
        .collect();
    let sent_by_threads: Vec<Vec<u64>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    for _ in 0..PROCS {
        prx.recv_timeout(PATIENCE).unwrap();
    }
    // Reports are queued behind every message already sent, per sender (the node's own queue
    // order), so when they come back each receiver has seen everything from the threads.
    for r in &receivers {
        node.send(*r, Report).unwrap();
    }
    let mut total = 0u64;
    for _ in 0..RECEIVERS {
        let (idx, next) = rx.recv_timeout(PATIENCE).unwrap();
        assert_ne!(idx, usize::MAX, "out of order: sender {} expected {} got {}", next[0], next[1], next[2]);
        for t in 0..THREADS {
            assert_eq!(next[t], sent_by_threads[t][idx], "thread {t} → receiver {idx}");
        }
        total += next.iter().sum::<u64>();
    }
    // Process senders' messages may still be in flight relative to the report (different
    // senders); count them after the fact.
    assert!(eventually(|| {
        for r in &receivers {
            node.send(*r, Report).unwrap();
        }
        let sum: u64 = (0..RECEIVERS).map(|_| rx.recv_timeout(PATIENCE).unwrap().1.iter().sum::<u64>()).sum();
        sum == (THREADS * PER_THREAD + PROCS * PER_PROC) as u64
    }));
    assert!(total <= (THREADS * PER_THREAD + PROCS * PER_PROC) as u64);
    node.stop();
}
