//! `[[client_tls]]`: which roots, and which client certificate, a component
//! uses for a host, read as Spin 4.0.2 reads the runtime config
//! (`factor-outbound-networking`):
//!
//! ```toml
//! [[client_tls]]
//! component_ids = ["send-push"]       # Spin component ids, at least one
//! hosts = ["api.push.apple.com"]      # host names or IPs, no port; at least one
//! ca_use_platform_roots = false       # the system's roots
//! ca_use_webpki_roots = false         # the webpki (Mozilla) roots
//! ca_roots_file = "certs/fake-ca.pem" # PEM, beside the runtime config file
//! client_cert_file = "certs/client.pem"        # mTLS: both or neither
//! client_private_key_file = "certs/client.key"
//! ```
//!
//! Neither `ca_use_*` key given: the platform roots alone, or the file's
//! roots alone when there is a `ca_roots_file`. One of them given: it, and
//! not the other. A host with no entry for the component gets the platform
//! and webpki roots. The first entry naming a component and a host wins. A
//! host is matched as the request's URI writes it, without its port: an
//! entry for `127.0.0.1` covers every port there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, ensure, Context as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ClientConfig;

/// The TLS configuration of every component and host, built at start-up.
pub struct ClientTlsConfigs {
    by_component: HashMap<String, Arc<HostConfigs>>,
    default: Arc<ClientConfig>,
}

/// One component's view of [`ClientTlsConfigs`].
#[derive(Clone)]
pub struct ComponentTls {
    hosts: Option<Arc<HostConfigs>>,
    default: Arc<ClientConfig>,
}

type HostConfigs = HashMap<String, Arc<ClientConfig>>;

/// One `[[client_tls]]` entry, its files read.
struct Entry {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    use_platform_roots: bool,
    use_webpki_roots: bool,
    roots: Vec<CertificateDer<'static>>,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
}

/// An entry as written.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryToml {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_platform_roots: Option<bool>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

impl ClientTlsConfigs {
    /// No `[[client_tls]]`: every host gets the platform and webpki roots.
    ///
    /// Errors: the platform's roots cannot be read.
    pub fn defaults() -> anyhow::Result<Self> {
        Ok(Self {
            by_component: HashMap::new(),
            default: Arc::new(client_config(true, true, Vec::new(), None)?),
        })
    }

    /// Reads the value of `client_tls` (an array of tables) from a runtime
    /// config whose relative paths start at `dir`, and builds each entry's
    /// configuration.
    ///
    /// Errors, naming the entry (`[[client_tls]] #1` is the first) and the
    /// key: an unknown or missing key, an empty `component_ids` or `hosts`,
    /// a component id Spin refuses, a host with a port or not a host at all,
    /// an unreadable or malformed PEM file, a client certificate without its
    /// key or the other way round, no roots at all.
    pub fn parse(value: &toml::Value, dir: &Path) -> anyhow::Result<Self> {
        let entries: Vec<toml::Value> = value
            .clone()
            .try_into()
            .context("[[client_tls]] must be an array of tables")?;
        let mut configs = Self::defaults()?;
        for (index, entry) in entries.into_iter().enumerate() {
            let name = format!("[[client_tls]] #{}", index + 1);
            let entry = Entry::parse(entry, dir).with_context(|| name.clone())?;
            let config = Arc::new(
                client_config(
                    entry.use_platform_roots,
                    entry.use_webpki_roots,
                    entry.roots,
                    entry.client_cert,
                )
                .with_context(|| name.clone())?,
            );
            for component in entry.component_ids {
                let hosts = configs.by_component.entry(component).or_default();
                // Invariant: the maps are shared only once built, below.
                let hosts = Arc::get_mut(hosts).expect("not shared while building");
                for host in &entry.hosts {
                    hosts.entry(host.clone()).or_insert_with(|| config.clone());
                }
            }
        }
        Ok(configs)
    }

    /// What `component` uses.
    pub fn for_component(&self, component: &str) -> ComponentTls {
        ComponentTls {
            hosts: self.by_component.get(component).cloned(),
            default: self.default.clone(),
        }
    }
}

impl ComponentTls {
    /// The configuration for `host` (the request URI's, without its port).
    pub fn config_for(&self, host: &str) -> Arc<ClientConfig> {
        self.hosts
            .as_ref()
            .and_then(|hosts| hosts.get(host))
            .unwrap_or(&self.default)
            .clone()
    }
}

