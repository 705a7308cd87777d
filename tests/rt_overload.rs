//! Step 3b: a producer faster than its consumer is held back, nothing is lost, memory stays
//! bounded, cycles finish, a stalled consumer does not park its producers for good, and
//! `send_wait` waits for room (docs/decisions.md D70–D72).

mod support;

use ergors::{Actor, Context, Error, ExitReason, Message, Node, NodeOptions, Pid, SpawnOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::time::{Duration, Instant};
use support::{PATIENCE, eventually};

fn node(name: &str, high_water: usize, hold_max: Duration) -> Node {
    let opts = NodeOptions::default()
        .workers(2)
        .pin_workers(false)
        .spin(Duration::from_micros(20))
        .mailbox_high_water(high_water)
        .mailbox_hold_max(hold_max);
    Node::start(&format!("{name}@localhost"), opts).expect("node starts")
}

struct Go;
struct Next;

/// Sends `batch` numbered messages to `to` per turn, then `Next` to itself, `n` in all; counts
/// its turns.
struct Streamer {
    id: usize,
    to: Pid,
    n: u64,
    sent: u64,
    batch: u64,
    turns: Arc<AtomicU64>,
}

impl Actor for Streamer {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Go>() || msg.is::<Next>() {
            self.turns.fetch_add(1, Ordering::Relaxed);
            let end = (self.sent + self.batch).min(self.n);
            for seq in self.sent..end {
                ctx.send(self.to, (self.id, seq)).map_err(ExitReason::error)?;
            }
            self.sent = end;
            if self.sent < self.n {
                let me = ctx.pid();
                ctx.send(me, Next).map_err(ExitReason::error)?;
            }
        }
        Ok(())
    }
}

/// Checks each sender's order, counts, and spins `work` per message (slower than its senders).
struct Sink {
    next: Vec<u64>,
    got: u64,
    expect: u64,
    work: Duration,
    done: Sender<Result<(), String>>,
}

impl Actor for Sink {
    async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(&(id, seq)) = msg.downcast_ref::<(usize, u64)>() {
            if self.next[id] != seq {
                let _ = self.done.send(Err(format!("sender {id}: got {seq}, expected {}", self.next[id])));
            }
            self.next[id] = seq + 1;
            self.got += 1;
            let t = Instant::now();
            while t.elapsed() < self.work {
                std::hint::spin_loop();
            }
            if self.got == self.expect {
                let _ = self.done.send(Ok(()));
            }
        }
        Ok(())
    }
}

/// 64 senders on one worker stream to 16 receivers on the other (fan-in of 4); the receivers
/// are slower. Every message arrives, in order per sender; the senders are held back; and no
/// receiver's queue grows beyond the high-water mark plus what its senders send in one callback.
#[test]
fn soak_fan_in_across_workers_keeps_order_count_and_bounded_queues() {
    const SENDERS: usize = 64;
    const RECEIVERS: usize = 16;
    const PER_SENDER: u64 = 6_000;
    const BATCH: u64 = 200;
    const HIGH: usize = 512;
    let node = node("overload-soak", HIGH, Duration::from_secs(60));
    let (done_tx, done_rx) = channel();
    let turns = Arc::new(AtomicU64::new(0));
    let sinks: Vec<Pid> = (0..RECEIVERS)
        .map(|r| {
            let expect = (r..SENDERS).step_by(RECEIVERS).count() as u64 * PER_SENDER;
            let sink =
                Sink { next: vec![0; SENDERS], got: 0, expect, work: Duration::from_nanos(300), done: done_tx.clone() };
            node.spawn(sink, SpawnOptions::default().worker(1)).unwrap()
        })
        .collect();
    let senders: Vec<Pid> = (0..SENDERS)
        .map(|id| {
            let s =
                Streamer { id, to: sinks[id % RECEIVERS], n: PER_SENDER, sent: 0, batch: BATCH, turns: turns.clone() };
            node.spawn(s, SpawnOptions::default().worker(0)).unwrap()
        })
        .collect();
    // Each receiver is fed by SENDERS / RECEIVERS senders: each may overshoot the mark by one
    // callback's sends before it is held, and the mark is noticed within 64 claims (the queue
    // measures itself on every 64th: D70).
    let bound = HIGH + 64 + (SENDERS / RECEIVERS) * BATCH as usize;
    let watch = QueueWatch::start(&node, sinks.clone());
    for s in &senders {
        node.send(*s, Go).unwrap();
    }
    for _ in 0..RECEIVERS {
        done_rx.recv_timeout(PATIENCE).expect("every receiver gets everything").expect("per-sender order");
    }
    let max = watch.stop();
    let info = node.info();
    assert!(info.held_turns > 0, "the senders were never held back");
    assert_eq!(info.holds_expired, 0, "a hold ran out although every consumer kept reading");
    assert!(max <= bound, "a receiver's queue reached {max} messages (bound {bound})");
    let held: Duration = sinks.iter().map(|s| node.process_info(*s).unwrap().producers_held_back).sum();
    assert!(held > Duration::ZERO, "no receiver shows its producers held back");
    node.stop();
}

