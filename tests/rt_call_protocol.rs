//! The call protocol beyond the basics: a call awaited inside a combinator completes (the reply
//! wakes the future's own waker), forwarding a request and stopping lets the new holder reply,
//! a request nobody holds fails at once, and a zero timeout means the default one.

mod support;

use ergors::{Actor, Context, Error, ExitReason, From, Message, Pid, SpawnOptions};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;
use support::*;

/// A combinator in the manner of `FuturesUnordered`: it polls its inner future with a waker of
/// its own and polls it again only after that waker fired. A reply that wakes the process's task
/// instead of the future's waker leaves it pending forever.
struct OwnWaker<F> {
    inner: Pin<Box<F>>,
    flag: Arc<Flag>,
    polled: bool,
}

#[derive(Default)]
struct Flag {
    woken: AtomicBool,
    outer: Mutex<Option<Waker>>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        if let Some(w) = self.outer.lock().unwrap().take() {
            w.wake();
        }
    }
}

impl<F: Future> OwnWaker<F> {
    fn new(inner: F) -> Self {
        OwnWaker { inner: Box::pin(inner), flag: Arc::default(), polled: false }
    }
}

impl<F: Future> Future for OwnWaker<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        *self.flag.outer.lock().unwrap() = Some(cx.waker().clone());
        if self.polled && !self.flag.woken.swap(false, Ordering::SeqCst) {
            return Poll::Pending;
        }
        self.polled = true;
        let waker = Waker::from(self.flag.clone());
        self.inner.as_mut().poll(&mut std::task::Context::from_waker(&waker))
    }
}

/// Replies `n + 1` to a `u64`, after a `send_after` round trip when asked to be slow (so the
/// reply arrives while the caller sleeps).
struct Adder;

struct Later(From, u64);

impl Actor for Adder {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match req.downcast::<(u64, u64)>() {
            Ok((n, delay_ms)) => {
                let me = ctx.pid();
                ctx.send_after(me, Later(from, n + 1), Duration::from_millis(delay_ms));
                Ok(None)
            }
            Err(req) => Ok(Some(Message::new(req.downcast::<u64>().map_or(0, |n| n + 1)))),
        }
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(Later(from, v)) = msg.downcast::<Later>() {
            let _ = ctx.send_response(from, v);
        }
        Ok(())
    }
}

/// On `Go(target, request, timeout)`, calls `target` wrapped in `OwnWaker` and reports the
/// outcome.
struct Wrapped(Sender<Result<u64, Error>>);
struct Go(Pid, (u64, u64), Duration);

impl Actor for Wrapped {
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(Go(target, req, timeout)) = msg.downcast::<Go>() {
            let outcome = OwnWaker::new(ctx.call_timeout(target, req, timeout)).await;
            let _ = self.0.send(outcome.map(|m| m.downcast::<u64>().unwrap_or(u64::MAX)));
        }
        Ok(())
    }
}

#[test]
fn a_call_inside_a_combinator_is_woken_through_its_own_waker() {
    let node = node("callwake", 2);
    let (tx, rx) = channel();
    let caller = node.spawn(Wrapped(tx), SpawnOptions::default().worker(0)).unwrap();
    // Same worker and across workers; a reply that comes at once and one that comes later.
    for worker in [0, 1] {
        let adder = node.spawn(Adder, SpawnOptions::default().worker(worker)).unwrap();
        for delay in [0, 20] {
            node.send(caller, Go(adder, (41, delay), Duration::from_secs(10))).unwrap();
            assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(42), "worker {worker}, delay {delay}");
        }
    }
    // A timeout wakes it too.
    let adder = node.spawn(Adder, SpawnOptions::default().worker(1)).unwrap();
    let t = Duration::from_millis(20);
    node.send(caller, Go(adder, (1, 5_000), t)).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Err(Error::Timeout(t)));
    node.stop();
}

/// The back end of a forwarding pair: replies `n + 100`, now (`u64`) or from a `Job` message.
struct Back;
struct Job(From, u64);

impl Actor for Back {
    async fn handle_call(
        &mut self,
        _ctx: &mut Context,
        _from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match req.downcast::<u64>() {
            Ok(n) => Ok(Some(Message::new(n + 100))),
            Err(_) => Err(ExitReason::error("back end refuses")),
        }
    }
    async fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
        if let Ok(Job(from, n)) = msg.downcast::<Job>() {
            let _ = ctx.send_response(from, n + 100);
        }
        Ok(())
    }
}

