//! `allowed_outbound_hosts`, checked here and nowhere else, for HTTP and for
//! `postgres://` connections alike, with Spin's syntax: `scheme://host[:port]`
//! where scheme may be `*`, host may be `*` or `*.domain`, and port may be
//! `*`, a number or a range `a..b`; `{{ var }}` templates are expanded at
//! start-up. A port left out means the scheme's default port.

use anyhow::{bail, Context as _};

/// One component's `allowed_outbound_hosts`, parsed.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    patterns: Vec<HostPattern>,
}

#[derive(Debug, Clone, PartialEq)]
struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq)]
enum HostMatch {
    Any,
    Exact(String),
    Subdomain(String),
}

#[derive(Debug, Clone, PartialEq)]
enum PortMatch {
    Any,
    Default,
    Range(u16, u16),
}

impl AllowedHosts {
    /// Parses already-expanded patterns.
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> anyhow::Result<Self> {
        let patterns = patterns
            .iter()
            .map(|p| parse_pattern(p.as_ref()).with_context(|| format!("allowed_outbound_hosts {:?}", p.as_ref())))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { patterns })
    }

    /// Whether a connection to `scheme://host:port` is allowed.
    pub fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.patterns.iter().any(|pattern| {
            let scheme_ok = pattern.scheme.as_deref().is_none_or(|s| s == scheme);
            let host_ok = match &pattern.host {
                HostMatch::Any => true,
                HostMatch::Exact(exact) => *exact == host,
                HostMatch::Subdomain(domain) => host
                    .strip_suffix(domain.as_str())
                    .is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
            };
            let port_ok = match pattern.port {
                PortMatch::Any => true,
                PortMatch::Default => default_port(scheme) == Some(port),
                PortMatch::Range(low, high) => (low..=high).contains(&port),
            };
            scheme_ok && host_ok && port_ok
        })
    }

    /// Whether a URL such as `postgres://user@host:5432/db` may be reached.
    pub fn allows_url(&self, url: &str) -> bool {
        let Ok(parsed) = url::Url::parse(url) else {
            return false;
        };
        let Some(host) = parsed.host_str() else {
            return false;
        };
        let scheme = parsed.scheme();
        let Some(port) = parsed.port().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.allows(scheme, host, port)
    }
}

impl AllowedHosts {
    /// Whether every host of a Postgres address may be reached, read as
    /// Spin 4.0.2 reads it (`factor-outbound-pg`): any form tokio-postgres
    /// parses (`postgres://`, `postgresql://`, `key=value`), each TCP host
    /// with its own port, the only port, or 5432, checked as `postgres://`.
    pub fn allows_postgres(&self, address: &str) -> bool {
        let Ok(config) = address.parse::<tokio_postgres::Config>() else {
            return false;
        };
        let ports = config.get_ports();
        config.get_hosts().iter().enumerate().all(|(index, host)| match host {
            tokio_postgres::config::Host::Tcp(host) => {
                let port = ports.get(index).or_else(|| (ports.len() == 1).then(|| &ports[0]));
                let host = host.trim_start_matches('[').trim_end_matches(']');
                self.allows("postgres", host, port.copied().unwrap_or(5432))
            }
            // Spin: "Unix sockets are not supported on WebAssembly".
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => false,
        })
    }
}

pub(super) fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" => 80,
        "https" => 443,
        "postgres" | "postgresql" => 5432,
        "mysql" => 3306,
        "redis" => 6379,
        "mqtt" => 1883,
        _ => return None,
    })
}