/// A ring of processes that feed each other faster than each can drain: every one of them is
/// over the mark and would wait for the next. The process whose hold would close the cycle is
/// not held (it sees the chain of waits come back to itself), so the ring cannot wait on itself,
/// and it finishes without running out any hold.
#[test]
fn feedback_cycle_finishes() {
    const RING: usize = 3;
    const BURST: u64 = 4_000;
    const HOPS: u32 = 5;
    struct Hop {
        next: Option<Pid>,
        left: Arc<AtomicU64>,
        done: Sender<()>,
    }
    struct Link(Pid);
    struct Burst;
    impl Actor for Hop {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if let Some(Link(p)) = msg.downcast_ref::<Link>() {
                self.next = Some(*p);
            } else if msg.is::<Burst>() {
                for _ in 0..BURST {
                    ctx.send(self.next.unwrap(), HOPS).map_err(ExitReason::error)?;
                }
            } else if let Some(&ttl) = msg.downcast_ref::<u32>() {
                if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let _ = self.done.send(());
                }
                if ttl > 0 {
                    ctx.send(self.next.unwrap(), ttl - 1).map_err(ExitReason::error)?;
                }
            }
            Ok(())
        }
    }
    let node = node("overload-cycle", 64, Duration::from_secs(600));
    let left = Arc::new(AtomicU64::new(RING as u64 * BURST * u64::from(HOPS + 1)));
    let (done_tx, done_rx) = channel();
    let ring: Vec<Pid> = (0..RING)
        .map(|_| {
            node.spawn(Hop { next: None, left: left.clone(), done: done_tx.clone() }, SpawnOptions::default()).unwrap()
        })
        .collect();
    for (i, p) in ring.iter().enumerate() {
        node.send(*p, Link(ring[(i + 1) % RING])).unwrap();
    }
    for p in &ring {
        node.send(*p, Burst).unwrap();
    }
    done_rx.recv_timeout(PATIENCE).expect("the cycle finishes: no process waits for itself through the ring");
    assert_eq!(left.load(Ordering::Relaxed), 0);
    let info = node.info();
    assert!(info.held_turns > 0, "nobody was held back: the test did not build a cycle under pressure");
    assert_eq!(info.holds_expired, 0, "the cycle only finished because holds ran out");
    node.stop();
}