impl Entry {
    fn parse(value: toml::Value, dir: &Path) -> anyhow::Result<Self> {
        let toml: EntryToml = value.try_into()?;
        for id in &toml.component_ids {
            crate::manifest::check_component_id(id).context("component_ids")?;
        }
        for host in &toml.hosts {
            check_host(host).context("hosts")?;
        }
        ensure!(
            !toml.component_ids.is_empty(),
            "component_ids: the list may not be empty"
        );
        ensure!(!toml.hosts.is_empty(), "hosts: the list may not be empty");
        let (use_platform_roots, use_webpki_roots) =
            match (toml.ca_use_platform_roots, toml.ca_use_webpki_roots) {
                (Some(platform), Some(webpki)) => (platform, webpki),
                (Some(platform), None) => (platform, false),
                (None, Some(webpki)) => (false, webpki),
                (None, None) => (toml.ca_roots_file.is_none(), false),
            };
        let roots = match &toml.ca_roots_file {
            Some(path) => load_certificates(&dir.join(path)).context("ca_roots_file")?,
            None => Vec::new(),
        };
        let client_cert = match (&toml.client_cert_file, &toml.client_private_key_file) {
            (Some(cert), Some(key)) => Some((
                load_certificates(&dir.join(cert)).context("client_cert_file")?,
                load_key(&dir.join(key)).context("client_private_key_file")?,
            )),
            (None, None) => None,
            (Some(_), None) => bail!("client_cert_file is given without client_private_key_file"),
            (None, Some(_)) => bail!("client_private_key_file is given without client_cert_file"),
        };
        Ok(Self {
            component_ids: toml.component_ids,
            hosts: toml.hosts,
            use_platform_roots,
            use_webpki_roots,
            roots,
            client_cert,
        })
    }
}

/// A host as Spin 4.0.2 takes it: an authority without a port.
fn check_host(host: &str) -> anyhow::Result<()> {
    let authority: http::uri::Authority = host
        .parse()
        .with_context(|| format!("invalid TLS host {host:?}"))?;
    ensure!(
        authority.port().is_none(),
        "invalid TLS host {host:?}: ports are not supported (Spin 4.0.2 refuses them too); the entry covers every port"
    );
    Ok(())
}

fn load_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect())
        .with_context(|| format!("reading certificates from {}", path.display()))
}

fn load_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading a private key from {}", path.display()))
}

