//! The HTTP trigger, shaped like Spin 4.0.2's (`crates/trigger-http`): hyper
//! in front, Spin's routing and `spin-*` headers, and each request handed to
//! wasmtime-wasi-http's `ProxyHandler`, which reuses an instance for several
//! requests (some at once) exactly as Spin configures it. The guest's answer
//! streams to hyper as it is written, so head and body leave the socket as
//! they do on Spin. Failures the host itself answers (body too large, trap,
//! timeout) use the JSON error contract of [`crate::answers`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime_wasi_http::handler::{HandlerState, Proxy, ProxyHandler, ProxyPre, StoreBundle};
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::answers::{self, HostError};
use crate::log;
use crate::routes::{RouteMatch, Router};
use crate::runtime::{to_anyhow, InstanceState, LoadedComponent, Runtime};

/// Limits, instance reuse and socket options of the HTTP trigger.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 504 (Spin 4.0.2 sets none).
    pub request_timeout: Duration,
    /// Whether every request gets a log line (failures always do).
    pub log_requests: bool,
    /// Whether accepted sockets get TCP_NODELAY. Spin 4.0.2 leaves Nagle on,
    /// so an answer written in two parts waits for the client's delayed ACK;
    /// `false` shows what production pays.
    pub tcp_nodelay: bool,
    /// Requests one instance serves before it is dropped (Spin: 128).
    pub max_instance_reuse_count: usize,
    /// Requests one instance serves at once (Spin: 16).
    pub max_instance_concurrent_reuse_count: usize,
    /// How long an idle instance waits for another request (Spin: 1 s).
    pub idle_instance_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(60),
            log_requests: true,
            tcp_nodelay: true,
            max_instance_reuse_count: 128,
            max_instance_concurrent_reuse_count: 16,
            idle_instance_timeout: Duration::from_secs(1),
        }
    }
}

/// The answer type: the guest's body as it streams, or a host answer.
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// What an HTTP route dispatches to: a component's request handler, or the
/// reason it has none (answered as 500 at request time).
enum Handler {
    Ready(ProxyHandler<ComponentState>),
    Broken(String),
}

/// The HTTP trigger of one application.
pub struct HttpTrigger {
    runtime: Arc<Runtime>,
    router: Router,
    handlers: std::collections::BTreeMap<String, Handler>,
    limits: HttpSettings,
}

impl HttpTrigger {
    /// Prepares every routed component. A component without the handler
    /// export does not stop start-up: its routes answer 500 and say why.
    pub fn new(runtime: Arc<Runtime>, routes: &[(String, String)], limits: HttpSettings) -> anyhow::Result<Self> {
        let router = Router::build(routes.iter().map(|(route, component)| (route.as_str(), component.as_str())))?;
        let mut handlers = std::collections::BTreeMap::new();
        for (_, id) in routes {
            let component = runtime
                .components
                .get(id)
                .ok_or_else(|| anyhow::anyhow!("route names unknown component {id:?}"))?;
            let handler = match ServicePre::new(component.pre.clone()) {
                Ok(pre) => Handler::Ready(ProxyHandler::new(
                    ComponentState {
                        runtime: runtime.clone(),
                        component: component.clone(),
                        limits: limits.clone(),
                    },
                    ProxyPre::P3(pre),
                )),
                Err(error) => {
                    let reason = format!("component {id:?} does not export a wasi:http handler: {error}");
                    log::event("error", &reason, &[("component", id.as_str().into())]);
                    Handler::Broken(reason)
                }
            };
            handlers.insert(id.clone(), handler);
        }
        Ok(Self {
            runtime,
            router,
            handlers,
            limits,
        })
    }