/// A consumer that stops reading (it waits on a call nobody answers) cannot park its producers
/// for good: they run again once `mailbox_hold_max` passes, and the backlog and the hold show in
/// inspection. When the consumer reads again, everything arrives.
#[test]
fn stalled_consumer_does_not_park_its_producers_forever() {
    const N: u64 = 40_000;
    let node = node("overload-stall", 256, Duration::from_millis(20));
    let (done_tx, done_rx) = channel();
    let consumer = stalled(&node, Duration::from_millis(1500), SpawnOptions::default().worker(1), N, done_tx);
    let turns = Arc::new(AtomicU64::new(0));
    let producer = node
        .spawn(
            Streamer { id: 0, to: consumer, n: N, sent: 0, batch: 100, turns: turns.clone() },
            SpawnOptions::default().worker(0),
        )
        .unwrap();
    node.send(producer, Go).unwrap();
    // While the consumer is stuck, the producer is held but keeps getting turns (one per hold).
    assert!(eventually(|| turns.load(Ordering::Relaxed) >= 5), "the producer stopped for good");
    let p = node.process_info(producer).unwrap();
    let c = node.process_info(consumer).unwrap();
    assert_eq!(c.state, ergors::ProcessState::WaitResponse, "the consumer was still stuck");
    assert!(c.mailbox[2] >= 256, "the backlog shows in inspection: {:?}", c.mailbox);
    assert!(p.held_back > Duration::ZERO || p.held_by == Some(consumer), "the hold shows in inspection");
    assert!(node.info().holds_expired > 0);
    done_rx.recv_timeout(PATIENCE).expect("everything arrives once the consumer reads again");
    assert!(node.process_info(consumer).unwrap().producers_held_back > Duration::ZERO);
    node.stop();
}

/// A process that answers no call: whoever calls it waits out its timeout.
struct Mute;
impl Actor for Mute {}

/// Stops reading for `for_` when it gets `Stall` (it waits on a call nobody answers).
struct Stuck {
    mute: Pid,
    for_: Duration,
    got: u64,
    expect: u64,
    done: Sender<()>,
}
struct Stall;

impl Actor for Stuck {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if msg.is::<Stall>() {
            let _ = ctx.call_timeout(self.mute, 0u8, self.for_).await;
        } else {
            self.got += 1;
            if self.got == self.expect {
                let _ = self.done.send(());
            }
        }
        Ok(())
    }
}

/// A process that stops reading for `for_` once started (it waits on a call nobody answers),
/// spawned with `opts`; returns once it is stuck. It tells `done` when it has `expect` messages.
fn stalled(node: &Node, for_: Duration, opts: SpawnOptions, expect: u64, done: Sender<()>) -> Pid {
    let mute = node.spawn(Mute, SpawnOptions::default()).unwrap();
    let p = node.spawn(Stuck { mute, for_, got: 0, expect, done }, opts).unwrap();
    node.send(p, Stall).unwrap();
    assert!(eventually(|| node.process_info(p).is_ok_and(|i| i.state == ergors::ProcessState::WaitResponse)));
    p
}

