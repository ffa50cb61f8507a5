//! Outbound network policy ([`AllowedHosts`]: `allowed_outbound_hosts`,
//! checked here and nowhere else, for HTTP and `postgres://` alike) and
//! outbound HTTP (`wasi:http` p3 client).

mod allowed_hosts;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p3::{RequestOptions, WasiHttpHooks};

pub use allowed_hosts::AllowedHosts;

use allowed_hosts::default_port;

/// Outbound requests with no timeout of their own get this one for each
/// phase (connect, first byte, between bytes).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The `wasi:http` hooks of one instance: the allow-list and default timeouts.
pub struct OutboundHttp {
    pub allowed: AllowedHosts,
    pub component: String,
}

type SendFuture = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<UnsyncBoxBody<Bytes, ErrorCode>>,
                    Box<dyn std::future::Future<Output = Result<(), ErrorCode>> + Send>,
                ),
                wasmtime_wasi::TrappableError<ErrorCode>,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<UnsyncBoxBody<Bytes, ErrorCode>>,
        options: Option<RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), ErrorCode>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri.port_u16().or_else(|| default_port(&scheme)).unwrap_or(0);
        if !self.allowed.allows(&scheme, &host, port) {
            // Spin answers a denied destination with `HttpRequestDenied`, so
            // guests see the same error here and in production.
            crate::log::event(
                "warn",
                "outbound request denied",
                &[("component", self.component.as_str().into()), ("destination", format!("{scheme}://{host}:{port}").into())],
            );
            return Box::new(async { Err(ErrorCode::HttpRequestDenied.into()) });
        }
        let options = with_default_timeouts(options);
        Box::new(async move {
            use http_body_util::BodyExt;
            let timing = crate::phases::start();
            let sent = wasmtime_wasi_http::p3::default_send_request(request, Some(options)).await;
            crate::phases::finish(crate::phases::Phase::OutboundHttp, timing);
            let (response, io) = sent?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

fn with_default_timeouts(options: Option<RequestOptions>) -> RequestOptions {
    let options = options.unwrap_or_default();
    RequestOptions {
        connect_timeout: options.connect_timeout.or(Some(DEFAULT_TIMEOUT)),
        first_byte_timeout: options.first_byte_timeout.or(Some(DEFAULT_TIMEOUT)),
        between_bytes_timeout: options.between_bytes_timeout.or(Some(DEFAULT_TIMEOUT)),
    }
}