/// The front end: hands every request to `back` and stops at once, in one of three ways.
#[derive(Clone, Copy)]
enum Hand {
    /// `forward_call`, then `Err(Normal)`.
    Forward,
    /// The `From` inside a message, declared with `keep_request`, then `Err(Normal)`.
    Keep,
    /// The `From` inside a message, not declared, then `Err(Normal)`: nobody is known to hold it.
    Drop,
}

struct Front(Pid, Hand);

impl Actor for Front {
    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        req: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match self.1 {
            Hand::Forward => ctx.forward_call(from, self.0, req).map_err(ExitReason::error)?,
            Hand::Keep => {
                let n = req.downcast::<u64>().unwrap_or(0);
                ctx.send(self.0, Job(from, n)).map_err(ExitReason::error)?;
                ctx.keep_request(from);
            }
            Hand::Drop => {}
        }
        Err(ExitReason::Normal)
    }
}

#[test]
fn a_request_handed_on_is_answered_by_its_new_holder_after_the_forwarder_stops() {
    let node = node("callfwd", 2);
    for hand in [Hand::Forward, Hand::Keep] {
        for (front_worker, back_worker) in [(0, 0), (0, 1)] {
            let back = node.spawn(Back, SpawnOptions::default().worker(back_worker)).unwrap();
            let front = node.spawn(Front(back, hand), SpawnOptions::default().worker(front_worker)).unwrap();
            assert_eq!(node.call(front, 1u64).unwrap().downcast::<u64>().ok(), Some(101));
            assert!(eventually(|| !node.is_alive(front)), "the front end stopped");
        }
    }
    node.stop();
}

#[test]
fn a_request_nobody_holds_fails_at_once() {
    // Long default timeout: a `Terminated` can only come from the protocol, not from a timer.
    let opts = ergors::NodeOptions::default().workers(2).pin_workers(false).call_timeout(Duration::from_secs(60));
    let node = ergors::Node::start("callnohold@localhost", opts).unwrap();
    let back = node.spawn(Back, SpawnOptions::default()).unwrap();
    // The handler stops without handing the request on.
    let front = node.spawn(Front(back, Hand::Drop), SpawnOptions::default()).unwrap();
    assert_eq!(node.call(front, 1u64).unwrap_err(), Error::Terminated);
    // Forwarded to a holder that itself stops without replying: its new holder owed it.
    let front = node.spawn(Front(back, Hand::Forward), SpawnOptions::default()).unwrap();
    assert_eq!(node.call(front, "not a number").unwrap_err(), Error::Terminated);
    node.stop();
}

#[test]
fn forwarding_to_the_caller_itself_is_refused() {
    struct ToCaller;
    impl Actor for ToCaller {
        async fn handle_call(
            &mut self,
            ctx: &mut Context,
            from: From,
            _req: Message,
        ) -> Result<Option<Message>, ExitReason> {
            let refused = matches!(ctx.forward_call(from, from.pid, 1u64), Err(Error::NotAllowed(_)));
            Ok(Some(Message::new(refused)))
        }
    }
    let node = node("callfwdself", 1);
    let p = node.spawn(ToCaller, SpawnOptions::default()).unwrap();
    // Called from a process, whose Pid is the caller's.
    struct Asker(Pid, Sender<bool>);
    impl Actor for Asker {
        async fn handle_message(&mut self, ctx: &mut Context, _f: Pid, _m: Message) -> Result<(), ExitReason> {
            let r = ctx.call(self.0, ()).await.ok().and_then(|m| m.downcast::<bool>().ok());
            let _ = self.1.send(r.unwrap_or(false));
            Ok(())
        }
    }
    let (tx, rx) = channel();
    let asker = node.spawn(Asker(p, tx), SpawnOptions::default()).unwrap();
    node.send(asker, ()).unwrap();
    assert!(rx.recv_timeout(PATIENCE).unwrap());
    node.stop();
}

#[test]
fn a_zero_timeout_means_the_default_timeout() {
    let node = node("callzero", 2);
    let adder = node.spawn(Adder, SpawnOptions::default().worker(1)).unwrap();
    // From a plain thread: the reply comes after 30 ms, well within the default 5 s.
    let got = node.call_timeout(adder, (1u64, 30u64), Duration::ZERO).unwrap();
    assert_eq!(got.downcast::<u64>().ok(), Some(2));
    // From a process.
    let (tx, rx) = channel();
    let caller = node.spawn(Wrapped(tx), SpawnOptions::default().worker(0)).unwrap();
    node.send(caller, Go(adder, (1, 30), Duration::ZERO)).unwrap();
    assert_eq!(rx.recv_timeout(PATIENCE).unwrap(), Ok(2));
    node.stop();
}