/// A rustls configuration with Spin's verifier: the platform verifier with
/// the other roots added when `use_platform_roots`, else exactly the other
/// roots; ALPN offers `h2`, then `http/1.1`.
fn client_config(
    use_platform_roots: bool,
    use_webpki_roots: bool,
    mut roots: Vec<CertificateDer<'static>>,
    client_cert: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> anyhow::Result<ClientConfig> {
    ensure!(
        use_platform_roots || use_webpki_roots || !roots.is_empty(),
        "no roots to trust: set ca_use_platform_roots or ca_use_webpki_roots, or give a ca_roots_file with certificates"
    );
    if use_webpki_roots {
        roots.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = if use_platform_roots {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)
            .context("loading the platform's roots")?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        let mut store = rustls::RootCertStore::empty();
        for root in roots {
            store.add(root).context("a root certificate")?;
        }
        builder.with_root_certificates(store)
    };
    let mut config = match client_cert {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .context("the client certificate")?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with a fresh self-signed certificate (`certs/ca.pem`) and its
    /// key (`certs/key.pem`), an empty PEM file and a malformed one.
    struct Files(PathBuf);

    impl Files {
        fn new() -> Self {
            static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "devhost-client-tls-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ));
            std::fs::create_dir_all(dir.join("certs")).unwrap();
            let certified =
                rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
            std::fs::write(dir.join("certs/ca.pem"), certified.cert.pem()).unwrap();
            std::fs::write(
                dir.join("certs/key.pem"),
                certified.signing_key.serialize_pem(),
            )
            .unwrap();
            std::fs::write(dir.join("certs/empty.pem"), "").unwrap();
            std::fs::write(
                dir.join("certs/garbage.pem"),
                "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            )
            .unwrap();
            Self(dir)
        }

        fn parse(&self, entries: &str) -> anyhow::Result<ClientTlsConfigs> {
            let table: toml::Table = entries.parse()?;
            ClientTlsConfigs::parse(&table["client_tls"], &self.0)
        }

        fn entry(&self, entry: &str) -> anyhow::Result<Entry> {
            let table: toml::Table = entry.parse()?;
            Entry::parse(toml::Value::Table(table), &self.0)
        }
    }

    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const ENTRY: &str = "component_ids = [\"send-push\"]\nhosts = [\"127.0.0.1\"]\n";

    #[test]
    fn roots_default_as_spin_does() {
        let files = Files::new();
        let check = |keys: &str, expected: (bool, bool, usize)| {
            let entry = files.entry(&format!("{ENTRY}{keys}")).unwrap();
            assert_eq!(
                (
                    entry.use_platform_roots,
                    entry.use_webpki_roots,
                    entry.roots.len()
                ),
                expected,
                "{keys}"
            );
        };
        check("", (true, false, 0));
        check("ca_roots_file = \"certs/ca.pem\"", (false, false, 1));
        check("ca_use_webpki_roots = true", (false, true, 0));
        check(
            "ca_use_platform_roots = false\nca_use_webpki_roots = true",
            (false, true, 0),
        );
        check("ca_use_platform_roots = true", (true, false, 0));
        check(
            "ca_use_platform_roots = true\nca_roots_file = \"certs/ca.pem\"",
            (true, false, 1),
        );
        check(
            "ca_use_webpki_roots = true\nca_roots_file = \"certs/ca.pem\"",
            (false, true, 1),
        );
    }

    #[test]
    fn malformed_entries_name_their_key() {
        let files = Files::new();
        for (entry, expected) in [
            ("hosts = [\"a.com\"]", "missing field `component_ids`"),
            ("component_ids = [\"x\"]", "missing field `hosts`"),
            ("component_ids = []\nhosts = [\"a.com\"]", "component_ids: the list may not be empty"),
            ("component_ids = [\"x\"]\nhosts = []", "hosts: the list may not be empty"),
            ("component_ids = [\"Not_Kebab\"]\nhosts = [\"a.com\"]", "component_ids"),
            ("component_ids = [\"x\"]\nhosts = [\"127.0.0.1:8443\"]", "ports are not supported"),
            ("component_ids = [\"x\"]\nhosts = [\"https://a.com\"]", "invalid TLS host"),
            ("component_ids = [\"x\"]\nhosts = [\"a.com\"]\nca_root_file = \"x\"", "unknown field `ca_root_file`"),
            ("component_ids = [\"x\"]\nhosts = [\"a.com\"]\nca_use_webpki_roots = \"yes\"", "invalid type"),
            ("component_ids = [\"x\"]\nhosts = [\"a.com\"]\nca_roots_file = \"nowhere.pem\"", "ca_roots_file"),
            ("component_ids = [\"x\"]\nhosts = [\"a.com\"]\nca_roots_file = \"certs/garbage.pem\"", "ca_roots_file"),
            ("component_ids = [\"x\"]\nhosts = [\"a.com\"]\nclient_cert_file = \"certs/ca.pem\"", "without client_private_key_file"),
            ("component_ids = [\"x\"]\nhosts = [\"a.com\"]\nclient_private_key_file = \"certs/key.pem\"", "without client_cert_file"),
            (
                "component_ids = [\"x\"]\nhosts = [\"a.com\"]\nclient_cert_file = \"certs/ca.pem\"\nclient_private_key_file = \"certs/ca.pem\"",
                "client_private_key_file",
            ),
        ] {
            let error = files.entry(entry).err().map(|error| format!("{error:#}")).unwrap_or_default();
            assert!(error.contains(expected), "{entry}: {error:?}");
        }
    }

    #[test]
    fn each_entry_is_named_and_needs_roots() {
        let files = Files::new();
        let error = |text: &str| {
            files
                .parse(text)
                .err()
                .map(|error| format!("{error:#}"))
                .unwrap_or_default()
        };
        let second_bad = format!(
            "[[client_tls]]\n{ENTRY}\n[[client_tls]]\ncomponent_ids = [\"x\"]\nhosts = []\n"
        );
        assert!(
            error(&second_bad).starts_with("[[client_tls]] #2: hosts"),
            "{}",
            error(&second_bad)
        );
        let no_roots = format!("[[client_tls]]\n{ENTRY}ca_use_platform_roots = false\n");
        assert!(
            error(&no_roots).contains("no roots to trust"),
            "{}",
            error(&no_roots)
        );
        let empty_file = format!("[[client_tls]]\n{ENTRY}ca_roots_file = \"certs/empty.pem\"\n");
        assert!(
            error(&empty_file).contains("no roots to trust"),
            "{}",
            error(&empty_file)
        );
        assert!(error("[client_tls]\nhosts = 1").contains("must be an array of tables"));
    }

    #[test]
    fn the_first_entry_for_a_component_and_host_wins() {
        let files = Files::new();
        let configs = files
            .parse(&format!(
                "[[client_tls]]\n{ENTRY}ca_roots_file = \"certs/ca.pem\"\nclient_cert_file = \"certs/ca.pem\"\nclient_private_key_file = \"certs/key.pem\"\n\
                 [[client_tls]]\ncomponent_ids = [\"send-push\", \"other\"]\nhosts = [\"127.0.0.1\", \"localhost\"]\nca_use_webpki_roots = true\n"
            ))
            .unwrap();
        let push = configs.for_component("send-push");
        assert!(push
            .config_for("127.0.0.1")
            .client_auth_cert_resolver
            .has_certs());
        assert!(!push
            .config_for("localhost")
            .client_auth_cert_resolver
            .has_certs());
        let other = configs.for_component("other");
        assert!(!Arc::ptr_eq(
            &other.config_for("127.0.0.1"),
            &other.config_for("example.com")
        ));
        // Another component, another host, or the host with a port written in: the default.
        let default = configs.for_component("nobody").config_for("127.0.0.1");
        assert!(Arc::ptr_eq(&push.config_for("example.com"), &default));
        assert!(Arc::ptr_eq(&push.config_for("127.0.0.1:443"), &default));
        assert_eq!(
            default.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
