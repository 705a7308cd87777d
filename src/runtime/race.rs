//! Two futures raced in one task: the first ready wins, the other is dropped (a select of two,
//! without a dependency). The metas race a socket read against a timer or a wake-up.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

/// Which of two raced futures finished, with its output.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls both until one is ready (`a` first); the other is dropped.
pub(crate) async fn race<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Right(y));
        }
        Poll::Pending
    })
    .await
}
