//! Call semantics under races (RELIABILITY.md R12): a million calls whose timeouts race their
//! replies. Each call resolves exactly once — with the reply to *its* request or with a timeout —
//! and a late reply never reaches a later call, nor the caller's mailbox.

mod support;

use ergors::{Actor, Context, Error, ExitReason, From, Message, NodeOptions, Pid, SpawnOptions};
use std::sync::mpsc::{Sender, channel};
use std::time::Duration;

const CALLS_PER_CALLER: u64 = 250_000;
const TIMEOUT: Duration = Duration::from_micros(30);

/// Replies to request `seq` with `seq`: at once for some, after a delay around the callers'
/// timeout for others (so that replies and timeouts race), never for a few.
struct Server;

struct Deferred(From, u64);

impl Actor for Server {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let seq = req.downcast::<u64>().map_err(|_| ExitReason::error("u64 expected"))?;
        // A cheap deterministic scramble picks the fate of each request.
        let h = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58; // 0..64
        match h {
            0..=31 => Ok(Some(Message::new(seq))),
            32..=61 => {
                let me = ctx.pid();
                ctx.send_after(me, Deferred(from, seq), Duration::from_micros(h - 17));
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(Deferred(to, seq)) = msg.downcast::<Deferred>() {
            // The caller may have given up; that is not an error here.
            let _ = ctx.send_response(to, seq);
        }
        Ok(())
    }
}

#[derive(Debug, Default, PartialEq)]
struct Tally {
    replies: u64,
    timeouts: u64,
    /// Replies carrying another request's value, other errors, messages in the mailbox.
    wrong: u64,
}

struct Caller {
    server: Pid,
    report: Sender<Tally>,
}

struct Go;

impl Actor for Caller {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if !msg.is::<Go>() {
            // A late reply must never arrive as a message.
            let _ = self.report.send(Tally { wrong: 1, ..Tally::default() });
            return Ok(());
        }
        let mut tally = Tally::default();
        for seq in 0..CALLS_PER_CALLER {
            match ctx.call_timeout(self.server, seq, TIMEOUT).await {
                Ok(reply) if reply.downcast_ref::<u64>() == Some(&seq) => tally.replies += 1,
                Err(Error::Timeout(_)) => tally.timeouts += 1,
                _ => tally.wrong += 1,
            }
        }
        let _ = self.report.send(tally);
        Ok(())
    }
}

#[test]
fn a_million_calls_racing_their_timeouts_each_resolve_exactly_once() {
    let node = ergors::Node::start("race12@localhost", NodeOptions::default().workers(2).pin_workers(false)).unwrap();
    let (tx, rx) = channel();
    // Two pairs across the workers (each side's worker differs), two within one worker.
    let placements = [(0, 1), (1, 0), (0, 0), (1, 1)];
    let mut callers = Vec::new();
    for (cw, sw) in placements {
        let server = node.spawn(Server, SpawnOptions::default().worker(sw)).unwrap();
        let caller = node.spawn(Caller { server, report: tx.clone() }, SpawnOptions::default().worker(cw)).unwrap();
        callers.push(caller);
    }
    for c in &callers {
        node.send(*c, Go).unwrap();
    }
    let mut total = Tally::default();
    for _ in &callers {
        let t = rx.recv_timeout(Duration::from_secs(300)).expect("a caller finished");
        total.replies += t.replies;
        total.timeouts += t.timeouts;
        total.wrong += t.wrong;
    }
    // Nothing straggles in afterwards either (a late reply turned into a message).
    std::thread::sleep(Duration::from_millis(50));
    while let Ok(t) = rx.try_recv() {
        total.wrong += t.wrong;
    }
    assert_eq!(total.wrong, 0, "{total:?}");
    assert_eq!(total.replies + total.timeouts, CALLS_PER_CALLER * callers.len() as u64);
    // Both outcomes happened many times, so the race was exercised.
    assert!(total.replies > 100_000 && total.timeouts > 10_000, "{total:?}");
    node.stop();
}