fn parse_pattern(pattern: &str) -> anyhow::Result<HostPattern> {
    let Some((scheme, rest)) = pattern.split_once("://") else {
        bail!("expected scheme://host[:port]");
    };
    if scheme.is_empty() || rest.is_empty() {
        bail!("expected scheme://host[:port]");
    }
    if rest.contains('/') {
        bail!("paths are not allowed");
    }
    let (host, port) = split_host_port(rest)?;
    let host = match host {
        "*" => HostMatch::Any,
        _ => match host.strip_prefix("*.") {
            Some(domain) if !domain.is_empty() && !domain.contains('*') => {
                HostMatch::Subdomain(domain.to_ascii_lowercase())
            }
            Some(_) => bail!("bad wildcard host"),
            None if host.is_empty() || host.contains('*') => bail!("bad host"),
            None => HostMatch::Exact(host.to_ascii_lowercase()),
        },
    };
    let port = match port {
        None => {
            if scheme != "*" && default_port(scheme).is_none() {
                bail!("scheme {scheme:?} has no default port: give one");
            }
            PortMatch::Default
        }
        Some("*") => PortMatch::Any,
        Some(port) => match port.split_once("..") {
            Some((low, high)) => {
                let (low, high): (u16, u16) = (low.parse()?, high.parse()?);
                if low > high {
                    bail!("empty port range");
                }
                PortMatch::Range(low, high)
            }
            None => {
                let port: u16 = port.parse()?;
                PortMatch::Range(port, port)
            }
        },
    };
    Ok(HostPattern {
        scheme: (scheme != "*").then(|| scheme.to_owned()),
        host,
        port,
    })
}

fn split_host_port(rest: &str) -> anyhow::Result<(&str, Option<&str>)> {
    if let Some(v6) = rest.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else {
            bail!("unclosed '['");
        };
        return Ok((host, after.strip_prefix(':')));
    }
    Ok(match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(patterns: &[&str], url: &str, expected: bool) {
        let allowed = AllowedHosts::parse(patterns).unwrap();
        assert_eq!(allowed.allows_url(url), expected, "{patterns:?} {url}");
    }

    #[test]
    fn matching() {
        check(&["https://example.com"], "https://example.com/x", true);
        check(&["https://example.com"], "https://example.com:8443/x", false);
        check(&["https://example.com"], "http://example.com/x", false);
        check(&["https://example.com"], "https://api.example.com/x", false);
        check(&["https://*.example.com"], "https://api.example.com/x", true);
        check(&["https://*.example.com"], "https://example.com/x", false);
        check(&["http://127.0.0.1:*"], "http://127.0.0.1:9999/x", true);
        check(&["http://127.0.0.1:8000..8010"], "http://127.0.0.1:8005/", true);
        check(&["http://127.0.0.1:8000..8010"], "http://127.0.0.1:8011/", false);
        check(&["*://*:*"], "redis://anything:1/", true);
        check(&["postgres://127.0.0.1:5432"], "postgres://postgres@127.0.0.1:5432/db", true);
        check(&["postgres://127.0.0.1"], "postgres://postgres@127.0.0.1/db", true);
        check(&["postgres://127.0.0.1:5432"], "postgres://postgres@127.0.0.1:5999/db", false);
        check(&[], "https://example.com/", false);
        let postgres = AllowedHosts::parse(&["postgres://db.example.com:5432", "postgres://127.0.0.1:6543"]).unwrap();
        for (address, expected) in [
            ("postgres://u:p@db.example.com:5432/app?sslmode=require", true),
            ("postgresql://u@db.example.com/app", true),
            ("host=db.example.com port=5432 user=u dbname=app", true),
            ("host=127.0.0.1 port=6543 user=u", true),
            ("postgres://u@db.example.com:5432,127.0.0.1:6543/app", true),
            ("host=db.example.com,127.0.0.1 port=5432,6543 user=u", true),
            ("postgres://u@db.example.com,127.0.0.1/app", false),
            ("postgresql://u@db.example.com:6543/app", false),
            ("host=/var/run/postgresql user=u", false),
            ("not a url", false),
        ] {
            assert_eq!(postgres.allows_postgres(address), expected, "{address}");
        }
        check(&["http://[::1]:3000"], "http://[::1]:3000/", true);
    }

    #[test]
    fn rejects_malformed_patterns() {
        for bad in ["example.com", "https://", "https://a.com/path", "https://a.*.com", "foo://a.com", "http://a:x"] {
            assert!(AllowedHosts::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
