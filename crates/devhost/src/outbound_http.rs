//! Outbound network policy and outbound HTTP (`wasi:http/outgoing-handler@0.2`),
//! shaped like Spin 4.0.2's (`factor-outbound-networking`,
//! `factor-outbound-http`):
//! - [`AllowedHosts`]: `allowed_outbound_hosts`, checked here and nowhere
//!   else, for HTTP and `postgres://` alike, before anything is sent;
//! - `client`: one set of pooled hyper-util clients for the whole host (Spin
//!   keeps one per app): `https://` over rustls offering ALPN `h2` and
//!   `http/1.1` (HTTP/2 when the server picks it), `http://` over HTTP/1.1,
//!   and plain-text HTTP/2 with prior knowledge (h2c) to the one authority
//!   [`OutboundHttpSettings::h2c_prior_knowledge`] names;
//! - [`ClientTlsConfigs`]: the roots and client certificate each component
//!   uses for each host, from the runtime config's `[[client_tls]]`; without
//!   an entry, the platform's roots and the webpki (Mozilla) roots.
//!
//! The `host` header is dropped before sending, as Spin drops it (some
//! servers refuse it on HTTP/2); HTTP/1.1 sends the URI's authority instead.
//! A pooled connection serves every later request to the same scheme and
//! authority, from any component, whatever TLS settings opened it: Spin's
//! pool is keyed the same way.
//!
//! Failures reach the guest as Spin maps them: a refused destination
//! `HttpRequestDenied`; a name that does not resolve `DnsError` ("address not
//! available"); no TCP connection `ConnectionRefused`, or `ConnectionTimeout`
//! past the connect timeout; a failed TLS handshake `TlsProtocolError`; no
//! answer head within the first-byte timeout (connecting included)
//! `ConnectionReadTimeout`, and the same when the body stalls longer than
//! the between-bytes timeout; anything else hyper reports
//! `HttpProtocolError`. Each timeout is the guest's `request-options` value,
//! or [`DEFAULT_TIMEOUT`] where it set none (wasmtime-wasi-http hands us its
//! own 600 s default then, which is Spin's too).

mod allowed_hosts;
mod client;
mod tls;

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi_http::p2::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, IncomingResponse, OutgoingRequestConfig};
use wasmtime_wasi_http::p2::{HttpResult, WasiHttpHooks};

pub use allowed_hosts::AllowedHosts;
pub use tls::{ClientTlsConfigs, ComponentTls};

use allowed_hosts::default_port;

/// Outbound requests with no timeout of their own get this one for each
/// phase (connect, first byte, between bytes). Spin's is 600 s; ours is
/// shorter so that a test against a silent fake fails in seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// What outbound HTTP takes from the host's environment.
#[derive(Debug, Clone, Default)]
pub struct OutboundHttpSettings {
    /// The one authority (`host:port`, as the request's URI writes it) that
    /// `http://` requests reach over HTTP/2 with prior knowledge (h2c)
    /// instead of HTTP/1.1: Spin's `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`.
    pub h2c_prior_knowledge: Option<String>,
}

impl OutboundHttpSettings {
    /// `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE` from the process environment.
    pub fn from_env() -> Self {
        Self {
            h2c_prior_knowledge: std::env::var("SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE").ok(),
        }
    }
}

/// The runtime config's `[outbound_http]`, read as Spin 4.0.2 reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundHttpConfig {
    /// Whether idle connections are kept for reuse.
    pub connection_pooling: bool,
    /// At most this many connections open at once, plus one (Spin counts
    /// the one it is opening); `None` is no limit.
    pub max_concurrent_requests: Option<usize>,
}

impl Default for OutboundHttpConfig {
    /// Without the table: pooling on, no limit.
    fn default() -> Self {
        Self {
            connection_pooling: true,
            max_concurrent_requests: None,
        }
    }
}

impl OutboundHttpConfig {
    /// Reads the value of `outbound_http`. A key left out is off or
    /// unlimited: once the table is there, pooling needs
    /// `connection_pooling = true`, as on Spin.
    ///
    /// Errors: not a table, an unknown key, or a value of the wrong type.
    pub fn parse(value: &toml::Value) -> anyhow::Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            #[serde(default)]
            connection_pooling: bool,
            #[serde(default)]
            max_concurrent_requests: Option<usize>,
        }
        let table: Table = value.clone().try_into()?;
        Ok(Self {
            connection_pooling: table.connection_pooling,
            max_concurrent_requests: table.max_concurrent_requests,
        })
    }

    /// Checks the runtime config's `[outbound_http]` value, naming the key.
    pub(crate) fn from_runtime_config(value: Option<&toml::Value>) -> anyhow::Result<Self> {
        match value {
            Some(value) => Self::parse(value).context("[outbound_http]"),
            None => Ok(Self::default()),
        }
    }
}

