//! Sentry events over the envelope API, built without a Sentry SDK (none runs
//! in a wasm component): the DSN, the auth header, and the envelope bytes.
//! <https://develop.sentry.dev/sdk/data-model/envelopes/>

use serde::Serialize;
use serde_json::{json, Map, Value};

/// A parsed DSN: `{scheme}://{public_key}@{host}[:port]/{project_id}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dsn {
    raw: String,
    scheme: String,
    public_key: String,
    host: String,
    project_id: String,
}

/// What one event reports. Never put tokens, secrets or JWTs in it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SentryEvent {
    /// 32 lowercase hex digits (a uuid without hyphens).
    pub event_id: String,
    /// Unix seconds.
    pub timestamp: u64,
    pub message: String,
    /// The component, as Sentry's `logger`.
    pub component: String,
    pub request_id: Option<String>,
    pub error_code: Option<String>,
    pub route: Option<String>,
    pub user_id: Option<String>,
    pub release: String,
    pub environment: String,
    /// Extra context (log-only details).
    pub extra: Map<String, Value>,
}

impl Dsn {
    /// Parses a DSN; `None` when it is not one.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://")?;
        if scheme != "https" && scheme != "http" {
            return None;
        }
        let (public_key, rest) = rest.split_once('@')?;
        let public_key = public_key.split(':').next()?;
        let (host, project_id) = rest.split_once('/')?;
        let project_id = project_id.trim_end_matches('/');
        let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-._:".contains(c));
        if !valid(public_key) || !valid(host) || project_id.is_empty() || !project_id.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            raw: text.to_owned(),
            scheme: scheme.to_owned(),
            public_key: public_key.to_owned(),
            host: host.to_owned(),
            project_id: project_id.to_owned(),
        })
    }

    /// Where envelopes go.
    pub fn envelope_url(&self) -> String {
        format!("{}://{}/api/{}/envelope/", self.scheme, self.host, self.project_id)
    }

    /// The `X-Sentry-Auth` header.
    pub fn auth_header(&self, client: &str) -> String {
        format!("Sentry sentry_version=7, sentry_key={}, sentry_client={client}", self.public_key)
    }

    /// The envelope for `event`: envelope header, item header, event payload,
    /// one JSON document per line.
    pub fn envelope(&self, event: &SentryEvent) -> Vec<u8> {
        let mut tags = Map::new();
        tags.insert("component".into(), event.component.clone().into());
        for (name, value) in [("requestId", &event.request_id), ("errorCode", &event.error_code), ("route", &event.route)] {
            if let Some(value) = value {
                tags.insert(name.into(), value.clone().into());
            }
        }
        let timestamp = crate::time::rfc3339(event.timestamp);
        let mut payload = json!({
            "event_id": event.event_id,
            "timestamp": timestamp,
            "platform": "other",
            "level": "error",
            "logger": event.component,
            "release": event.release,
            "environment": event.environment,
            "message": { "formatted": event.message },
            "tags": tags,
            "extra": event.extra,
        });
        if let Some(user_id) = &event.user_id {
            payload["user"] = json!({ "id": user_id });
        }
        let payload = payload.to_string();
        let header = json!({ "event_id": event.event_id, "dsn": self.raw, "sent_at": timestamp });
        let item = json!({ "type": "event", "length": payload.len(), "content_type": "application/json" });
        format!("{header}\n{item}\n{payload}\n").into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns() {
        let dsn = Dsn::parse("https://abc123@o1.ingest.sentry.io/42").unwrap();
        assert_eq!(dsn.envelope_url(), "https://o1.ingest.sentry.io/api/42/envelope/");
        assert_eq!(dsn.auth_header("x/1"), "Sentry sentry_version=7, sentry_key=abc123, sentry_client=x/1");
        assert!(Dsn::parse("http://key@127.0.0.1:9000/7").is_some());
        assert!(Dsn::parse("https://key:secret@host/7").is_some(), "the legacy secret part is ignored");
        for bad in ["", "abc", "https://host/1", "ftp://k@host/1", "https://k@host/", "https://k@host/abc", "https://k@/1"] {
            assert!(Dsn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn envelope_lines() {
        let dsn = Dsn::parse("https://abc@host/1").unwrap();
        let event = SentryEvent {
            event_id: "0123456789abcdef0123456789abcdef".into(),
            timestamp: 1_798_761_600,
            message: "INTERNAL_ERROR".into(),
            component: "get-livekit-token".into(),
            request_id: Some("r1".into()),
            error_code: Some("INTERNAL_ERROR".into()),
            user_id: Some("u1".into()),
            release: "0.1.0".into(),
            environment: "test".into(),
            ..SentryEvent::default()
        };
        let text = String::from_utf8(dsn.envelope(&event)).unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["event_id"], "0123456789abcdef0123456789abcdef");
        assert_eq!(lines[1]["type"], "event");
        assert_eq!(lines[1]["length"], text.lines().nth(2).unwrap().len());
        assert_eq!(lines[2]["tags"]["requestId"], "r1");
        assert_eq!(lines[2]["user"]["id"], "u1");
        assert_eq!(lines[2]["timestamp"], "2027-01-01T00:00:00Z");
    }
}
