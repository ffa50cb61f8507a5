//! Outbound HTTP through Spin (`wasi:http/outgoing-handler@0.2.0`), with a
//! deadline and a bounded answer. Requests started together run together:
//! spin-executor waits on all their pollables at once.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use futures::StreamExt;
use spin_sdk::http::{ErrorCode, Fields, IncomingResponse, Method, OutgoingRequest, Scheme, SendError};

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
    // A body of known length, as the whole buffer is: without the header it
    // would go chunked.
    let length = body.len().to_string();
    let mut with_length = headers.to_vec();
    if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-length")) {
        with_length.push(("content-length", &length));
    }
    let outgoing = request(Method::Post, url, &with_length)?;
    let cannot = |what: &str| Unanswered::Failed(format!("cannot build the request: {what}"));
    let outgoing_body = outgoing.body().map_err(|()| cannot("body"))?;
    let stream = outgoing_body.write().map_err(|()| cannot("body stream"))?;
    // Written before the request is handed over, so that Spin's client sends
    // head and body in one piece (see `crate::body`).
    let written = crate::body::write_available(&stream, &body);
    let exchange = async {
        if written == body.len() {
            crate::body::finish(stream, outgoing_body);
            return answer(spin_sdk::http::send::<_, IncomingResponse>(outgoing).await, max_answer_bytes).await;
        }
        let (response, ()) = futures::join!(spin_sdk::http::send::<_, IncomingResponse>(outgoing), async {
            crate::body::write_rest(&stream, &body[written..]).await;
            crate::body::finish(stream, outgoing_body);
        });
        answer(response, max_answer_bytes).await
    };
    within(timeout, exchange).await
}

/// GETs `url` with `headers`, as [`post`] does.
pub async fn get(url: &str, headers: &[(&str, &str)], timeout: Duration, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), Unanswered> {
    // No body at all (never taken): a GET with an empty one would go chunked.
    let outgoing = request(Method::Get, url, headers)?;
    let exchange = async { answer(spin_sdk::http::send::<_, IncomingResponse>(outgoing).await, max_answer_bytes).await };
    within(timeout, exchange).await
}

/// The request line and headers of a request to `url`.
fn request(method: Method, url: &str, headers: &[(&str, &str)]) -> Result<OutgoingRequest, Unanswered> {
    let cannot = |what: &str| Unanswered::Failed(format!("cannot build the request: {what}"));
    let uri: http::Uri = url.parse().map_err(|error: http::uri::InvalidUri| cannot(&error.to_string()))?;
    let fields: Vec<(String, Vec<u8>)> = headers.iter().map(|(name, value)| ((*name).to_owned(), value.as_bytes().to_vec())).collect();
    let outgoing = OutgoingRequest::new(Fields::from_list(&fields).map_err(|error| cannot(&format!("{error:?}")))?);
    let scheme = match uri.scheme_str() {
        Some("https") => Scheme::Https,
        Some("http") => Scheme::Http,
        _ => return Err(cannot("the URL must start with http:// or https://")),
    };
    outgoing.set_method(&method).map_err(|()| cannot("method"))?;
    outgoing.set_scheme(Some(&scheme)).map_err(|()| cannot("scheme"))?;
    outgoing.set_authority(uri.authority().map(|authority| authority.as_str())).map_err(|()| cannot("authority"))?;
    outgoing.set_path_with_query(uri.path_and_query().map(|path| path.as_str())).map_err(|()| cannot("path"))?;
    Ok(outgoing)
}

/// The status and at most `max_answer_bytes` of the body of `response`.
async fn answer(response: Result<IncomingResponse, SendError>, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), Unanswered> {
    let response = response.map_err(|error| match error {
        SendError::Http(ErrorCode::HttpRequestDenied) => Unanswered::Denied,
        SendError::Http(other) => Unanswered::Failed(format!("{other:?}")),
        other => Unanswered::Failed(other.to_string()),
    })?;
    let status = response.status();
    let mut chunks = response.take_body_stream();
    let mut answer = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|error| Unanswered::Failed(format!("reading the answer: {}", error.to_debug_string())))?;
        if answer.len() + chunk.len() > max_answer_bytes {
            return Err(Unanswered::Failed("reading the answer: length limit exceeded".to_owned()));
        }
        answer.extend_from_slice(&chunk);
    }
    Ok((status, answer))
}

/// `exchange`'s outcome, or a failure once `timeout` has passed.
async fn within(timeout: Duration, exchange: impl Future<Output = Result<(u16, Vec<u8>), Unanswered>>) -> Result<(u16, Vec<u8>), Unanswered> {
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
    let mut timer = pin!(crate::time::sleep(timeout));
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
