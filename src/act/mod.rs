//! Actors: the [`Actor`] trait (Ergo's `act.Actor`) and the loop that runs one as a process.

pub mod application;
pub(crate) mod catch;
pub(crate) mod context;
pub mod pool;
pub mod supervisor;
mod tree;
pub(crate) mod web_worker;

use crate::message::{
    Addressed, Alias, ExitReason, From, Message, MessageEvent, MessageLog, Name, Payload, Pid, Target, Via,
};
use crate::process::call::HeldRequest;
use crate::process::entry::{INTERRUPT_EXIT, INTERRUPT_KILL, INTERRUPT_PARENT_EXIT};
use catch::CatchUnwind;
use context::Context;
use std::future::Future;
use tracing::Level;

/// The reply to a request of a runtime actor (pool, supervisor): the `Result<T, E>` it answered,
/// or `wrap` of why the call failed, or of `NotAllowed(not_it)` when the process answered
/// something else (it is not that kind of actor).
pub(crate) fn decode_reply<T: 'static, E: 'static>(
    reply: Result<Message, crate::error::Error>,
    wrap: fn(crate::error::Error) -> E,
    not_it: &'static str,
) -> Result<T, E> {
    match reply.map_err(wrap)?.downcast::<Result<T, E>>() {
        Ok(outcome) => outcome,
        Err(_) => Err(wrap(crate::error::Error::NotAllowed(not_it))),
    }
}

/// The behaviour of a process. Every callback is `async`: awaiting inside one (a `call`, say)
/// suspends only this process, never its worker.
///
/// Returning `Err(reason)` from a callback stops the process with that reason;
/// `Err(ExitReason::Normal)` is a normal stop (Ergo's `gen.TerminateReasonNormal`).
/// A panic in a callback stops the process with [`ExitReason::Panic`]; other processes go on.
///
/// # Examples
/// ```no_run
/// use ergors::{Actor, Context, ExitReason, From, Message, Node, NodeOptions, Pid, SpawnOptions};
///
/// struct Counter(u64);
///
/// impl Actor for Counter {
///     async fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: Message) -> Result<(), ExitReason> {
///         if let Ok(n) = msg.downcast::<u64>() { self.0 += n; }
///         Ok(())
///     }
///     async fn handle_call(&mut self, _ctx: &mut Context, _from: From, _req: Message) -> Result<Option<Message>, ExitReason> {
///         Ok(Some(Message::new(self.0)))
///     }
/// }
///
/// let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
/// let pid = node.spawn(Counter(0), SpawnOptions::default())?;
/// node.send(pid, 5u64)?;
/// let total = node.call(pid, ())?.downcast::<u64>().ok();
/// assert_eq!(total, Some(5));
/// node.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Actor: Send + 'static {
    /// Runs first, before any message is handled. An error ends the process with that reason
    /// (and, as in Ergo, `terminate` is not called).
    fn init(&mut self, ctx: &mut Context) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// A message sent with `send` (any priority).
    fn handle_message(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("handle_message: unhandled message from {from}: {msg:?}"));
        async { Ok(()) }
    }

    /// A request made with `call`. Return `Ok(Some(reply))` to reply now, or `Ok(None)` and keep
    /// `from` to reply later with [`Context::send_response`].
    fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("handle_call: unhandled request from {}: {request:?}", from.pid));
        async { Ok(None) }
    }

    /// A message sent to this process's registered name, when it splits handling by address
    /// ([`Context::set_split_handle`]; Ergo's `HandleMessageName`). By default handled as any
    /// message, by [`Actor::handle_message`].
    fn handle_message_name(
        &mut self,
        ctx: &mut Context,
        name: Name,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = name;
        self.handle_message(ctx, from, msg)
    }

    /// A message sent to one of this process's aliases, when it splits handling by address
    /// (Ergo's `HandleMessageAlias`). By default handled by [`Actor::handle_message`].
    fn handle_message_alias(
        &mut self,
        ctx: &mut Context,
        alias: Alias,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = alias;
        self.handle_message(ctx, from, msg)
    }

    /// A request made to this process's registered name, when it splits handling by address
    /// (Ergo's `HandleCallName`). By default handled by [`Actor::handle_call`].
    fn handle_call_name(
        &mut self,
        ctx: &mut Context,
        name: Name,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        let _ = name;
        self.handle_call(ctx, from, request)
    }

    /// A request made to one of this process's aliases, when it splits handling by address
    /// (Ergo's `HandleCallAlias`). By default handled by [`Actor::handle_call`].
    fn handle_call_alias(
        &mut self,
        ctx: &mut Context,
        alias: Alias,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        let _ = alias;
        self.handle_call(ctx, from, request)
    }

    /// A message published on an event this process linked or monitored (Ergo's `HandleEvent`).
    fn handle_event(
        &mut self,
        ctx: &mut Context,
        event: MessageEvent,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("handle_event: unhandled event {event:?}"));
        async { Ok(()) }
    }

    /// A log record, for a process made a logger with `NodeHandle::logger_add_pid` (Ergo's
    /// `HandleLog`). Arrives through the Log queue, after everything else waiting.
    fn handle_log(
        &mut self,
        ctx: &mut Context,
        record: MessageLog,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = (ctx, record);
        async { Ok(()) }
    }

    /// Runs last, with the reason the process is ending (not after a failed `init`). A process
    /// killed with `NodeHandle::kill` gets [`ExitReason::Kill`] here; if it was asleep, it has
    /// already been unregistered (as in Ergo): it is no longer alive nor reachable by name.
    fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }
}