    /// Accepts connections until `shutdown` resolves.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let (stream, client_addr) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        log::event("warn", "accept failed", &[("error", error.to_string().into())]);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            if self.limits.tcp_nodelay {
                let _ = stream.set_nodelay(true);
            }
            let trigger = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let trigger = trigger.clone();
                    async move { Ok::<_, std::convert::Infallible>(trigger.handle(request, client_addr).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(io, service)
                    .await;
            });
        }
    }

    /// Answers one request. Never fails: every failure becomes an answer.
    pub async fn handle(&self, mut request: Request<Incoming>, client_addr: SocketAddr) -> Response<ResponseBody> {
        let started = Instant::now();
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let context = answers::RequestContext::of(request.headers());
        // The component keeps a caller's id and makes one otherwise; giving
        // it ours makes the host's line and the component's lines agree.
        if let Ok(request_id) = http::HeaderValue::from_str(&context.request_id) {
            request.headers_mut().insert("x-request-id", request_id);
        }
        let timing = crate::phases::start();
        let (response, component) = self.dispatch(request, client_addr, &context).await;
        crate::phases::finish(crate::phases::Phase::Request, timing);
        if !self.limits.log_requests {
            return response;
        }
        let status = response.status().as_u16();
        let level = if status >= 500 { "error" } else if status >= 400 { "warn" } else { "info" };
        log::event(
            level,
            "request",
            &[
                ("requestId", context.request_id.as_str().into()),
                ("method", method.into()),
                ("path", path.into()),
                ("component", component.unwrap_or("devhost").into()),
                ("status", status.into()),
                ("durationMs", (started.elapsed().as_secs_f64() * 1000.0).into()),
            ],
        );
        response
    }

    async fn dispatch(
        &self,
        request: Request<Incoming>,
        client_addr: SocketAddr,
        context: &answers::RequestContext,
    ) -> (Response<ResponseBody>, Option<&str>) {
        let Some(route) = self.router.route(request.uri().path()) else {
            // As Spin: an unrouted path is an empty 404 (the app adds a
            // catch-all `/...` route for anything better).
            return (empty(StatusCode::NOT_FOUND), None);
        };
        let component = route.component;
        let handler = match self.handlers.get(component) {
            Some(Handler::Ready(handler)) => handler,
            Some(Handler::Broken(reason)) => return (internal_error(context, component, reason), Some(component)),
            None => return (internal_error(context, component, "route has no handler"), Some(component)),
        };
        let timing = crate::phases::start();
        let request = match self.prepare(request, &route, client_addr, context).await {
            Ok(request) => request,
            Err(response) => return (response, Some(component)),
        };
        crate::phases::finish(crate::phases::Phase::Body, timing);
        let timing = crate::phases::start();
        let slot = self.runtime.slot().await;
        crate::phases::finish(crate::phases::Phase::Slot, timing);
        let timing = crate::phases::start();
        let answer = tokio::time::timeout(self.limits.request_timeout, invoke(handler, component, request)).await;
        crate::phases::finish(crate::phases::Phase::Guest, timing);
        let response = match answer {
            Ok(Ok(response)) => response.map(|body| Guarded { body, _guard: slot }.boxed_unsync()),
            Ok(Err(failure)) => internal_error(context, component, &failure),
            Err(_) => {
                log::event(
                    "error",
                    "request timed out",
                    &[("component", component.into()), ("requestId", context.request_id.as_str().into())],
                );
                answers::render(HostError::Timeout, context)
            }
        };
        (response, Some(component))
    }

    /// Reads the body within the limit and sets Spin's headers.
    async fn prepare(
        &self,
        request: Request<Incoming>,
        route: &RouteMatch<'_>,
        client_addr: SocketAddr,
        context: &answers::RequestContext,
    ) -> Result<Request<Full<Bytes>>, Response<ResponseBody>> {
        let too_large = || answers::render(HostError::PayloadTooLarge, context);
        let invalid = || answers::render(HostError::InvalidRequest, context);
        let declared = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.limits.max_body_bytes as u64) {
            return Err(too_large());
        }
        let (mut parts, body) = request.into_parts();
        let body = match Limited::new(body, self.limits.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            // The client sent a broken body (or went away).
            Err(_) => return Err(invalid()),
        };
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/").to_owned();
        let full_url = format!("http://{host}{path_and_query}");
        parts.uri = full_url.parse().map_err(|_| invalid())?;
        let mut headers = vec![
            ("spin-full-url", full_url.clone()),
            ("spin-path-info", route.path_info.clone()),
            ("spin-matched-route", route.raw_route.to_owned()),
            ("spin-base-path", "/".to_owned()),
            ("spin-raw-component-route", route.raw_route.to_owned()),
            ("spin-component-route", route.component_route.clone()),
            ("spin-client-addr", client_addr.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect::<Vec<_>>();
        for (name, value) in &route.params {
            headers.push((format!("spin-path-match-{}", name.to_ascii_lowercase()), value.clone()));
        }
        for (name, value) in headers {
            // Insert replaces, so a client cannot spoof these headers.
            let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) else {
                return Err(invalid());
            };
            parts.headers.insert(name, value);
        }
        Ok(Request::from_parts(parts, Full::new(body)))
    }
}

