//! Outbound HTTP through Spin, with a deadline and a bounded answer.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use spin_sdk::http::{EmptyBody, Request};

/// Why a POST has no answer.
#[derive(Debug)]
pub enum Unanswered {
    /// The component's `allowed_outbound_hosts` refused the destination: a
    /// configuration error, not an outage (Spin and our host answer
    /// wasi:http `HttpRequestDenied`).
    Denied,
    /// Connection failure, timeout, answer too large.
    Failed(String),
}

impl std::fmt::Display for Unanswered {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unanswered::Denied => formatter.write_str("destination not allowed by allowed_outbound_hosts"),
            Unanswered::Failed(reason) => formatter.write_str(reason),
        }
    }
}

/// POSTs `body` with `headers` to `url`, giving up after `timeout`; reads at
/// most `max_answer_bytes` of the answer. `Err` says why there is no answer.
pub async fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>, timeout: Duration, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), Unanswered> {
    let mut builder = Request::post(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let outgoing = builder.body(Full::new(bytes::Bytes::from(body))).map_err(|e| Unanswered::Failed(format!("cannot build the request: {e}")))?;
    exchange(outgoing, timeout, max_answer_bytes).await
}

/// GETs `url` with `headers`, as [`post`] does.
pub async fn get(url: &str, headers: &[(&str, &str)], timeout: Duration, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), Unanswered> {
    let mut builder = Request::get(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let outgoing = builder.body(EmptyBody::new()).map_err(|e| Unanswered::Failed(format!("cannot build the request: {e}")))?;
    exchange(outgoing, timeout, max_answer_bytes).await
}

/// Sends `outgoing` and reads at most `max_answer_bytes` of its answer within `timeout`.
async fn exchange(outgoing: impl spin_sdk::http::IntoRequest, timeout: Duration, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), Unanswered> {
    let exchange = async {
        let response = spin_sdk::http::send(outgoing).await.map_err(|error| match error {
            spin_sdk::wasip3::http::types::ErrorCode::HttpRequestDenied => Unanswered::Denied,
            other => Unanswered::Failed(format!("{other:?}")),
        })?;
        let status = response.status().as_u16();
        let answer = Limited::new(response.into_body(), max_answer_bytes)
            .collect()
            .await
            .map_err(|e| Unanswered::Failed(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok::<_, Unanswered>((status, answer.to_vec()))
    };
    with_timeout(timeout, exchange)
        .await
        .unwrap_or_else(|| Err(Unanswered::Failed(format!("no answer within {} s", timeout.as_secs()))))
}

/// Logs the one line of a destination the allow-list refused: `destination`
/// (never with a password), the component and `variables`, the pair that
/// must agree. Answer the request INTERNAL_ERROR: retrying cannot help.
pub fn log_misconfigured(destination: &str, variables: &str) {
    let mut fields = serde_json::Map::new();
    fields.insert("destination".into(), destination.into());
    fields.insert("variables".into(), variables.into());
    fields.insert("error".into(), "refused by allowed_outbound_hosts".into());
    crate::log::line("error", crate::log::component().unwrap_or("component-kit"), "misconfigured outbound destination", fields);
}

/// `scheme://host[:port]` of `url`, with no user info or path, for a log line.
pub fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    if scheme.is_empty() { host.to_owned() } else { format!("{scheme}://{host}") }
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
