//! The HTTP trigger: hyper in front, Spin's routing and `spin-*` headers, a
//! fresh instance per request, and a JSON answer for every host-side failure
//! (no route, body too large, trap, timeout) so the server keeps serving.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::log;
use crate::routes::{RouteMatch, Router};
use crate::runtime::{to_anyhow, InstanceState, Runtime};

/// Limits and logging of the HTTP trigger.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// A request that takes longer is cut off with 504.
    pub request_timeout: Duration,
    /// Whether every request gets a log line (failures always do).
    pub log_requests: bool,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(60),
            log_requests: true,
        }
    }
}

/// What an HTTP route dispatches to: a component with a `wasi:http` handler,
/// or the reason it has none (answered as 500 at request time).
enum Handler {
    Ready(ServicePre<InstanceState>),
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
                Ok(pre) => Handler::Ready(pre),
                Err(error) => {
                    let reason = format!("component {id:?} does not export a wasi:http handler: {error}");
                    log::event("error", &reason, &[("component", id)]);
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
                        log::event("warn", "accept failed", &[("error", &error.to_string())]);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
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

    /// Answers one request. Never fails: every failure becomes a JSON answer.
    pub async fn handle(&self, request: Request<Incoming>, client_addr: SocketAddr) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let (response, component) = self.dispatch(request, client_addr).await;
        if !self.limits.log_requests {
            return response;
        }
        let status = response.status().as_u16().to_string();
        let millis = format!("{:.3}", started.elapsed().as_secs_f64() * 1000.0);
        log::event(
            "info",
            "request",
            &[
                ("method", &method),
                ("path", &path),
                ("component", component.unwrap_or("-")),
                ("status", &status),
                ("duration_ms", &millis),
            ],
        );
        response
    }

    async fn dispatch(&self, request: Request<Incoming>, client_addr: SocketAddr) -> (Response<Full<Bytes>>, Option<&str>) {
        let Some(route) = self.router.route(request.uri().path()) else {
            return (error(StatusCode::NOT_FOUND, "NOT_FOUND", "no route matches this path"), None);
        };
        let component = route.component;
        let Some(handler) = self.handlers.get(component) else {
            return (internal_error(component, "route has no handler"), Some(component));
        };
        let pre = match handler {
            Handler::Ready(pre) => pre,
            Handler::Broken(reason) => return (internal_error(component, reason), Some(component)),
        };
        let request = match self.prepare(request, &route, client_addr).await {
            Ok(request) => request,
            Err(response) => return (response, Some(component)),
        };
        let answer = tokio::time::timeout(self.limits.request_timeout, self.invoke(pre, component, request)).await;
        let response = match answer {
            Ok(Ok(response)) => response,
            Ok(Err(failure)) => internal_error(component, &failure),
            Err(_) => {
                log::event("error", "request timed out", &[("component", component)]);
                error(StatusCode::GATEWAY_TIMEOUT, "TIMEOUT", "the component did not answer in time")
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
    ) -> Result<Request<Full<Bytes>>, Response<Full<Bytes>>> {
        let too_large = || {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!("request body exceeds {} bytes", self.limits.max_body_bytes),
            )
        };
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
            Err(_) => {
                return Err(error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "the request body could not be read"))
            }
        };
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/").to_owned();
        let full_url = format!("http://{host}{path_and_query}");
        parts.uri = full_url
            .parse()
            .map_err(|_| error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "invalid request target"))?;
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
                return Err(error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "invalid request target"));
            };
            parts.headers.insert(name, value);
        }
        Ok(Request::from_parts(parts, Full::new(body)))
    }

    async fn invoke(
        &self,
        pre: &ServicePre<InstanceState>,
        component_id: &str,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Full<Bytes>>, String> {
        let _slot = self.runtime.slot().await;
        let component = &self.runtime.components[component_id];
        let mut store = self.runtime.store(component);
        let service = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("instantiation failed: {e:?}"))?;
        let request = request.map(|body| {
            body.map_err(|never| -> wasmtime_wasi_http::p3::bindings::http::types::ErrorCode { match never {} })
        });
        let (request, transmit) = wasmtime_wasi_http::p3::Request::from_http(request);
        let outcome = store
            .run_concurrent(async |accessor| {
                let answer = async {
                    let response = service
                        .handle(accessor, request)
                        .await
                        .map_err(to_anyhow)?
                        .map_err(|code| anyhow::anyhow!("guest answered with error code {code:?}"))?;
                    let response = accessor
                        .with(|access| response.into_http(access, async { Ok(()) }))
                        .map_err(to_anyhow)?;
                    let (parts, body) = response.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(|code| anyhow::anyhow!("response body failed: {code:?}"))?
                        .to_bytes();
                    anyhow::Ok(Response::from_parts(parts, Full::new(body)))
                };
                let (response, ()) = tokio::try_join!(answer, async {
                    transmit
                        .await
                        .map_err(|code| anyhow::anyhow!("request body failed: {code:?}"))
                })?;
                anyhow::Ok(response)
            })
            .await;
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(format!("{error:#}")),
            Err(error) => Err(format!("{error:?}")),
        }
    }
}

/// A JSON error answer in the shape every component uses.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "success": false,
        "errorCode": code,
        "error": message,
        "retryable": status.is_server_error(),
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn internal_error(component: &str, detail: &str) -> Response<Full<Bytes>> {
    log::event("error", "component failed", &[("component", component), ("error", detail)]);
    error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error")
}