/// Samples the Main queue length of `pids` until stopped; `stop()` returns the longest seen.
struct QueueWatch {
    watching: Arc<AtomicBool>,
    max_len: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl QueueWatch {
    fn start(node: &Node, pids: Vec<Pid>) -> QueueWatch {
        let watching = Arc::new(AtomicBool::new(true));
        let max_len = Arc::new(AtomicUsize::new(0));
        let (handle, w, m) = (node.handle(), watching.clone(), max_len.clone());
        let thread = std::thread::spawn(move || {
            while w.load(Ordering::Relaxed) {
                for p in &pids {
                    if let Ok(info) = handle.process_info(*p) {
                        m.fetch_max(info.mailbox[2], Ordering::Relaxed);
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        QueueWatch { watching, max_len, thread }
    }

    fn stop(self) -> usize {
        self.watching.store(false, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.max_len.load(Ordering::Relaxed)
    }
}

/// A held producer still takes exit signals at once (they are never throttled), and the node
/// sending to a process with a long queue is not held back.
#[test]
fn exit_signals_reach_a_held_producer() {
    let node = node("overload-exit", 64, Duration::from_secs(600));
    let consumer =
        stalled(&node, Duration::from_millis(1500), SpawnOptions::default().worker(1), u64::MAX, channel().0);
    let turns = Arc::new(AtomicU64::new(0));
    let producer = node
        .spawn(
            Streamer { id: 0, to: consumer, n: 1_000_000, sent: 0, batch: 1000, turns: turns.clone() },
            SpawnOptions::default().worker(0),
        )
        .unwrap();
    node.send(producer, Go).unwrap();
    assert!(eventually(|| node.process_info(producer).is_ok_and(|i| i.held_by == Some(consumer))));
    for i in 0..1000u32 {
        node.send(consumer, i).unwrap();
    }
    node.send_exit(producer, ExitReason::error("stop")).unwrap();
    assert!(eventually(|| !node.is_alive(producer)), "a held producer did not take its exit signal");
    assert_eq!(turns.load(Ordering::Relaxed), 1, "the producer ran again before its exit");
    assert_eq!(node.info().holds_expired, 0);
    node.stop();
}

/// A process sending a burst to itself is never held (nobody else would drain it).
#[test]
fn sends_to_itself_are_not_held() {
    struct Selfish {
        left: u32,
        done: Sender<()>,
    }
    impl Actor for Selfish {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if msg.is::<Go>() {
                let me = ctx.pid();
                for _ in 0..self.left {
                    ctx.send(me, 1u32).map_err(ExitReason::error)?;
                }
            } else {
                self.left -= 1;
                if self.left == 0 {
                    let _ = self.done.send(());
                }
            }
            Ok(())
        }
    }
    let node = node("overload-self", 16, Duration::from_secs(600));
    let (tx, rx) = channel();
    let p = node.spawn(Selfish { left: 10_000, done: tx }, SpawnOptions::default()).unwrap();
    node.send(p, Go).unwrap();
    rx.recv_timeout(PATIENCE).expect("all of its own messages handled");
    assert_eq!(node.info().held_turns, 0);
    node.stop();
}

/// `send_wait` against a bounded mailbox waits for room instead of failing, from a process and
/// from a plain thread; a plain `send` to the full mailbox fails; a blocking `send_wait` gives up
/// after its timeout while the consumer does not read.
#[test]
fn send_wait_waits_for_room_in_a_bounded_mailbox() {
    const N: u64 = 2_000;
    /// Slow: spins a few microseconds per message.
    struct Slow {
        got: Vec<u64>,
        done: Sender<Vec<u64>>,
    }
    impl Actor for Slow {
        async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if let Some(&v) = msg.downcast_ref::<u64>() {
                self.got.push(v);
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(5) {
                    std::hint::spin_loop();
                }
                if self.got.len() == N as usize {
                    let _ = self.done.send(std::mem::take(&mut self.got));
                }
            }
            Ok(())
        }
    }
    struct Waiter {
        to: Pid,
        result: Sender<Result<(), Error>>,
    }
    impl Actor for Waiter {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if msg.is::<Go>() {
                for i in 0..N {
                    if let Err(e) = ctx.send_wait(self.to, i).await {
                        let _ = self.result.send(Err(e));
                        return Ok(());
                    }
                }
                let _ = self.result.send(Ok(()));
            }
            Ok(())
        }
    }
    let node = node("overload-sendwait", 0, Duration::from_secs(600));
    let (done_tx, done_rx) = channel();
    let consumer =
        node.spawn(Slow { got: vec![], done: done_tx }, SpawnOptions::default().mailbox_size(8).worker(1)).unwrap();
    let (res_tx, res_rx) = channel();
    let waiter = node.spawn(Waiter { to: consumer, result: res_tx }, SpawnOptions::default().worker(0)).unwrap();
    node.send(waiter, Go).unwrap();
    res_rx.recv_timeout(PATIENCE).expect("send_wait finishes").expect("no send_wait failed");
    let got = done_rx.recv_timeout(PATIENCE).expect("everything arrives");
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "every message, in order, none lost");

    // A consumer that reads nothing: `send` fails at capacity, a blocking `send_wait` times out.
    let deaf =
        stalled(&node, Duration::from_millis(1000), SpawnOptions::default().mailbox_size(4), u64::MAX, channel().0);
    for i in 0..4u8 {
        node.send(deaf, i).unwrap();
    }
    assert_eq!(node.send(deaf, 9u8), Err(Error::MailboxFull));
    let started = Instant::now();
    let r = node.send_wait(deaf, 9u8, Duration::from_millis(50));
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(node.process_info(deaf).unwrap().mailbox[2], 4, "the timed-out message was not queued");
    node.stop();
}

/// The blocking `send_wait` from a plain thread goes on when the consumer drains, and is
/// refused on a worker thread.
#[test]
fn blocking_send_wait_from_a_thread() {
    struct Slow {
        got: u64,
        done: Sender<u64>,
    }
    impl Actor for Slow {
        async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            let v = *msg.downcast_ref::<u64>().unwrap();
            assert_eq!(v, self.got, "order");
            self.got += 1;
            std::thread::sleep(Duration::from_micros(50));
            let _ = self.done.send(v);
            Ok(())
        }
    }
    let node = node("overload-blocking", 32, Duration::from_secs(600));
    let (tx, rx) = channel();
    let slow = node.spawn(Slow { got: 0, done: tx }, SpawnOptions::default()).unwrap();
    for i in 0..500u64 {
        node.send_wait(slow, i, PATIENCE).unwrap();
        let len = node.process_info(slow).unwrap().mailbox[2];
        assert!(len <= 33, "the thread ran ahead of the high-water mark: {len}");
    }
    for i in 0..500u64 {
        assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), i);
    }
    node.stop();
}

