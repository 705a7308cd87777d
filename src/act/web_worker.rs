//! A process that answers web requests (Ergo's `act.WebWorker`): implement
//! [`WebWorkerBehavior`]'s `handle_get`, `handle_post`, ... and spawn it as a
//! [`WebWorker`], alone or as the worker of a [`Pool`](crate::Pool). The Web meta `call`s it
//! with a [`WebRequest`] and writes back the [`WebResponse`] it answers; other messages and
//! requests reach the behaviour's ordinary callbacks.

use crate::act::Actor;
use crate::act::context::Context;
use crate::message::{ExitReason, From, Message, MessageEvent, Pid};
use crate::web::{WebRequest, WebResponse};
use std::future::Future;
use tracing::Level;

/// The behaviour of a web worker (Ergo's `act.WebWorkerBehavior`). Each `handle_<method>`
/// answers a request of that method with a [`WebResponse`]; the ones not implemented answer
/// 405 Method Not Allowed, and so does a request of any other method (Ergo answers 501 to
/// both: D137). Returning `Err(reason)` stops the process without a reply: the caller's `call`
/// fails with `Error::Terminated`, which [`response_for`](crate::web::response_for) turns into
/// a 500; so does a panic.
///
/// `from` is the process that made the call (the Web meta), also through a pool.
///
/// # Examples
/// ```no_run
/// use ergors::web::{WebRequest, WebResponse};
/// use ergors::{Context, ExitReason, Node, NodeOptions, Pid, SpawnOptions, WebWorker, WebWorkerBehavior};
///
/// struct Hello;
///
/// impl WebWorkerBehavior for Hello {
///     async fn handle_get(&mut self, _ctx: &mut Context, _from: Pid, req: WebRequest) -> Result<WebResponse, ExitReason> {
///         Ok(WebResponse::text(200, &format!("hello from {}", req.path)))
///     }
/// }
///
/// let node = Node::start("demo@localhost", NodeOptions::from_env()?)?;
/// let pid = node.spawn(WebWorker::new(Hello), SpawnOptions::default())?;
/// let reply = node.call(pid, WebRequest::new("GET", "/x"))?;
/// assert_eq!(reply.downcast::<WebResponse>().map(|r| r.status).ok(), Some(200));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait WebWorkerBehavior: Send + 'static {
    /// Runs first, as [`Actor::init`].
    fn init(&mut self, ctx: &mut Context) -> impl Future<Output = Result<(), ExitReason>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// A `GET` request.
    fn handle_get(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// A `POST` request.
    fn handle_post(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// A `PUT` request.
    fn handle_put(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// A `PATCH` request.
    fn handle_patch(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// A `DELETE` request.
    fn handle_delete(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// A `HEAD` request (the body of the response is not sent; its length is).
    fn handle_head(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// An `OPTIONS` request.
    fn handle_options(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        request: WebRequest,
    ) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send {
        unhandled(ctx, from, &request)
    }

    /// A message sent with `send`, as [`Actor::handle_message`].
    fn handle_message(
        &mut self,
        ctx: &mut Context,
        from: Pid,
        msg: Message,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("WebWorker handle_message: unhandled message from {from}: {msg:?}"));
        async { Ok(()) }
    }

    /// A request other than a [`WebRequest`], as [`Actor::handle_call`].
    fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        request: Message,
    ) -> impl Future<Output = Result<Option<Message>, ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("WebWorker handle_call: unhandled request from {}: {request:?}", from.pid));
        async { Ok(None) }
    }

    /// An event message, as [`Actor::handle_event`].
    fn handle_event(
        &mut self,
        ctx: &mut Context,
        event: MessageEvent,
    ) -> impl Future<Output = Result<(), ExitReason>> + Send {
        ctx.log(Level::WARN, format_args!("WebWorker handle_event: unhandled event {event:?}"));
        async { Ok(()) }
    }

    /// Runs last, as [`Actor::terminate`].
    fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }
}

fn unhandled(
    ctx: &mut Context,
    from: Pid,
    request: &WebRequest,
) -> impl Future<Output = Result<WebResponse, ExitReason>> + Send + use<> {
    ctx.log(
        Level::WARN,
        format_args!("WebWorker: unhandled {} request from {from} for {}", request.method, request.path),
    );
    async { Ok(method_not_allowed()) }
}

fn method_not_allowed() -> WebResponse {
    WebResponse::text(405, "Method Not Allowed")
}

/// Runs a [`WebWorkerBehavior`] as a process (Ergo's `act.WebWorker`): spawn
/// `WebWorker::new(behavior)`, or give `|| WebWorker::new(..)` to a
/// [`PoolSpec`](crate::PoolSpec) for a pool of them.
pub struct WebWorker<B> {
    behavior: B,
}

impl<B: WebWorkerBehavior> WebWorker<B> {
    /// A web worker with this behaviour.
    pub fn new(behavior: B) -> Self {
        WebWorker { behavior }
    }

    async fn serve(&mut self, ctx: &mut Context, from: Pid, request: WebRequest) -> Result<WebResponse, ExitReason> {
        let b = &mut self.behavior;
        match request.method.as_str() {
            "GET" => b.handle_get(ctx, from, request).await,
            "POST" => b.handle_post(ctx, from, request).await,
            "PUT" => b.handle_put(ctx, from, request).await,
            "PATCH" => b.handle_patch(ctx, from, request).await,
            "DELETE" => b.handle_delete(ctx, from, request).await,
            "HEAD" => b.handle_head(ctx, from, request).await,
            "OPTIONS" => b.handle_options(ctx, from, request).await,
            _ => Ok(method_not_allowed()),
        }
    }
}

impl<B: WebWorkerBehavior> Actor for WebWorker<B> {
    async fn init(&mut self, ctx: &mut Context) -> Result<(), ExitReason> {
        self.behavior.init(ctx).await
    }

    async fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Message) -> Result<(), ExitReason> {
        self.behavior.handle_message(ctx, from, msg).await
    }

    async fn handle_call(
        &mut self,
        ctx: &mut Context,
        from: From,
        request: Message,
    ) -> Result<Option<Message>, ExitReason> {
        match request.downcast::<WebRequest>() {
            Ok(request) => {
                let response = self.serve(ctx, from.pid, request).await?;
                Ok(Some(Message::new(response)))
            }
            Err(other) => self.behavior.handle_call(ctx, from, other).await,
        }
    }

    async fn handle_event(&mut self, ctx: &mut Context, event: MessageEvent) -> Result<(), ExitReason> {
        self.behavior.handle_event(ctx, event).await
    }

    async fn terminate(&mut self, ctx: &mut Context, reason: &ExitReason) {
        self.behavior.terminate(ctx, reason).await;
    }
}
