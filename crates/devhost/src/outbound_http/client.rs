//! The pooled clients behind outbound HTTP: hyper-util's legacy `Client`,
//! the one Spin 4.0.2 uses, with a connector of our own that opens TCP or
//! TLS connections the way Spin's does and reports failures as `wasi:http`
//! error codes.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::Scheme;
use http::Uri;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime_wasi_http::p2::bindings::http::types::{DnsErrorPayload, ErrorCode};
use wasmtime_wasi_http::p2::types::OutgoingRequestConfig;

use super::OutboundHttpConfig;

type GuestBody = UnsyncBoxBody<Bytes, ErrorCode>;

/// What wasmtime-wasi-http passes for a timeout the guest did not set.
const UNSET: Duration = Duration::from_secs(600);

/// The timeouts of one request's phases.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timeouts {
    connect: Duration,
    first_byte: Duration,
    between_bytes: Duration,
}

impl Timeouts {
    /// The guest's options, `default` for each it leaves out (wasmtime-wasi-http
    /// reports an option left out as [`UNSET`]).
    pub(super) fn from_config(config: &OutgoingRequestConfig, default: Duration) -> Self {
        let or_default = |timeout: Duration| if timeout == UNSET { default } else { timeout };
        Self {
            connect: or_default(config.connect_timeout),
            first_byte: or_default(config.first_byte_timeout),
            between_bytes: or_default(config.between_bytes_timeout),
        }
    }

    /// How long the answer's body may stall between two chunks.
    pub(super) fn between_bytes(&self) -> Duration {
        self.between_bytes
    }
}

/// The host's clients; clones share the pools.
#[derive(Clone)]
pub(super) struct Clients {
    /// `https://`, HTTP/2 when the server picks it through ALPN and HTTP/1.1
    /// otherwise, and `http://` over HTTP/1.1.
    negotiated: Client<Connector, GuestBody>,
    /// `http://` to `h2c_authority`, HTTP/2 with prior knowledge.
    h2c: Client<Connector, GuestBody>,
    h2c_authority: Option<Arc<str>>,
    /// With `max_concurrent_requests`, one permit per open connection.
    connection_permits: Option<Arc<Semaphore>>,
}

impl Clients {
    pub(super) fn new(config: &OutboundHttpConfig, h2c_authority: Option<String>) -> Self {
        let builder = || {
            let mut builder = Client::builder(TokioExecutor::new());
            if !config.connection_pooling {
                builder.pool_max_idle_per_host(0);
            }
            builder
        };
        Self {
            negotiated: builder().build(Connector),
            h2c: builder().http2_only(true).build(Connector),
            h2c_authority: h2c_authority.map(Arc::from),
            // Spin's count: the limit, plus the connection being opened.
            connection_permits: config
                .max_concurrent_requests
                .map(|limit| Arc::new(Semaphore::new(limit + 1))),
        }
    }

    /// Sends `request` and answers its head; reading the body then fails if
    /// it stalls past the between-bytes timeout. `tls` is the configuration
    /// for an `https://` request.
    pub(super) async fn send(
        &self,
        request: http::Request<GuestBody>,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeouts: Timeouts,
    ) -> Result<http::Response<GuestBody>, ErrorCode> {
        let uri = request.uri();
        let h2c = uri.scheme() != Some(&Scheme::HTTPS)
            && self.h2c_authority.is_some()
            && self.h2c_authority.as_deref() == uri.authority().map(|authority| authority.as_str());
        let client = if h2c { &self.h2c } else { &self.negotiated };
        let options = ConnectOptions {
            connect_timeout: timeouts.connect,
            tls,
            permits: self.connection_permits.clone(),
        };
        // Spin's first-byte timeout covers connecting too.
        let answered = CONNECT_OPTIONS.scope(options, client.request(request));
        let response = tokio::time::timeout(timeouts.first_byte, answered)
            .await
            .map_err(|_| ErrorCode::ConnectionReadTimeout)?
            .map_err(|error| error_code(&error))?;
        Ok(response.map(|body| BetweenBytes::new(body, timeouts.between_bytes).boxed_unsync()))
    }
}

/// What opening a connection for the request at hand takes. hyper-util
/// calls a connector with the URI alone, so the request's own settings
/// travel in a task-local, as on Spin; a pooled connection ignores them.
#[derive(Clone)]
struct ConnectOptions {
    connect_timeout: Duration,
    tls: Option<Arc<rustls::ClientConfig>>,
    permits: Option<Arc<Semaphore>>,
}

