//! Outbound HTTP through Spin, with a deadline and a bounded answer.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use spin_sdk::http::Request;

/// POSTs `body` with `headers` to `url`, giving up after `timeout`; reads at
/// most `max_answer_bytes` of the answer. `Err` says why there is no answer
/// (refused by the allow-list, connection failure, timeout, answer too large).
pub async fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>, timeout: Duration, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), String> {
    let mut builder = Request::post(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let outgoing = builder.body(Full::new(bytes::Bytes::from(body))).map_err(|e| format!("cannot build the request: {e}"))?;
    let exchange = async {
        let response = spin_sdk::http::send(outgoing).await.map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let answer = Limited::new(response.into_body(), max_answer_bytes)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, answer.to_vec()))
    };
    with_timeout(timeout, exchange)
        .await
        .unwrap_or_else(|| Err(format!("no answer within {} s", timeout.as_secs())))
}

/// `future`'s output, or `None` once `timeout` has passed.
pub async fn with_timeout<T>(timeout: Duration, future: impl Future<Output = T>) -> Option<T> {
    let mut future = pin!(future);
    let mut timer = pin!(spin_sdk::time::sleep(timeout));
    std::future::poll_fn(|context| {
        if let Poll::Ready(output) = future.as_mut().poll(context) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(context).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
