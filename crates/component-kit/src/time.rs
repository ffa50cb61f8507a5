//! Waiting on spin-executor's loop (`spin_sdk::http::run`), which blocks in
//! `wasi:io/poll` on every pollable a pending future registered.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use spin_executor::CancelOnDropToken;
use wasi::clocks::monotonic_clock;
use wasi::io::poll::Pollable;

/// Resolves once `duration` has passed (`wasi:clocks/monotonic-clock`).
pub async fn sleep(duration: Duration) {
    let nanoseconds = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    let deadline = monotonic_clock::now().saturating_add(nanoseconds);
    until(|| monotonic_clock::now() >= deadline, || monotonic_clock::subscribe_instant(deadline)).await;
}

/// Resolves once `ready` holds. While it does not, the executor waits on a
/// pollable from `subscribe`: a registration hands its pollable over, so each
/// pending poll registers a fresh one (dropping the token of the last one
/// withdraws it), and readiness is always asked of `ready`, never inferred
/// from a wake-up.
pub(crate) fn until(mut ready: impl FnMut() -> bool, subscribe: impl Fn() -> Pollable) -> impl Future<Output = ()> {
    // The last registration; dropping its token withdraws its pollable.
    let mut registered: Option<CancelOnDropToken> = None;
    std::future::poll_fn(move |context| {
        if ready() {
            drop(registered.take());
            return Poll::Ready(());
        }
        let token = spin_executor::push_waker_and_get_token(subscribe(), context.waker().clone());
        drop(registered.replace(CancelOnDropToken::from(token)));
        Poll::Pending
    })
}
