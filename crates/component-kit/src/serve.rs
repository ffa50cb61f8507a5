//! The request wrapper every component answers through.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use domain::errors::{ApiError, ErrorCode, Language};
use domain::ids::UserId;
use domain::requests::MAX_BODY_BYTES;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Map, Value};
use spin_sdk::http::Request;

/// A decoded request: its body is read (within the limit) before the handler runs.
pub struct Incoming {
    /// Set by [`crate::auth::user`] once the caller is known, for logs and reports.
    pub user: Rc<Cell<Option<UserId>>>,
    pub method: Method,
    pub headers: HeaderMap,
    pub query: String,
    pub body: Bytes,
    pub language: Language,
    pub request_id: String,
}

/// A success answer.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// A non-JSON body and its content type, instead of `body`.
    pub raw: Option<(&'static str, String)>,
}

/// A failed request: the error the client sees, and what only the log sees.
pub struct Failure {
    pub error: ApiError,
    detail: Option<String>,
}

/// For [`serve`]: the handler takes every method (the catch-all route).
pub const ANY_METHOD: &[Method] = &[];

/// Serves one request: checks the method (any, for [`ANY_METHOD`]), reads the body (at most
/// [`MAX_BODY_BYTES`]), runs `handler`, renders the answer or the JSON error
/// contract, and writes one log line. `x-request-id` is echoed (or made).
pub async fn serve<F, Fut>(component: &'static str, methods: &[Method], request: Request, handler: F) -> http::Response<Full<Bytes>>
where
    F: FnOnce(Incoming) -> Fut,
    Fut: Future<Output = Result<Reply, Failure>>,
{
    let request_id = request_id(request.headers());
    crate::log::with_request_id(component, &request_id.clone(), serve_request(component, methods, request, request_id, handler)).await
}

async fn serve_request<F, Fut>(
    component: &'static str,
    methods: &[Method],
    request: Request,
    request_id: String,
    handler: F,
) -> http::Response<Full<Bytes>>
where
    F: FnOnce(Incoming) -> Fut,
    Fut: Future<Output = Result<Reply, Failure>>,
{
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let language = Language::from_accept_language(parts.headers.get("accept-language").and_then(|v| v.to_str().ok()));
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let user = Rc::new(Cell::new(None));
    // RFC 9110 §15.5.6: a 405 must list the methods the resource takes.
    let allow = (!methods.is_empty() && !methods.contains(&parts.method)).then(|| allow_header(methods));
    let outcome = if allow.is_some() {
        Err(Failure::from(ErrorCode::MethodNotAllowed))
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => {
                let incoming = Incoming {
                    user: user.clone(),
                    method: parts.method,
                    headers: parts.headers,
                    query: parts.uri.query().unwrap_or("").to_owned(),
                    body: collected.to_bytes(),
                    language,
                    request_id: request_id.clone(),
                };
                handler(incoming).await
            }
            Err(_) => Err(Failure::from(domain::requests::invalid("body", "body too large or unreadable"))),
        }
    };
    let (status, body, retry_after, error_code, detail) = match outcome {
        Ok(Reply { status, raw: Some((content_type, text)), .. }) => {
            log_request(component, &request_id, &method, &path, status, started, None, None, user.get());
            return respond(status, content_type, Bytes::from(text), None, None, &request_id);
        }
        Ok(reply) => (reply.status, reply.body, None, None, None),
        Err(failure) => (
            StatusCode::from_u16(failure.error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            failure.error.body(language),
            failure.error.retry_after_seconds(),
            Some(failure.error.code().as_str()),
            failure.detail,
        ),
    };
    if error_code == Some(ErrorCode::InternalError.as_str()) {
        let mut extra = Map::new();
        if let Some(detail) = &detail {
            extra.insert("detail".into(), detail.clone().into());
        }
        crate::sentry::report(crate::sentry::Report {
            component,
            message: "INTERNAL_ERROR",
            request_id: Some(&request_id),
            error_code,
            route: Some(&path),
            user_id: user.get().map(|u| u.to_string()),
            extra,
        })
        .await;
    }
    log_request(component, &request_id, &method, &path, status, started, error_code, detail, user.get());
    respond(status, "application/json; charset=utf-8", Bytes::from(body.to_string()), retry_after, allow.as_deref(), &request_id)
}

/// The one log line of a request.
#[allow(clippy::too_many_arguments)]
fn log_request(
    component: &str,
    request_id: &str,
    method: &Method,
    path: &str,
    status: StatusCode,
    started: Instant,
    error_code: Option<&str>,
    detail: Option<String>,
    user: Option<UserId>,
) {
    let mut fields = Map::new();
    fields.insert("requestId".into(), request_id.into());
    if let Some(user) = user {
        fields.insert("userId".into(), user.to_string().into());
    }
    fields.insert("method".into(), method.as_str().into());
    fields.insert("path".into(), path.into());
    fields.insert("status".into(), status.as_u16().into());
    fields.insert("durationMs".into(), (started.elapsed().as_secs_f64() * 1000.0).into());
    if let Some(code) = error_code {
        fields.insert("errorCode".into(), code.into());
    }
    if let Some(detail) = detail {
        fields.insert("detail".into(), detail.into());
    }
    let level = if status.is_server_error() { "error" } else if status.is_client_error() { "warn" } else { "info" };
    crate::log::line(level, component, "request", fields);
}


/// The answer, always with `content-length`: without it Spin sends the body
/// chunked, and the chunked terminator is a small last write that waits for
/// the client's delayed ACK on a kept-alive connection (Spin leaves Nagle on).
/// `allow` is the `Allow` header of a 405.
fn respond(
    status: StatusCode,
    content_type: &'static str,
    bytes: Bytes,
    retry_after: Option<u32>,
    allow: Option<&str>,
    request_id: &str,
) -> http::Response<Full<Bytes>> {
    let mut builder = http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", bytes.len())
        .header("cache-control", "no-store");
    if let Ok(value) = http::HeaderValue::from_str(request_id) {
        builder = builder.header("x-request-id", value);
    }
    if let Some(seconds) = retry_after {
        builder = builder.header("retry-after", seconds.to_string());
    }
    if let Some(methods) = allow {
        builder = builder.header("allow", methods);
    }
    builder
        .body(Full::new(bytes.clone()))
        // Invariant: every header above is a valid static name with a valid value
        // (method names are tokens, so their list is a valid value too).
        .unwrap_or_else(|_| http::Response::new(Full::new(bytes)))
}

/// The `Allow` value for `methods`: their names, comma-separated, in the given order.
fn allow_header(methods: &[Method]) -> String {
    methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
}

/// The caller's `x-request-id` when it is short and plain, else a new uuid.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

impl Incoming {
    /// A header as text, when present and valid.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
}

impl Reply {
    /// `status` with `body`.
    pub fn new(status: StatusCode, body: Value) -> Self {
        Self { status, body, raw: None }
    }

    /// `status` with a non-JSON `text` of `content_type`.
    pub fn text(status: StatusCode, content_type: &'static str, text: String) -> Self {
        Self { status, body: Value::Null, raw: Some((content_type, text)) }
    }

    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Self::new(StatusCode::OK, body)
    }
}

impl Failure {
    /// INTERNAL_ERROR; `detail` goes to the log only.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self { error: ApiError::new(ErrorCode::InternalError), detail: Some(detail.into()) }
    }

    /// SERVICE_UNAVAILABLE (a dependency is down); `detail` goes to the log only.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self { error: ApiError::new(ErrorCode::ServiceUnavailable), detail: Some(detail.into()) }
    }

    /// The log-only detail, if any.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// Adds a log-only detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self { error, detail: None }
    }
}

impl From<ErrorCode> for Failure {
    fn from(code: ErrorCode) -> Self {
        Self::from(ApiError::new(code))
    }
}