/// The whole life of an actor process; this future is what the worker polls. Every idle process
/// carries it, so its size is memory per process: the phases are separate async fns so that the
/// state machine holds one phase at a time.
///
/// Not an `async fn`: its arguments would be stored in the state machine twice (the argument and
/// the local it is moved into); an `async move` block keeps one copy.
#[allow(clippy::manual_async_fn)] // deliberate: see above
pub(crate) fn run_actor<A: Actor>(mut actor: A, mut ctx: Context) -> impl Future<Output = ()> + Send {
    async move {
        let reason = life(&mut actor, &mut ctx).await;
        ctx.finish(reason.bare());
    }
}

async fn life<A: Actor>(actor: &mut A, ctx: &mut Context) -> ExitReason {
    if let Some(reason) = start(actor, ctx).await {
        return reason;
    }
    // One `catch_unwind` around the whole loop, not one per callback: the common path stays a
    // straight line (a panic in a callback ends the process either way).
    let reason = loop {
        match CatchUnwind::new(Killable::<_, true>(serve(actor, ctx))).await {
            Ok(Some(reason)) => break reason,
            // An exit signal this process does not trap came while a callback was suspended:
            // the callback was abandoned (its requests cancelled, a request it held failed for
            // its caller), and the loop, served again, takes the signal now (D168).
            Ok(None) => {
                ctx.release_request();
            }
            Err(panic) => break ExitReason::Panic(panic),
        }
    };
    // A panic in terminate changes nothing: the process is ending anyway. A kill while it is
    // suspended abandons it (a `terminate` that never finishes would otherwise keep the process
    // from ever finishing: its queued requests would wait for their timeouts); a kill that
    // ended the loop does not count.
    ctx.entry.interrupt.store(0, std::sync::atomic::Ordering::Relaxed);
    let terminate = async {
        actor.terminate(ctx, &reason).await;
        ExitReason::Normal
    };
    let _ = CatchUnwind::new(Killable::<_, false>(terminate)).await;
    reason
}