/// Forwards every number it gets to `to`.
struct Relay {
    to: Pid,
}

impl Actor for Relay {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Some(&m) = msg.downcast_ref::<(usize, u64)>() {
            ctx.send(self.to, m).map_err(ExitReason::error)?;
        }
        Ok(())
    }
}

/// Backpressure goes through a pipeline: source → relay → slow sink. The relay is held by the
/// sink's long queue even while the source waits on the relay's (a chain is not a cycle), so
/// the sink's queue stays near the mark, and the source is slowed down through the relay.
#[test]
fn backpressure_goes_through_a_pipeline() {
    const HIGH: usize = 256;
    const N: u64 = 60_000;
    let node = node("overload-pipeline", HIGH, Duration::from_secs(60));
    let (done_tx, done_rx) = channel();
    let sink = Sink { next: vec![0], got: 0, expect: N, work: Duration::from_micros(2), done: done_tx };
    let sink = node.spawn(sink, SpawnOptions::default().worker(1)).unwrap();
    let relay = node.spawn(Relay { to: sink }, SpawnOptions::default().worker(0)).unwrap();
    let turns = Arc::new(AtomicU64::new(0));
    let source = Streamer { id: 0, to: relay, n: N, sent: 0, batch: 500, turns };
    let source = node.spawn(source, SpawnOptions::default().worker(0)).unwrap();
    let watch = QueueWatch::start(&node, vec![sink]);
    node.send(source, Go).unwrap();
    done_rx.recv_timeout(PATIENCE).expect("everything arrives").expect("in order");
    // The relay overshoots by what it sends in one callback (one message), plus the 64-claim
    // measuring interval.
    let max = watch.stop();
    assert!(max <= HIGH + 64 + 8, "the sink's queue reached {max}: the relay was not held back");
    assert!(node.process_info(relay).unwrap().held_back > Duration::ZERO);
    assert!(node.process_info(source).unwrap().held_back > Duration::ZERO, "the source was never slowed");
    assert_eq!(node.info().holds_expired, 0);
    node.stop();
}

