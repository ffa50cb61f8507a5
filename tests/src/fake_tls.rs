//! A fake HTTP server on 127.0.0.1 for outbound-HTTP tests, with TLS as a
//! real push provider has it (APNs speaks HTTP/2 only): a certificate
//! authority of its own, made with rcgen for each fake and trusted by nothing
//! until a runtime config's `[[client_tls]]` says so; a server certificate
//! for `127.0.0.1` and `localhost`; rustls choosing between the ALPN
//! protocols it offers; hyper-util's auto server answering HTTP/1.1 and
//! HTTP/2. [`FakeTls::plain`] serves the same without TLS, where a client
//! that speaks HTTP/2 with prior knowledge (h2c) gets HTTP/2. The fake
//! records the HTTP version of each request and counts connections.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::manifests::TempRuntimeConfig;

/// A running fake; stops when dropped.
pub struct FakeTls {
    /// `https://127.0.0.1:PORT`, or `http://` for [`FakeTls::plain`].
    pub origin: String,
    /// The certificate authority that signed the server's certificate (PEM).
    pub ca_pem: String,
    port: u16,
    seen: Arc<Mutex<Vec<hyper::Version>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

/// The ALPN protocols an HTTPS fake offers, most preferred first.
pub const H2_AND_HTTP1: &[&str] = &["h2", "http/1.1"];
/// For a server that speaks HTTP/1.1 only.
pub const HTTP1_ONLY: &[&str] = &["http/1.1"];

impl FakeTls {
    /// An HTTPS fake offering `h2` and `http/1.1`, each request answered by
    /// `answer`.
    pub async fn https<F, Fut>(answer: F) -> anyhow::Result<Self>
    where
        F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
    {
        Self::start(Some(H2_AND_HTTP1), answer).await
    }

    /// An HTTPS fake offering only the ALPN protocols `alpn`.
    pub async fn https_offering<F, Fut>(alpn: &[&str], answer: F) -> anyhow::Result<Self>
    where
        F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
    {
        Self::start(Some(alpn), answer).await
    }

    /// A plain-text fake: HTTP/1.1, or HTTP/2 to a client that opens with
    /// HTTP/2's preface (prior knowledge).
    pub async fn plain<F, Fut>(answer: F) -> anyhow::Result<Self>
    where
        F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
    {
        Self::start(None, answer).await
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP version of each request so far, in order.
    pub fn versions(&self) -> Vec<hyper::Version> {
        lock(&self.seen).clone()
    }

    /// How many connections it has accepted (TLS handshakes that failed
    /// included).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// A runtime config file whose one `[[client_tls]]` entry trusts this
    /// fake's certificate authority (and nothing else) for `component_ids`
    /// reaching `hosts`; see [`client_tls_config`].
    pub fn trusted_by(
        &self,
        component_ids: &[&str],
        hosts: &[&str],
    ) -> anyhow::Result<TempRuntimeConfig> {
        client_tls_config(&[self], component_ids, hosts, "")
    }

    async fn start<F, Fut>(alpn: Option<&[&str]>, answer: F) -> anyhow::Result<Self>
    where
        F: Fn(hyper::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = hyper::Response<Full<Bytes>>> + Send + 'static,
    {
        let (ca_pem, acceptor) = match alpn {
            Some(alpn) => {
                let (ca_pem, config) = server_config(alpn)?;
                (
                    ca_pem,
                    Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
                )
            }
            None => (String::new(), None),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let service = {
            let seen = seen.clone();
            move |request: hyper::Request<Incoming>| {
                lock(&seen).push(request.version());
                let answered = answer(request);
                async move { Ok::<_, Infallible>(answered.await) }
            }
        };
        let counted = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                counted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                let service = hyper::service::service_fn(service.clone());
                tokio::spawn(async move {
                    let builder =
                        hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    // A refused handshake or a dropped connection ends only this one.
                    let _ = match acceptor {
                        Some(acceptor) => match acceptor.accept(stream).await {
                            Ok(tls) => builder.serve_connection(TokioIo::new(tls), service).await,
                            Err(_) => Ok(()),
                        },
                        None => {
                            builder
                                .serve_connection(TokioIo::new(stream), service)
                                .await
                        }
                    };
                });
            }
        });
        Ok(Self {
            origin: format!("{scheme}://127.0.0.1:{port}"),
            ca_pem,
            port,
            seen,
            connections,
            task,
        })
    }
}

impl Drop for FakeTls {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A runtime config file whose one `[[client_tls]]` entry trusts the
/// certificate authorities of `fakes` (and nothing else) for `component_ids`
/// reaching `hosts` (names or IPs, without ports), then `more_toml`; the PEM
/// file sits beside it (`ca_roots_file` is relative, as Spin allows).
///
/// One entry for them all: Spin takes the first entry naming a component and
/// a host, so a second entry for the same pair would be ignored.
pub fn client_tls_config(
    fakes: &[&FakeTls],
    component_ids: &[&str],
    hosts: &[&str],
    more_toml: &str,
) -> anyhow::Result<TempRuntimeConfig> {
    let text = format!(
        "[[client_tls]]\ncomponent_ids = {component_ids:?}\nhosts = {hosts:?}\nca_roots_file = \"fake-cas.pem\"\n\n{more_toml}"
    );
    let roots: String = fakes.iter().map(|fake| fake.ca_pem.as_str()).collect();
    TempRuntimeConfig::write(&text, &[("fake-cas.pem", &roots)])
}

/// A fresh certificate authority (its PEM) and a server configuration with
/// a certificate it signed for `127.0.0.1` and `localhost`.
fn server_config(alpn: &[&str]) -> anyhow::Result<(String, rustls::ServerConfig)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "e2e fake CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = rcgen::KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let mut server_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    server_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    server_params.use_authority_key_identifier_extension = true;
    let server_key = rcgen::KeyPair::generate()?;
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let chain = vec![CertificateDer::from(server_cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the fake's certificate")?;
    config.alpn_protocols = alpn
        .iter()
        .map(|protocol| protocol.as_bytes().to_vec())
        .collect();
    Ok((ca.pem(), config))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
