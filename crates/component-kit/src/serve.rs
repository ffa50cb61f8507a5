//! The request wrapper every component answers through: the wasi:http 0.2
//! `incoming-handler` entry, the answer written so that it leaves in one
//! piece, and the work queued for after it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use domain::errors::{ApiError, ErrorCode, Language};
use domain::ids::UserId;
use domain::requests::MAX_BODY_BYTES;
use futures::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

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

/// Work queued by [`after_answer`].
type Queued = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    /// What runs once the answer has left. Spin instantiates a wasi:http 0.2
    /// component for every request, so this queue is the request's.
    static AFTER_ANSWER: RefCell<Vec<Queued>> = const { RefCell::new(Vec::new()) };
}

/// Serves one request, as a component's `#[http_component]` entry: checks
/// the method (any, for [`ANY_METHOD`]), reads the body (at most
/// [`MAX_BODY_BYTES`]), runs `handler`, renders the answer or the JSON error
/// contract, writes one log line and sends the answer through `response_out`.
/// `x-request-id` is echoed (or made). Then runs what the request queued with
/// [`after_answer`], all at once, and returns: Spin keeps the instance until
/// `handle` returns, so that work is done but delays nobody.
pub async fn serve<F, Fut>(component: &'static str, methods: &[Method], request: IncomingRequest, response_out: ResponseOutparam, handler: F)
where
    F: FnOnce(Incoming) -> Fut,
    Fut: Future<Output = Result<Reply, Failure>>,
{
    let headers = header_map(&request);
    let request_id = request_id(&headers);
    crate::log::with_request_id(component, &request_id.clone(), async move {
        let answer = serve_request(component, methods, request, headers, request_id, handler).await;
        send(answer, response_out).await;
        run_after_answer().await;
    })
    .await
}

/// Runs `work` once this request's answer has left (and its body is
/// complete), inside the request's log scope; [`serve`] waits for it before
/// returning. Work queued outside a request served by [`serve`] never runs.
pub fn after_answer(work: impl Future<Output = ()> + 'static) {
    AFTER_ANSWER.with(|queue| queue.borrow_mut().push(Box::pin(work)));
}

async fn run_after_answer() {
    loop {
        let queued = AFTER_ANSWER.with(|queue| std::mem::take(&mut *queue.borrow_mut()));
        if queued.is_empty() {
            return;
        }
        futures::future::join_all(queued).await;
    }
}

/// An answer ready to send.
struct Answer {
    status: StatusCode,
    headers: Vec<(String, Vec<u8>)>,
    body: Bytes,
}

async fn serve_request<F, Fut>(
    component: &'static str,
    methods: &[Method],
    request: IncomingRequest,
    headers: HeaderMap,
    request_id: String,
    handler: F,
) -> Answer
where
    F: FnOnce(Incoming) -> Fut,
    Fut: Future<Output = Result<Reply, Failure>>,
{
    let started = Instant::now();
    let language = Language::from_accept_language(headers.get("accept-language").and_then(|v| v.to_str().ok()));
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (path, query) = match path_with_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (path_with_query, String::new()),
    };
    let method = method(&request);
    let user = Rc::new(Cell::new(None));
    // RFC 9110 §15.5.6: a 405 must list the methods the resource takes.
    let allow = (!methods.is_empty() && !methods.contains(&method)).then(|| allow_header(methods));
    let outcome = if allow.is_some() {
        Err(Failure::from(ErrorCode::MethodNotAllowed))
    } else {
        match read_body(request).await {
            Some(body) => {
                let incoming = Incoming {
                    user: user.clone(),
                    method: method.clone(),
                    headers,
                    query,
                    body,
                    language,
                    request_id: request_id.clone(),
                };
                handler(incoming).await
            }
            None => Err(Failure::from(domain::requests::invalid("body", "body too large or unreadable"))),
        }
    };
    let (status, body, retry_after, error_code, detail) = match outcome {
        Ok(Reply { status, raw: Some((content_type, text)), .. }) => {
            log_request(component, &request_id, &method, &path, status, started, None, None, user.get());
            return answer(status, content_type, Bytes::from(text), None, None, &request_id);
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
    answer(status, "application/json; charset=utf-8", Bytes::from(body.to_string()), retry_after, allow.as_deref(), &request_id)
}

/// The request's body, or `None` when it is over [`MAX_BODY_BYTES`] or
/// cannot be read (the host cut it short).
async fn read_body(request: IncomingRequest) -> Option<Bytes> {
    let mut chunks = request.into_body_stream();
    let mut body = Vec::new();
    while let Some(chunk) = chunks.next().await {
        body.extend_from_slice(&chunk.ok()?);
        if body.len() > MAX_BODY_BYTES {
            return None;
        }
    }
    Some(Bytes::from(body))
}

/// The request's headers; a name or value `http` refuses is left out.
fn header_map(request: &IncomingRequest) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in request.headers().entries() {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value)) {
            headers.append(name, value);
        }
    }
    headers
}