/// What every instance's outbound HTTP shares: the pooled clients and the
/// TLS settings of each component.
#[derive(Clone)]
pub struct OutboundClients {
    clients: client::Clients,
    tls: std::sync::Arc<ClientTlsConfigs>,
}

impl OutboundClients {
    /// Clients for the whole host.
    pub fn new(
        settings: &OutboundHttpSettings,
        config: &OutboundHttpConfig,
        tls: ClientTlsConfigs,
    ) -> Self {
        Self {
            clients: client::Clients::new(config, settings.h2c_prior_knowledge.clone()),
            tls: std::sync::Arc::new(tls),
        }
    }

    /// The hooks an instance of `component` gets.
    pub fn hooks(&self, component: &str, allowed: AllowedHosts) -> OutboundHttp {
        OutboundHttp {
            allowed,
            component: component.to_owned(),
            clients: self.clients.clone(),
            tls: self.tls.for_component(component),
        }
    }
}

/// The `wasi:http` hooks of one instance: the allow-list, then the shared
/// clients with the component's TLS settings and default timeouts.
#[derive(Clone)]
pub struct OutboundHttp {
    allowed: AllowedHosts,
    component: String,
    clients: client::Clients,
    tls: ComponentTls,
}

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<UnsyncBoxBody<Bytes, ErrorCode>>,
        config: OutgoingRequestConfig,
    ) -> HttpResult<HostFutureIncomingResponse> {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_owned();
        let host = uri.host().unwrap_or_default().to_owned();
        let port = uri
            .port_u16()
            .or_else(|| default_port(&scheme))
            .unwrap_or(0);
        if !self.allowed.allows(&scheme, &host, port) {
            // Spin answers a denied destination with `HttpRequestDenied`, so
            // guests see the same error here and in production.
            crate::log::event(
                "warn",
                "outbound request denied",
                &[
                    ("component", self.component.as_str().into()),
                    ("destination", format!("{scheme}://{host}:{port}").into()),
                ],
            );
            return Err(ErrorCode::HttpRequestDenied.into());
        }
        request.headers_mut().remove(http::header::HOST);
        let timeouts = client::Timeouts::from_config(&config, DEFAULT_TIMEOUT);
        let tls = (scheme == "https").then(|| self.tls.config_for(&host));
        let clients = self.clients.clone();
        let exchange = wasmtime_wasi::runtime::spawn(async move {
            let timing = crate::phases::start();
            let sent = clients.send(request, tls, timeouts).await;
            crate::phases::finish(crate::phases::Phase::OutboundHttp, timing);
            // Connection failures after the head show up in the body, as
            // with Spin's pooled client: there is no worker task to watch.
            Ok(sent.map(|resp| IncomingResponse {
                resp,
                worker: None,
                between_bytes_timeout: timeouts.between_bytes(),
            }))
        });
        Ok(HostFutureIncomingResponse::pending(exchange))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbound_http_table_turns_pooling_off_unless_it_says_otherwise() {
        let check = |text: &str, expected: Option<OutboundHttpConfig>| {
            let table: toml::Table = text.parse().unwrap();
            let parsed = OutboundHttpConfig::from_runtime_config(table.get("outbound_http"));
            assert_eq!(parsed.ok(), expected, "{text}");
        };
        let config = |connection_pooling, max_concurrent_requests| {
            Some(OutboundHttpConfig {
                connection_pooling,
                max_concurrent_requests,
            })
        };
        check("", config(true, None));
        check("[outbound_http]", config(false, None));
        check(
            "[outbound_http]\nconnection_pooling = true",
            config(true, None),
        );
        check(
            "[outbound_http]\nmax_concurrent_requests = 4",
            config(false, Some(4)),
        );
        check("[outbound_http]\npooling = true", None);
        check("[outbound_http]\nmax_concurrent_requests = -1", None);
        check("outbound_http = 3", None);
    }
}