tokio::task_local! {
    static CONNECT_OPTIONS: ConnectOptions;
}

/// Opens TCP for `http://` and TLS over TCP for `https://`.
#[derive(Clone, Copy)]
struct Connector;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Conn>;
    type Error = ErrorCode;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<Conn>, ErrorCode>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ErrorCode>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // Read here, inside the request's scope: when a pooled connection
        // frees up first, hyper-util finishes this one in a task of its own.
        let options = CONNECT_OPTIONS.try_with(ConnectOptions::clone);
        Box::pin(async move {
            let options =
                options.map_err(|_| internal_error("a connection opened outside a request"))?;
            options.connect(&uri).await.map(TokioIo::new)
        })
    }
}

impl ConnectOptions {
    async fn connect(self, uri: &Uri) -> Result<Conn, ErrorCode> {
        let authority = uri.authority().ok_or(ErrorCode::HttpRequestUriInvalid)?;
        let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
        let address = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{}", if use_tls { 443 } else { 80 }),
        };
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host(&address)
            .await
            .map_err(|_| dns_error("address not available"))?
            .collect();
        let permit = match &self.permits {
            Some(permits) => permits.clone().acquire_owned().await.ok(),
            None => None,
        };
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(&*addresses),
        )
        .await
        .map_err(|_| ErrorCode::ConnectionTimeout)?
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::AddrNotAvailable => dns_error("address not available"),
            _ => ErrorCode::ConnectionRefused,
        })?;
        if !use_tls {
            return Ok(Conn {
                io: Box::new(tcp),
                negotiated_h2: false,
                _permit: permit,
            });
        }
        let config = self
            .tls
            .ok_or_else(|| internal_error("an https request without a TLS config"))?;
        let host = uri.host().unwrap_or_default();
        let name = rustls::pki_types::ServerName::try_from(host)
            .map_err(|_| dns_error("invalid dns name"))?
            .to_owned();
        let stream = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|error| {
                // The guest only learns `TlsProtocolError`; the reason (an
                // unknown issuer, a name mismatch) is for the developer.
                crate::log::event(
                    "warn",
                    "outbound TLS handshake failed",
                    &[
                        ("destination", address.into()),
                        ("error", error.to_string().into()),
                    ],
                );
                ErrorCode::TlsProtocolError
            })?;
        let negotiated_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Conn {
            io: Box::new(stream),
            negotiated_h2,
            _permit: permit,
        })
    }
}

fn dns_error(rcode: &str) -> ErrorCode {
    ErrorCode::DnsError(DnsErrorPayload {
        rcode: Some(rcode.to_owned()),
        info_code: Some(0),
    })
}

fn internal_error(message: &str) -> ErrorCode {
    ErrorCode::InternalError(Some(message.to_owned()))
}

/// The code for a failure of the client or of a body: the connector's own
/// when it is the direct cause (Spin looks one level down, no further),
/// `HttpProtocolError` for the rest.
fn error_code(error: &(dyn std::error::Error + 'static)) -> ErrorCode {
    if let Some(code) = error
        .source()
        .and_then(|cause| cause.downcast_ref::<ErrorCode>())
    {
        return code.clone();
    }
    crate::log::event(
        "warn",
        "outbound HTTP failed",
        &[("error", format!("{error:?}").into())],
    );
    ErrorCode::HttpProtocolError
}

/// An open connection, plain or TLS, holding its permit while it lives.
struct Conn {
    io: Box<dyn Io>,
    negotiated_h2: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        if self.negotiated_h2 {
            Connected::new().negotiated_h2()
        } else {
            Connected::new()
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// An answer's body that fails with `ConnectionReadTimeout` when no frame
/// comes within `timeout` of asking for the next one.
struct BetweenBytes {
    body: hyper::body::Incoming,
    timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
    // Invariant: `sleep` is armed for the frame being waited for when true.
    waiting: bool,
}

impl BetweenBytes {
    fn new(body: hyper::body::Incoming, timeout: Duration) -> Self {
        Self {
            body,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
            waiting: false,
        }
    }
}

impl Body for BetweenBytes {
    type Data = Bytes;
    type Error = ErrorCode;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ErrorCode>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|frame| frame.map_err(|error| error_code(&error))));
        }
        if !this.waiting {
            this.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + this.timeout);
            this.waiting = true;
        }
        std::task::ready!(this.sleep.as_mut().poll(cx));
        Poll::Ready(Some(Err(ErrorCode::ConnectionReadTimeout)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