/// The request's method. Invariant: hosts hand over only methods hyper
/// parsed, which `http` parses too; `OPTIONS` would stand in for another
/// (no component takes it, so only the catch-all would serve it).
fn method(request: &IncomingRequest) -> Method {
    use spin_sdk::http::Method as Wasi;
    match request.method() {
        Wasi::Get => Method::GET,
        Wasi::Post => Method::POST,
        Wasi::Put => Method::PUT,
        Wasi::Delete => Method::DELETE,
        Wasi::Patch => Method::PATCH,
        Wasi::Head => Method::HEAD,
        Wasi::Options => Method::OPTIONS,
        Wasi::Connect => Method::CONNECT,
        Wasi::Trace => Method::TRACE,
        Wasi::Other(name) => Method::from_bytes(name.as_bytes()).unwrap_or(Method::OPTIONS),
    }
}

/// Sends `answer`. On Spin the head and the body of an answer leave in one
/// TCP write only when the body is complete when the answer is set; set
/// earlier, the body follows in a second write, which waits ~40 ms for the
/// client's delayed ACK (Spin leaves Nagle on). So the body is written and
/// finished first, as far as the host takes it without blocking; a body
/// larger than that (the host drains it only once the answer is set, so
/// waiting would never end) is set first and written after.
async fn send(answer: Answer, response_out: ResponseOutparam) {
    let headers = Fields::from_list(&answer.headers).unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    // Invariant: `answer.status` is an `http::StatusCode`, so in 100..=999.
    let _ = response.set_status_code(answer.status.as_u16());
    let Ok(body) = response.body() else {
        // Unreachable: the body of a new response is taken once, here.
        response_out.set(response);
        return;
    };
    let Ok(stream) = body.write() else {
        // Unreachable as well: the stream of a new body is taken once, here.
        let _ = OutgoingBody::finish(body, None);
        response_out.set(response);
        return;
    };
    let written = crate::body::write_available(&stream, &answer.body);
    if written == answer.body.len() {
        crate::body::finish(stream, body);
        response_out.set(response);
        return;
    }
    response_out.set(response);
    crate::body::write_rest(&stream, &answer.body[written..]).await;
    crate::body::finish(stream, body);
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
fn answer(status: StatusCode, content_type: &'static str, body: Bytes, retry_after: Option<u32>, allow: Option<&str>, request_id: &str) -> Answer {
    let mut headers = vec![
        ("content-type".to_owned(), content_type.as_bytes().to_vec()),
        ("content-length".to_owned(), body.len().to_string().into_bytes()),
        ("cache-control".to_owned(), b"no-store".to_vec()),
    ];
    // Invariant: `request_id` is the caller's only when it is plain ASCII
    // (see `request_id`), else a uuid: a valid value either way.
    headers.push(("x-request-id".to_owned(), request_id.as_bytes().to_vec()));
    if let Some(seconds) = retry_after {
        headers.push(("retry-after".to_owned(), seconds.to_string().into_bytes()));
    }
    if let Some(methods) = allow {
        // Method names are tokens, so their list is a valid value.
        headers.push(("allow".to_owned(), methods.as_bytes().to_vec()));
    }
    Answer { status, headers, body }
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