/// Two processes that `send_wait` to each other while both mailboxes are full do not wait for
/// ever: the one that would close the cycle gets `MailboxFull` at once.
#[test]
fn send_wait_cycle_fails_instead_of_waiting_forever() {
    struct Peer {
        other: Option<Pid>,
        result: Sender<Result<(), Error>>,
    }
    struct Meet(Pid);
    /// Both peers have taken their `Fill` before either fills the other's mailbox (otherwise
    /// a `Fill` still queued takes a slot, and a peer that then takes it makes room: no cycle).
    struct Fill(Arc<AtomicUsize>);
    impl Actor for Peer {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if let Some(Meet(p)) = msg.downcast_ref::<Meet>() {
                self.other = Some(*p);
            } else if let Some(Fill(both)) = msg.downcast_ref::<Fill>() {
                // The peers are on two workers: each spins on its own until the other is here.
                both.fetch_add(1, Ordering::SeqCst);
                while both.load(Ordering::SeqCst) < 2 {
                    std::hint::spin_loop();
                }
                // Fill the other's mailbox (capacity 4), then wait for room in it.
                let other = self.other.unwrap();
                for i in 0..4u32 {
                    let _ = ctx.send(other, i);
                }
                let r = ctx.send_wait(other, 99u32).await;
                let _ = self.result.send(r);
            }
            Ok(())
        }
    }
    let node = node("overload-sendwait-cycle", 0, Duration::from_secs(60));
    let (tx, rx) = channel();
    let opts = SpawnOptions::default().mailbox_size(4);
    let a = node.spawn(Peer { other: None, result: tx.clone() }, opts.clone().worker(0)).unwrap();
    let b = node.spawn(Peer { other: None, result: tx }, opts.worker(1)).unwrap();
    node.send(a, Meet(b)).unwrap();
    node.send(b, Meet(a)).unwrap();
    let both = Arc::new(AtomicUsize::new(0));
    node.send(a, Fill(both.clone())).unwrap();
    node.send(b, Fill(both)).unwrap();
    let first = rx.recv_timeout(PATIENCE).expect("one of them stops waiting");
    assert_eq!(first, Err(Error::MailboxFull));
    node.stop();
}

/// A `send_wait` to a process that ends while we wait fails with `ProcessUnknown` (it does not
/// wait for ever), from a process and from a thread.
#[test]
fn send_wait_to_a_process_that_ends() {
    let node = node("overload-sendwait-ends", 0, Duration::from_secs(60));
    let target =
        stalled(&node, Duration::from_secs(30), SpawnOptions::default().mailbox_size(2), u64::MAX, channel().0);
    node.send(target, 1u8).unwrap();
    node.send(target, 2u8).unwrap();
    let handle = node.handle();
    let waiter = std::thread::spawn(move || handle.send_wait(target, 3u8, Duration::from_secs(30)));
    std::thread::sleep(Duration::from_millis(50));
    node.kill(target).unwrap();
    assert_eq!(waiter.join().unwrap(), Err(Error::ProcessUnknown));
    node.stop();
}

/// A held process still gets its downs (System queue): a monitor fires while the hold lasts.
#[test]
fn downs_reach_a_held_process() {
    struct Watcher {
        to: Pid,
        watched: Pid,
        down: Sender<Pid>,
    }
    impl Actor for Watcher {
        async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
            if msg.is::<Go>() {
                ctx.monitor(self.watched).map_err(ExitReason::error)?;
                for i in 0..1000u32 {
                    ctx.send(self.to, i).map_err(ExitReason::error)?;
                }
            } else if let Some(down) = msg.downcast_ref::<ergors::MessageDown>()
                && let ergors::Target::Pid(p) = down.target
            {
                let _ = self.down.send(p);
            }
            Ok(())
        }
    }
    let node = node("overload-down", 64, Duration::from_secs(600));
    let consumer =
        stalled(&node, Duration::from_millis(1500), SpawnOptions::default().worker(1), u64::MAX, channel().0);
    let victim = node.spawn(Mute, SpawnOptions::default()).unwrap();
    let (down_tx, down_rx) = channel();
    let watcher = node
        .spawn(Watcher { to: consumer, watched: victim, down: down_tx }, SpawnOptions::default().worker(0))
        .unwrap();
    node.send(watcher, Go).unwrap();
    assert!(eventually(|| node.process_info(watcher).is_ok_and(|i| i.held_by == Some(consumer))));
    node.kill(victim).unwrap();
    assert_eq!(down_rx.recv_timeout(PATIENCE).expect("the down arrives while held"), victim);
    assert_eq!(node.process_info(watcher).unwrap().held_by, Some(consumer), "the hold went on");
    node.stop();
}