/// Runs `init`; the reason to stop if it failed.
pub(crate) async fn start<A: Actor>(actor: &mut A, ctx: &mut Context) -> Option<ExitReason> {
    if !ctx.entry.is_alive() {
        // Killed before its first run: it never started, so neither `init` nor `terminate`.
        return Some(ExitReason::Kill);
    }
    match CatchUnwind::new(actor.init(ctx)).await {
        Ok(Ok(())) => {
            ctx.entry.initialized.store(true, std::sync::atomic::Ordering::Relaxed);
            // A spawner waiting in `spawn_wait` goes on now; a failure is reported once the
            // process is gone (`Context::finish`).
            ctx.report_init_ok();
            None
        }
        Ok(Err(reason)) => Some(reason),
        Err(panic) => Some(ExitReason::Panic(panic)),
    }
}

/// Takes a request to handle: the guard that owes its reply, and its body. A function, so that
/// no copy of the caller outlives it in the state machine beside the guard's.
fn hold(ctx: &mut Context, payload: Payload, from: Pid) -> (HeldRequest, Message) {
    let (from, req) = payload.into_request(from);
    ctx.hold_request(from.local_id());
    (HeldRequest { from }, req)
}

/// Answers a request once its handler returned; the reason to stop if it returned one.
fn answer(ctx: &mut Context, from: From, outcome: Result<Option<Message>, ExitReason>) -> Result<(), ExitReason> {
    let owed = ctx.release_request();
    match outcome {
        Ok(Some(reply)) => {
            // The caller may have ended or given up; that is its business.
            let _ = ctx.send_response(from, reply);
            Ok(())
        }
        // Kept: answered later, by this process or whoever it handed `from` to.
        Ok(None) => Ok(()),
        Err(reason) => {
            // Ending while still owing the reply: none will come, tell the caller now rather
            // than let it wait for its timeout. A request handed on is answered by its new
            // holder (D31).
            if owed {
                ctx.node().inner.fail_request(from);
            }
            Err(reason)
        }
    }
}

/// A message or request sent by name or alias to a process that splits its handling. Awaited
/// boxed: its state (the address, the split callbacks) would otherwise widen every process's
/// state machine, and only these sends pay for it.
async fn addressed<A: Actor>(actor: &mut A, ctx: &mut Context, from: Pid, via: Via) -> Result<(), ExitReason> {
    // It may have turned splitting off since it was sent: then the plain callbacks.
    let to = if ctx.split_handle() { Some(via.to) } else { None };
    match via.payload {
        Payload::Message(msg) => match to {
            Some(Addressed::Name(n)) => actor.handle_message_name(ctx, n, from, msg).await,
            Some(Addressed::Alias(a)) => actor.handle_message_alias(ctx, a, from, msg).await,
            None => actor.handle_message(ctx, from, msg).await,
        },
        payload @ (Payload::Request(..) | Payload::RequestWide(_)) => {
            let (held, req) = hold(ctx, payload, from);
            let outcome = match to {
                Some(Addressed::Name(n)) => actor.handle_call_name(ctx, n, held.from, req).await,
                Some(Addressed::Alias(a)) => actor.handle_call_alias(ctx, a, held.from, req).await,
                None => actor.handle_call(ctx, held.from, req).await,
            };
            let from = held.from;
            std::mem::forget(held);
            answer(ctx, from, outcome)
        }
        // Only messages and requests are addressed (`NodeInner::addressed`).
        _ => Ok(()),
    }
}

/// The message loop, abandoned when a callback is suspended and cannot be left to finish:
/// killed while suspended on something other than a call (a socket that never speaks, a long
/// sleep, a blocking job), `Node::kill` sets `interrupt` and wakes the process, and the next poll
/// ends the loop with `Kill` (dropping the callback's future cancels what it waited on;
/// `terminate` runs after, as for any kill; a callback suspended in a call resumes with the
/// failed call instead, D34). Sent an exit signal it does not trap, the loop is abandoned
/// (`None`) so that it can be served again and take the signal (D168); `EXITS = false` (around
/// `terminate`) looks at kills only. Stores nothing: the entry comes from the process's own waker.
struct Killable<F, const EXITS: bool>(F);

