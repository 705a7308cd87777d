//! Two futures raced in one task: the first ready wins, the other is dropped (a select of two,
//! without a dependency). The metas race a socket read against a timer or a wake-up.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Which of two raced futures finished, with its output.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both until one is ready (`a` first); the other is dropped with the race.
///
/// The futures must be `Unpin`: pin them where they are made (`race(pin!(read), pin!(timer))`),
/// so that each lives once in the caller's state. An `async fn` taking them by value held each
/// twice (as its argument and as its pinned local), and a meta's state machine carries that for
/// its whole life (a Web connection's was twice as large: D167).
pub(crate) fn race<A: Future + Unpin, B: Future + Unpin>(a: A, b: B) -> Race<A, B> {
    Race { a, b }
}

/// The future [`race`] returns.
pub(crate) struct Race<A, B> {
    a: A,
    b: B,
}

impl<A: Future + Unpin, B: Future + Unpin> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(x) = Pin::new(&mut self.a).poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(y) = Pin::new(&mut self.b).poll(cx) {
            return Poll::Ready(Either::Right(y));
        }
        Poll::Pending
    }
}