/// Hands `request` to an instance of the component, as Spin's wasip3
/// executor does: the answer comes back as soon as the guest returns it,
/// and the instance keeps running until hyper has read the whole body.
async fn invoke(
    handler: &ProxyHandler<ComponentState>,
    component: &str,
    request: Request<Full<Bytes>>,
) -> Result<Response<ResponseBody>, String> {
    let request = request.map(|body| {
        body.map_err(|never| -> wasmtime_wasi_http::p3::bindings::http::types::ErrorCode { match never {} })
    });
    let (request, request_io) = wasmtime_wasi_http::p3::Request::from_http(request);
    let (answer_tx, answer_rx) = oneshot::channel::<Result<Response<ResponseBody>, String>>();
    let component = component.to_owned();
    handler.spawn(
        None,
        Box::new(move |accessor, guest| {
            Box::pin(async move {
                let Proxy::P3(service) = guest else {
                    let _ = answer_tx.send(Err("not a wasi:http@0.3 handler".to_owned()));
                    return;
                };
                let answer = async {
                    let response = service
                        .handle(accessor, request)
                        .await
                        .map_err(to_anyhow)?
                        .map_err(|code| anyhow::anyhow!("guest answered with error code {code:?}"))?;
                    accessor
                        .with(|access| response.into_http(access, request_io))
                        .map_err(to_anyhow)
                }
                .await;
                let response = match answer {
                    Ok(response) => response,
                    Err(error) => {
                        let _ = answer_tx.send(Err(format!("{error:#}")));
                        return;
                    }
                };
                let (done_tx, done_rx) = oneshot::channel();
                let response = response.map(|body| {
                    Guarded {
                        body: body.map_err(|code| std::io::Error::other(format!("{code:?}"))),
                        _guard: DoneSignal(Some(done_tx)),
                    }
                    .boxed_unsync()
                });
                if answer_tx.send(Ok(response)).is_ok() {
                    // Leaving now would stop the guest before it has written
                    // the body hyper is about to read.
                    let _ = done_rx.await;
                }
            })
        }),
    );
    match answer_rx.await {
        Ok(answer) => answer,
        Err(_) => Err(format!("component {component:?} trapped or its instance failed")),
    }
}

/// The state a [`ProxyHandler`] needs to make stores for one component.
struct ComponentState {
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    limits: HttpSettings,
}

impl HandlerState for ComponentState {
    type StoreData = InstanceState;

    fn new_store(&self, _request_id: Option<u64>) -> wasmtime::Result<StoreBundle<InstanceState>> {
        Ok(StoreBundle {
            store: self.runtime.store(&self.component, crate::postgres::Trigger::Http),
            write_profile: Box::new(|_| ()),
        })
    }

    fn request_timeout(&self) -> Duration {
        // Our own deadline answers 504 first; the instance goes a moment later.
        self.limits.request_timeout.saturating_add(Duration::from_secs(1))
    }

    fn idle_instance_timeout(&self) -> Duration {
        self.limits.idle_instance_timeout
    }

    fn max_instance_reuse_count(&self) -> usize {
        self.limits.max_instance_reuse_count.max(1)
    }

    fn max_instance_concurrent_reuse_count(&self) -> usize {
        self.limits.max_instance_concurrent_reuse_count.max(1)
    }

    fn handle_worker_error(&self, error: wasmtime::Error) {
        log::event(
            "error",
            "component instance failed",
            &[("component", self.component.id.as_str().into()), ("error", format!("{error:?}").into())],
        );
    }
}

/// A body that keeps `_guard` alive until hyper is done with it: the
/// request's instance slot, or the signal that lets the instance finish.
struct Guarded<B, G> {
    body: B,
    _guard: G,
}

impl<B: http_body::Body + Unpin, G: Unpin> http_body::Body for Guarded<B, G> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Tells the instance, when dropped with the body, that hyper has read it.
struct DoneSignal(Option<oneshot::Sender<()>>);

impl Drop for DoneSignal {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            let _ = done.send(());
        }
    }
}

/// An answer with no body, as Spin gives for what it answers itself.
fn empty(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

fn internal_error(context: &answers::RequestContext, component: &str, detail: &str) -> Response<ResponseBody> {
    log::event(
        "error",
        "component failed",
        &[
            ("component", component.into()),
            ("requestId", context.request_id.as_str().into()),
            ("error", detail.into()),
        ],
    );
    answers::render(HostError::Internal, context)
}
