//! The HTTP trigger, shaped like Spin 4.0.2's (`crates/trigger-http`): hyper
//! in front, Spin's routing and `spin-*` headers, and each request served by
//! a fresh instance through the `wasi:http/incoming-handler@0.2` export, as
//! Spin's `WasiHttpExecutor` does: the answer goes to hyper as soon as the
//! guest sets it, and the instance lives on until `handle` returns (work
//! after the answer). Failures the host itself answers (body too large,
//! trap, timeout) use the JSON error contract of [`crate::answers`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::WasiHttpView as _;

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
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(60),
            log_requests: true,
            tcp_nodelay: true,
        }
    }
}

/// The answer type: the guest's body as it streams, or a host answer.
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// What an HTTP route dispatches to: a component's request handler, or the
/// reason it has none (answered as 500 at request time).
enum Handler {
    Ready(Arc<ComponentHandler>),
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
            let handler = match ProxyPre::new(component.pre.clone()) {
                Ok(pre) => Handler::Ready(Arc::new(ComponentHandler {
                    runtime: runtime.clone(),
                    component: component.clone(),
                    pre,
                    // Our own deadline answers 504 first; the instance goes a moment later.
                    request_timeout: limits.request_timeout.saturating_add(Duration::from_secs(1)),
                })),
                Err(error) => {
                    let reason = format!("component {id:?} does not export wasi:http/incoming-handler@0.2: {error}");
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
        let answer = tokio::time::timeout(self.limits.request_timeout, handler.clone().invoke(request, slot, context.request_id.clone())).await;
        crate::phases::finish(crate::phases::Phase::Guest, timing);
        let response = match answer {
            Ok(Ok(response)) => response,
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

/// What serves one component's requests: its pre-linked handler export.
struct ComponentHandler {
    runtime: Arc<Runtime>,
    component: Arc<LoadedComponent>,
    pre: ProxyPre<InstanceState>,
    request_timeout: Duration,
}

impl ComponentHandler {
    /// Serves `request` with a fresh instance, as Spin 4.0.2 serves a
    /// `wasi:http@0.2` component: `handle` runs in its own task; the answer
    /// comes back as soon as the guest sets it, and the task (holding
    /// `slot`, the instance's place in the pool) goes on until `handle`
    /// returns, or [`ComponentHandler::request_timeout`] ends it.
    async fn invoke(
        self: Arc<Self>,
        request: Request<Full<Bytes>>,
        slot: tokio::sync::OwnedSemaphorePermit,
        request_id: String,
    ) -> Result<Response<ResponseBody>, String> {
        let mut store = self.runtime.store(&self.component, crate::postgres::Trigger::Http);
        let proxy = self.pre.instantiate_async(&mut store).await.map_err(|e| format!("instantiating: {e:?}"))?;
        let request = request.map(|body| body.map_err(|never| -> ErrorCode { match never {} }));
        let (answer_tx, answer_rx) = oneshot::channel();
        let (incoming, outparam) = {
            let mut http = store.data_mut().http();
            let incoming = http.new_incoming_request(Scheme::Http, request).map_err(|e| format!("{e:?}"))?;
            let outparam = http.new_response_outparam(answer_tx).map_err(|e| format!("{e:?}"))?;
            (incoming, outparam)
        };
        let handler = self.clone();
        let guest = tokio::spawn(async move {
            let _slot = slot;
            let call = proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam);
            match tokio::time::timeout(handler.request_timeout, call).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(error)) => Err(format!("{:#}", to_anyhow(error))),
                Err(_) => Err(format!("still running after {} s", handler.request_timeout.as_secs())),
            }
        });
        match answer_rx.await {
            Ok(Ok(response)) => {
                let component = self.component.id.clone();
                // As Spin: what fails after the answer only reaches the log.
                tokio::spawn(async move {
                    let outcome = guest.await.unwrap_or_else(|panic| Err(format!("panicked: {panic}")));
                    if let Err(error) = outcome {
                        log::event(
                            "error",
                            "component failed after its answer",
                            &[("component", component.into()), ("requestId", request_id.into()), ("error", error.into())],
                        );
                    }
                });
                Ok(response.map(|body| body.map_err(|code| std::io::Error::other(format!("{code:?}"))).boxed_unsync()))
            }
            Ok(Err(code)) => Err(format!("guest answered with error code {code:?}")),
            Err(_) => {
                let outcome = guest.await.unwrap_or_else(|panic| Err(format!("panicked: {panic}")));
                Err(match outcome {
                    Ok(()) => "guest failed to produce a response prior to returning".to_owned(),
                    Err(error) => format!("component {:?} failed: {error}", self.component.id),
                })
            }
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
