//! What `cargo xtask up` checks before serving: the variable pairs that must
//! agree for `allowed_outbound_hosts` (built from one of them) to let the
//! other through, and whether user JWTs can be verified at all.
//!
//! A disagreeing pair does not stop a component from starting: every request
//! that needs the destination then fails with INTERNAL_ERROR. Saying so
//! before serving is cheaper.

use std::collections::BTreeMap;

/// The effective variables: `env("SPIN_VARIABLE_<UPPER_NAME>")` over the
/// `[variables]` defaults of `manifest` (spin.toml's text). A variable with
/// neither is absent.
pub fn effective_variables(manifest: &str, env: impl Fn(&str) -> Option<String>) -> Result<BTreeMap<String, String>, String> {
    let document: toml::Table = manifest.parse().map_err(|error| format!("spin.toml is not TOML: {error}"))?;
    let mut variables = BTreeMap::new();
    let Some(declared) = document.get("variables").and_then(toml::Value::as_table) else {
        return Ok(variables);
    };
    for (name, declaration) in declared {
        let default = declaration.get("default").and_then(toml::Value::as_str).map(str::to_owned);
        if let Some(value) = env(&format!("SPIN_VARIABLE_{}", name.to_uppercase())).or(default) {
            variables.insert(name.clone(), value);
        }
    }
    Ok(variables)
}

/// `Err` with one sentence naming the first pair that disagrees:
/// `database_url`'s host:port and `database_host`; with a `sentry_dsn`, its
/// host and `sentry_origin` (which may start with a `*.` wildcard); with an
/// `auth_jwks_url`, its origin and `auth_jwks_origin` (likewise). Push has
/// no pair (spin.toml derives `push_url` from `push_origin`), but with
/// `push_provider` `expo`, `push_origin` must be scheme://host[:port].
pub fn check_pairs(variables: &BTreeMap<String, String>) -> Result<(), String> {
    let get = |name: &str| variables.get(name).map(|value| value.trim()).filter(|value| !value.is_empty());
    if let (Some(url), Some(host)) = (get("database_url"), get("database_host")) {
        let target = Origin::parse(url).ok_or_else(|| "database_url is not a postgres:// URL".to_owned())?;
        let allowed = Origin::parse(&format!("postgres://{host}")).ok_or_else(|| format!("database_host {host:?} is not host:port"))?;
        if !allowed.admits(&target) {
            return Err(format!(
                "database_url points at {} but database_host is {host:?}: set SPIN_VARIABLE_DATABASE_HOST={}, or every route will answer 500 INTERNAL_ERROR",
                target.authority(),
                target.authority()
            ));
        }
    }
    if get("push_provider") == Some("expo") {
        if let Some(origin) = get("push_origin") {
            let bare = origin.split_once("://").is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['/', '*', '?', '#']));
            if !bare || Origin::parse(origin).is_none() {
                return Err(format!(
                    "push_origin is {origin:?}, not scheme://host[:port]: push_url is {{push_origin}}/--/api/v2/push/send, so every call would answer 500 INTERNAL_ERROR"
                ));
            }
        }
    }
    if let Some(account) = get("fcm_service_account_json") {
        // The OAuth exchange goes to the account's own token_uri.
        let token_uri = serde_json::from_str::<serde_json::Value>(account)
            .ok()
            .and_then(|account| account["token_uri"].as_str().map(str::to_owned))
            .unwrap_or_else(|| "https://oauth2.googleapis.com/token".to_owned());
        let target = Origin::parse(&token_uri).ok_or_else(|| "fcm_service_account_json's token_uri is not a URL".to_owned())?;
        let origin = get("fcm_oauth_origin").unwrap_or("https://oauth2.googleapis.com");
        let allowed = Origin::parse(origin).ok_or_else(|| format!("fcm_oauth_origin {origin:?} is not scheme://host[:port]"))?;
        if !allowed.admits(&target) {
            return Err(format!(
                "fcm_service_account_json's token_uri is at {} but fcm_oauth_origin is {origin:?}: set SPIN_VARIABLE_FCM_OAUTH_ORIGIN={}, or no FCM device will ring",
                target.text(),
                target.text()
            ));
        }
    }
    if let Some(url) = get("auth_jwks_url") {
        let target = Origin::parse(url).filter(|target| matches!(target.scheme.as_str(), "http" | "https"));
        let target = target.ok_or_else(|| format!("auth_jwks_url {url:?} is not an http(s) URL"))?;
        let origin = get("auth_jwks_origin").unwrap_or("");
        let allowed = Origin::parse(origin).ok_or_else(|| format!("auth_jwks_origin {origin:?} is not scheme://host[:port]"))?;
        if !allowed.admits(&target) {
            return Err(format!(
                "auth_jwks_url points at {} but auth_jwks_origin is {origin:?}: set SPIN_VARIABLE_AUTH_JWKS_ORIGIN={}, or every token signed with the URL's keys will be refused with 500 INTERNAL_ERROR",
                target.text(),
                target.text()
            ));
        }
    }
    if let (Some(dsn), Some(origin)) = (get("sentry_dsn"), get("sentry_origin")) {
        let target = Origin::parse(dsn).ok_or_else(|| "sentry_dsn is not a DSN".to_owned())?;
        let allowed = Origin::parse(origin).ok_or_else(|| format!("sentry_origin {origin:?} is not scheme://host[:port]"))?;
        if !allowed.admits(&target) {
            return Err(format!(
                "sentry_dsn points at {} but sentry_origin is {origin:?}: set SPIN_VARIABLE_SENTRY_ORIGIN={}, or no report will reach Sentry",
                target.text(),
                target.text()
            ));
        }
    }
    Ok(())
}