impl<F: Future<Output = ExitReason>, const EXITS: bool> Future for Killable<F, EXITS> {
    type Output = Option<ExitReason>;

    #[inline]
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<ExitReason>> {
        if let Some(entry) = crate::runtime::waker::entry_of(cx.waker()) {
            let bits = entry.interrupt.load(std::sync::atomic::Ordering::Acquire);
            if bits & INTERRUPT_KILL != 0 {
                return std::task::Poll::Ready(Some(ExitReason::Kill));
            }
            if EXITS && bits != 0 && exit_interrupts(entry) {
                return std::task::Poll::Ready(None);
            }
        }
        // SAFETY: structural pinning: the field is never moved out, and `Killable` has no Drop
        // impl and no other access to it.
        unsafe { self.map_unchecked_mut(|s| &mut s.0) }.poll(cx).map(Some)
    }
}

/// Takes the exit-signal bits of `interrupt`: true when one of the signals queued ends the
/// process. Checked again here, not only by the sender, because the process may have started
/// to trap exits between the sender's look and now.
#[cold]
fn exit_interrupts(entry: &crate::process::entry::ProcessEntry) -> bool {
    let exits = INTERRUPT_EXIT | INTERRUPT_PARENT_EXIT;
    let bits = entry.interrupt.fetch_and(!exits, std::sync::atomic::Ordering::AcqRel);
    (bits & INTERRUPT_PARENT_EXIT != 0 && entry.exit_ends(true))
        || (bits & INTERRUPT_EXIT != 0 && entry.exit_ends(false))
}

/// Handles messages until a callback or an exit signal ends the process.
pub(crate) async fn serve<A: Actor>(actor: &mut A, ctx: &mut Context) -> ExitReason {
    loop {
        let envelope = std::future::poll_fn(|cx| ctx.poll_recv(cx)).await;
        let from = envelope.from;
        match envelope.payload {
            Payload::Message(msg) => {
                if let Err(reason) = actor.handle_message(ctx, from, msg).await {
                    return reason;
                }
            }
            payload @ (Payload::Request(..) | Payload::RequestWide(_)) => {
                // The guard holds the only copy of `from` across the await (process memory).
                let (held, req) = hold(ctx, payload, from);
                let outcome = actor.handle_call(ctx, held.from, req).await;
                let from = held.from;
                std::mem::forget(held);
                if let Err(reason) = answer(ctx, from, outcome) {
                    return reason;
                }
            }
            Payload::Via(via) => {
                if let Err(reason) = Box::pin(addressed(actor, ctx, from, *via)).await {
                    return reason;
                }
            }
            Payload::Exit(exit) => {
                // An exit signal from the parent itself cannot be trapped (Ergo checks this for
                // Pid exits only: event, name and alias exits come from the node's core Pid,
                // which is also the parent of node-spawned processes). Others arrive as messages
                // when the process traps exits, and end it otherwise, with the exit's reason.
                // A supervisor traps its parent's exit too, to stop its children in order (D81).
                let from_parent = matches!(exit.target, Target::Pid(p) if p == ctx.parent());
                if ctx.entry.exit_ends(from_parent) {
                    // `terminate` learns who sent it; watchers get the bare reason (D35).
                    return ExitReason::Exit(exit);
                }
                if let Err(reason) = actor.handle_message(ctx, from, Message::new(*exit)).await {
                    return reason;
                }
            }
            Payload::Log(record) => {
                if let Err(reason) = actor.handle_log(ctx, *record).await {
                    return reason;
                }
            }
            Payload::Event(event) => {
                if let Err(reason) = actor.handle_event(ctx, event).await {
                    return reason;
                }
            }
            Payload::Shutdown(reason) => return reason,
        }
    }
}
