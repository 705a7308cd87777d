//! Step 4, item 4: the pool hands what arrives at normal priority to its workers round-robin
//! (messages from their original sender, calls answered by the worker itself), and keeps what
//! arrives at System or Urgent priority for its own behaviour (Ergo's t014 in our words).

mod support;

use ergors::pool::{self, PoolControl, PoolSpec};
use ergors::{Actor, Context, ExitReason, From, Message, Pid, Pool, PoolBehavior, Priority, SpawnOptions};
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender, channel};
use support::agent::{agent, on};
use support::pool::{Kit, Served};
use support::{PATIENCE, node};

fn counts(workers: impl IntoIterator<Item = usize>) -> HashMap<usize, usize> {
    let mut c = HashMap::new();
    for w in workers {
        *c.entry(w).or_insert(0) += 1;
    }
    c
}

#[test]
fn messages_go_round_robin_from_their_sender() {
    let node = node("pool-msgs", 2);
    let kit = Kit::new();
    let pool = node.spawn_wait(Pool::new(kit.spec(4)), SpawnOptions::default()).unwrap();
    assert_eq!(kit.started(), 4);
    let (sender, _seen) = agent(&node, false);
    on(&node, sender, move |ctx| {
        for i in 0..12u64 {
            ctx.send(pool, i).unwrap();
        }
    });
    let handled = kit.handled(12);
    assert_eq!(counts(handled.iter().map(|h| h.worker)), (0..4).map(|w| (w, 3)).collect());
    for h in &handled {
        // The worker sees the process that sent to the pool, not the pool.
        assert_eq!(h.from, sender);
        // In turn: message i went to worker i mod 4 (each worker gets its share in order).
        let i = *h.msg.downcast_ref::<u64>().unwrap() as usize;
        assert_eq!(i % 4, h.worker);
    }
    let info = pool::info(&node, pool).unwrap();
    assert_eq!((info.size, info.forwarded, info.unhandled, info.restarts), (4, 12, 0, 0));
    node.stop();
}

#[test]
fn calls_go_round_robin_and_the_worker_replies() {
    let node = node("pool-calls", 2);
    let kit = Kit::new();
    let pool = node.spawn_wait(Pool::new(kit.spec(5)), SpawnOptions::default()).unwrap();
    let workers = pool::workers(&node, pool).unwrap();
    assert_eq!(workers.len(), 5);
    for i in 0..15 {
        let served = node.call(pool, "work").unwrap().downcast::<Served>().unwrap();
        // Sequential calls: worker i mod 5, in start order, replying itself.
        assert_eq!(served.worker, i % 5);
        assert_eq!(served.pid, workers[i % 5]);
        assert_ne!(served.pid, pool);
    }
    // From inside a process too: the worker's reply reaches the calling process.
    let caller = node.spawn(Caller, SpawnOptions::default()).unwrap();
    let served = call_at(&node, caller, pool, Priority::Main, "work").downcast::<Served>().unwrap();
    assert_eq!(served.pid, workers[0]);
    node.stop();
}

/// A process that makes one call at a given priority and replies with the outcome.
struct Caller;

struct CallAt(Pid, Priority, Message);

impl Actor for Caller {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        let Ok(CallAt(to, priority, req)) = req.downcast::<CallAt>() else { return Ok(None) };
        let own = ctx.send_priority();
        ctx.set_send_priority(priority);
        let reply = ctx.call(to, req).await;
        ctx.set_send_priority(own);
        Ok(Some(Message::new(reply)))
    }
}

/// The pool's own behaviour, as Ergo's t14pool: a positive number adds workers, a negative one
/// removes them, anything else is answered `true`; messages are reported.
struct Own {
    tx: Sender<(Pid, Message)>,
}

impl PoolBehavior for Own {
    async fn handle_message(&mut self, _pool: &mut PoolControl<'_>, from: Pid, msg: Message) -> Result<(), ExitReason> {
        let _ = self.tx.send((from, msg));
        Ok(())
    }
    async fn handle_call(
        &mut self,
        pool: &mut PoolControl<'_>,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        Ok(Some(match req.downcast::<i64>() {
            Ok(n) if n > 0 => Message::new(pool.add_workers(n as usize).await),
            Ok(n) => Message::new(pool.remove_workers(n.unsigned_abs() as usize)),
            Err(_) => Message::new(true),
        }))
    }
}

fn own_pool(node: &ergors::NodeHandle, kit: &Kit, size: usize) -> (Pid, Receiver<(Pid, Message)>) {
    let (tx, rx) = channel();
    let spec: PoolSpec<Own> = kit.spec(size).behavior(Own { tx });
    (node.spawn_wait(Pool::new(spec), SpawnOptions::default()).unwrap(), rx)
}

fn call_at(node: &ergors::NodeHandle, caller: Pid, pool: Pid, priority: Priority, req: impl Send + 'static) -> Message {
    let reply = node.call(caller, CallAt(pool, priority, Message::new(req))).unwrap();
    reply.downcast::<Result<Message, ergors::Error>>().unwrap().unwrap()
}

#[test]
fn high_priorities_reach_the_pool_itself() {
    let node = node("pool-own", 2);
    let kit = Kit::new();
    let (pool, own) = own_pool(&node, &kit, 5);
    let caller = node.spawn(Caller, SpawnOptions::default()).unwrap();
    for priority in [Priority::System, Priority::Urgent] {
        let reply = call_at(&node, caller, pool, priority, "hello");
        assert_eq!(reply.downcast::<bool>().ok(), Some(true));
        node.send_with_priority(pool, "hi", priority).unwrap();
        let (_, msg) = own.recv_timeout(PATIENCE).unwrap();
        assert_eq!(msg.downcast::<&str>().ok(), Some("hi"));
    }
    // At Main, the same request goes to a worker.
    let reply = call_at(&node, caller, pool, Priority::Main, "hello");
    assert_eq!(reply.downcast::<Served>().unwrap().worker, 0);
    // Ergo's t14: add 3 workers through the pool's own request, then 16 calls cycle over 8.
    let reply = call_at(&node, caller, pool, Priority::System, 3i64);
    assert_eq!(reply.downcast::<Result<usize, ergors::PoolError>>().unwrap(), Ok(8));
    // The new ones join the end of the rotation, which goes on from worker 1 (worker 0 took the
    // call above, and went to the end).
    let served: Vec<usize> =
        (0..16).map(|_| node.call(pool, ()).unwrap().downcast::<Served>().unwrap().worker).collect();
    let expect: Vec<usize> = [1, 2, 3, 4, 0, 5, 6, 7].into_iter().cycle().take(16).collect();
    assert_eq!(served, expect);
    // And remove 4 (the next four in the rotation: 1, 2, 3, 4).
    let reply = call_at(&node, caller, pool, Priority::Urgent, -4i64);
    assert_eq!(reply.downcast::<Result<usize, ergors::PoolError>>().unwrap(), Ok(4));
    let served: Vec<usize> =
        (0..8).map(|_| node.call(pool, ()).unwrap().downcast::<Served>().unwrap().worker).collect();
    assert_eq!(served, [0, 5, 6, 7, 0, 5, 6, 7]);
    // Nothing reached the pool's handle_message but the two "hi".
    assert!(own.try_recv().is_err());
    node.stop();
}