/// A warning when none of `auth_jwt_secret`, `auth_jwks` and `auth_jwks_url`
/// is set, or when `auth_jwt_secret` is shorter than HS256's 32 bytes: every
/// authenticated route then answers 500 INTERNAL_ERROR.
pub fn auth_warning(variables: &BTreeMap<String, String>) -> Option<&'static str> {
    let value = |name: &str| variables.get(name).map(|value| value.trim()).filter(|value| !value.is_empty());
    if value("auth_jwt_secret").is_some_and(|secret| secret.len() < domain::auth::MIN_HS256_SECRET_BYTES) {
        return Some(
            "SPIN_VARIABLE_AUTH_JWT_SECRET is shorter than 32 bytes (HS256 needs at least 256 bits, RFC 7518): every authenticated route will answer 500 INTERNAL_ERROR",
        );
    }
    (value("auth_jwt_secret").is_none() && value("auth_jwks").is_none() && value("auth_jwks_url").is_none()).then_some(
        "none of SPIN_VARIABLE_AUTH_JWT_SECRET, SPIN_VARIABLE_AUTH_JWKS and SPIN_VARIABLE_AUTH_JWKS_URL is set: every authenticated route will answer 500 INTERNAL_ERROR",
    )
}

/// `scheme://host[:port]` of a URL, without user info or path.
#[derive(Debug)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            // An IPv6 literal: `[::1]` or `[::1]:5432`.
            let (host, after) = bracketed.split_once(']')?;
            (host, after.strip_prefix(':').map(str::parse).transpose().ok()?)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port.parse().ok()?)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Self { scheme: scheme.to_ascii_lowercase(), host: host.to_ascii_lowercase(), port })
    }

    fn effective_port(&self) -> Option<u16> {
        self.port.or(match self.scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            "postgres" => Some(5432),
            _ => None,
        })
    }

    /// Whether this allow-list entry lets `target` through; a host `*.x`
    /// admits every subdomain of `x`.
    fn admits(&self, target: &Origin) -> bool {
        let host_matches = match self.host.strip_prefix("*.") {
            Some(domain) => target.host.strip_suffix(domain).is_some_and(|prefix| prefix.ends_with('.') && prefix.len() > 1),
            None => self.host == target.host,
        };
        self.scheme == target.scheme && host_matches && self.effective_port() == target.effective_port()
    }

    fn authority(&self) -> String {
        match self.port {
            Some(port) if self.host.contains(':') => format!("[{}]:{port}", self.host),
            Some(port) => format!("{}:{port}", self.host),
            None if self.host.contains(':') => format!("[{}]", self.host),
            None => self.host.clone(),
        }
    }

    fn text(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(name, value)| ((*name).to_owned(), (*value).to_owned())).collect()
    }

    fn check(pairs: &[(&str, &str)], expected: Result<(), &str>) {
        let outcome = check_pairs(&variables(pairs));
        match expected {
            Ok(()) => assert_eq!(outcome, Ok(()), "{pairs:?}"),
            Err(words) => {
                let sentence = outcome.expect_err(&format!("{pairs:?} must disagree"));
                assert!(sentence.contains(words), "{sentence}");
            }
        }
    }

    #[test]
    fn database_pairs() {
        check(&[("database_url", "postgres://app:pw@db.internal:5432/app"), ("database_host", "db.internal:5432")], Ok(()));
        check(&[("database_url", "postgres://app@db.internal/app?sslmode=require"), ("database_host", "db.internal:5432")], Ok(()));
        check(&[("database_url", "postgres://DB.internal:5432/app"), ("database_host", "db.internal")], Ok(()));
        check(
            &[("database_url", "postgres://app:pw@db.internal:5432/app"), ("database_host", "127.0.0.1:5432")],
            Err("SPIN_VARIABLE_DATABASE_HOST=db.internal:5432"),
        );
        check(&[("database_url", "postgres://db.internal:6543/app"), ("database_host", "db.internal:5432")], Err("database_host"));
        check(&[("database_url", "postgres://app@[::1]/app"), ("database_host", "[::1]:5432")], Ok(()));
        let sentence = check_pairs(&variables(&[("database_url", "postgres://app:secret@db:1/app"), ("database_host", "x:1")])).unwrap_err();
        assert!(!sentence.contains("secret"), "no password in {sentence}");
    }

    #[test]
    fn fcm_token_uri_pairs() {
        let account = |uri: &str| serde_json::json!({ "type": "service_account", "token_uri": uri }).to_string();
        let google = account("https://oauth2.googleapis.com/token");
        check(&[("fcm_service_account_json", &google)], Ok(()));
        check(&[("fcm_service_account_json", &google), ("fcm_oauth_origin", "https://oauth2.googleapis.com")], Ok(()));
        let fake = account("http://127.0.0.1:9000/token");
        check(&[("fcm_service_account_json", &fake), ("fcm_oauth_origin", "http://127.0.0.1:9000")], Ok(()));
        check(&[("fcm_service_account_json", &fake)], Err("fcm_oauth_origin"));
        check(&[("fcm_service_account_json", &google), ("fcm_oauth_origin", "https://example.com")], Err("SPIN_VARIABLE_FCM_OAUTH_ORIGIN=https://oauth2.googleapis.com"));
    }

    #[test]
    fn push_pairs() {
        let expo = ("push_provider", "expo");
        check(&[expo, ("push_origin", "https://exp.host")], Ok(()));
        check(&[expo, ("push_origin", "http://127.0.0.1:8080")], Ok(()));
        check(&[expo, ("push_origin", "https://exp.host/--/api/v2/push/send")], Err("push_origin"));
        check(&[expo, ("push_origin", "https://*.exp.host")], Err("not scheme://host[:port]"));
        check(&[expo, ("push_origin", "exp.host")], Err("push_origin"));
        // The log provider sends nothing: no pair to agree.
        check(&[("push_provider", "log"), ("push_origin", "https://exp.host/path")], Ok(()));
    }

    #[test]
    fn sentry_pairs() {
        let wildcard = ("sentry_origin", "https://*.ingest.sentry.io");
        check(&[("sentry_dsn", "https://key@o1.ingest.sentry.io/42"), wildcard], Ok(()));
        check(&[("sentry_dsn", ""), wildcard], Ok(()));
        check(&[("sentry_dsn", "https://key@ingest.sentry.io/42"), wildcard], Err("sentry_origin"));
        check(&[("sentry_dsn", "https://key@sentry.example.com/42"), wildcard], Err("SPIN_VARIABLE_SENTRY_ORIGIN=https://sentry.example.com"));
        check(&[("sentry_dsn", "http://key@127.0.0.1:9000/1"), ("sentry_origin", "http://127.0.0.1:9000")], Ok(()));
    }

    #[test]
    fn auth_jwks_url_pairs() {
        let supabase = ("auth_jwks_origin", "https://*.supabase.co");
        check(&[("auth_jwks_url", "https://abcdefgh.supabase.co/auth/v1/.well-known/jwks.json"), supabase], Ok(()));
        check(&[("auth_jwks_url", ""), supabase], Ok(()));
        check(&[("auth_jwks_url", "http://127.0.0.1:9000/jwks.json"), ("auth_jwks_origin", "http://127.0.0.1:9000")], Ok(()));
        check(
            &[("auth_jwks_url", "https://auth.example.com/.well-known/jwks.json"), supabase],
            Err("SPIN_VARIABLE_AUTH_JWKS_ORIGIN=https://auth.example.com"),
        );
        check(&[("auth_jwks_url", "http://abcdefgh.supabase.co/jwks.json"), supabase], Err("auth_jwks_origin"));
        check(&[("auth_jwks_url", "https://supabase.co/jwks.json"), supabase], Err("auth_jwks_origin"));
        check(&[("auth_jwks_url", "abcdefgh.supabase.co/jwks.json"), supabase], Err("not an http(s) URL"));
        check(&[("auth_jwks_url", "https://abcdefgh.supabase.co/jwks.json"), ("auth_jwks_origin", "")], Err("auth_jwks_origin"));
    }

    #[test]
    fn auth_needs_a_secret_or_keys() {
        assert!(auth_warning(&variables(&[])).is_some());
        assert!(auth_warning(&variables(&[("auth_jwt_secret", " ")])).is_some());
        assert!(auth_warning(&variables(&[("auth_jwt_secret", "twelve bytes!")])).unwrap().contains("shorter than 32 bytes"));
        assert!(auth_warning(&variables(&[("auth_jwt_secret", &"s".repeat(32))])).is_none());
        assert!(auth_warning(&variables(&[("auth_jwt_secret", crate::users::AUTH_SECRET)])).is_none());
        assert!(auth_warning(&variables(&[("auth_jwks", r#"{"keys":[]}"#)])).is_none());
        assert!(auth_warning(&variables(&[("auth_jwks_url", "https://p.supabase.co/auth/v1/.well-known/jwks.json")])).is_none());
    }

    #[test]
    fn the_environment_wins_over_the_manifest() {
        let manifest = "spin_manifest_version = 2\n[variables]\ndatabase_host = { default = \"127.0.0.1:5432\" }\nlivekit_api_key = { required = true }\n";
        let env = |name: &str| (name == "SPIN_VARIABLE_DATABASE_HOST").then(|| "db:5432".to_owned());
        let effective = effective_variables(manifest, env).unwrap();
        assert_eq!(effective, variables(&[("database_host", "db:5432")]));
    }

    #[test]
    fn the_repository_spin_toml_agrees_with_itself() {
        let manifest = std::fs::read_to_string(crate::paths::spin_toml()).unwrap();
        let effective = effective_variables(&manifest, |_| None).unwrap();
        assert_eq!(check_pairs(&effective), Ok(()));
    }
}
