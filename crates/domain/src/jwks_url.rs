//! The signing keys published at `auth_jwks_url` (Supabase:
//! `https://<project>.supabase.co/auth/v1/.well-known/jwks.json`): what a
//! fetch's answer means, and how often and how hard to fetch.
//!
//! The set is shared by every instance through one database row
//! (`auth_jwks_cache`, keyed by the URL) and each instance keeps a parsed
//! copy. A set is only ever replaced by a good one: a failed fetch (no
//! answer, an error status, not a JWKS document, no usable key) leaves the
//! last good set in place and is remembered as [`FetchFailure`].

use crate::auth::KeySet;
use crate::enum_str;
use crate::errors::ErrorCode;

/// The least time between two fetches of the URL, across all instances: the
/// row's `attempted_at` is claimed by a guarded UPDATE. A token whose `kid`
/// is still unknown within it is refused (401) without a fetch.
pub const REFETCH_INTERVAL_SECONDS: u64 = 60;

/// How long an instance verifies with its parsed copy before reading the
/// shared row again (a key revoked at the URL stays accepted this much
/// longer on an instance that already holds it).
pub const INSTANCE_COPY_SECONDS: u64 = 60;

/// Fetches per claimed refresh: one retry, only after no answer or a status
/// that says "try again".
pub const FETCH_ATTEMPTS: u32 = 2;

/// A JWKS document is a few keys; Supabase's is well under 4 KiB.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Seconds per attempt when `auth_jwks_timeout_seconds` is unset.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3;

/// Seconds a good set is used before it is fetched again when
/// `auth_jwks_max_age_seconds` is unset (revocations reach us within it).
pub const DEFAULT_MAX_AGE_SECONDS: u64 = 600;

enum_str! {
    /// Why the last fetch found no good set, as `auth_jwks_cache.last_failure`
    /// stores it. `Unreachable`: no answer, or a status that says the server
    /// is in trouble (an outage, which may pass). `Misconfigured`: an answer
    /// that will not change by itself (404, not a JWKS, no usable key), or a
    /// URL outside the allow-list (a wrong setting).
    pub enum FailureKind {
        Unreachable = "unreachable",
        Misconfigured = "misconfigured",
    }
}

/// Why a fetch gave no good set; the words are for the log line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {reason}")]
pub struct FetchFailure {
    pub kind: FailureKind,
    pub reason: String,
}

impl FailureKind {
    /// What a request answers when its token needs the URL's keys, no good
    /// set was ever fetched, and the last fetch failed this way. Never 401:
    /// the token may be fine, and the app would sign its user out.
    /// A wrong setting is INTERNAL_ERROR (retrying cannot help), an outage
    /// SERVICE_UNAVAILABLE.
    pub fn error_code(self) -> ErrorCode {
        match self {
            FailureKind::Unreachable => ErrorCode::ServiceUnavailable,
            FailureKind::Misconfigured => ErrorCode::InternalError,
        }
    }
}

impl FetchFailure {
    pub fn unreachable(reason: impl Into<String>) -> Self {
        Self { kind: FailureKind::Unreachable, reason: reason.into() }
    }

    pub fn misconfigured(reason: impl Into<String>) -> Self {
        Self { kind: FailureKind::Misconfigured, reason: reason.into() }
    }

    /// Whether another attempt within the same refresh may succeed.
    pub fn worth_retrying(&self) -> bool {
        self.kind == FailureKind::Unreachable
    }
}

/// The key set in the URL's answer, or why there is none usable.
///
/// # Errors
///
/// `Unreachable` for 408, 429 and 5xx; `Misconfigured` for any other
/// non-2xx status, a body that is not a JWKS document, or one with no
/// usable ES256 or RS256 key (an empty set never replaces a good one).
pub fn read_answer(status: u16, body: &[u8]) -> Result<KeySet, FetchFailure> {
    match status {
        200..=299 => {}
        408 | 429 | 500..=599 => return Err(FetchFailure::unreachable(format!("answered {status}"))),
        _ => return Err(FetchFailure::misconfigured(format!("answered {status}"))),
    }
    let text = std::str::from_utf8(body).map_err(|_| FetchFailure::misconfigured("the answer is not UTF-8"))?;
    let set = KeySet::parse(text).map_err(|error| FetchFailure::misconfigured(error.to_string()))?;
    if set.is_empty() {
        return Err(FetchFailure::misconfigured("no usable ES256 or RS256 key in the answer"));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use jwt_simple::prelude::{ECDSAP256PublicKeyLike as _, ES256KeyPair};
    use serde_json::json;

    use super::*;

    fn good_document() -> String {
        let key = ES256KeyPair::generate();
        let point = key.public_key().public_key().to_bytes_uncompressed();
        let b64 = |bytes: &[u8]| {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        };
        json!({ "keys": [{ "kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1", "x": b64(&point[1..33]), "y": b64(&point[33..65]) }] })
            .to_string()
    }

    // One case per line reads as a table.
    #[rustfmt::skip]
    #[test]
    fn reads_answers() {
        let good = good_document();
        let check = |name: &str, status: u16, body: &str, expected: Option<FailureKind>| {
            let outcome = read_answer(status, body.as_bytes());
            assert_eq!(outcome.as_ref().err().map(|failure| failure.kind), expected, "case: {name}: {outcome:?}");
        };
        check("good", 200, &good, None);
        check("good with another 2xx", 203, &good, None);
        check("server error", 500, &good, Some(FailureKind::Unreachable));
        check("bad gateway", 502, "<html>", Some(FailureKind::Unreachable));
        check("rate limited", 429, "", Some(FailureKind::Unreachable));
        check("request timeout", 408, "", Some(FailureKind::Unreachable));
        check("not found", 404, "", Some(FailureKind::Misconfigured));
        check("unauthorized", 401, "{}", Some(FailureKind::Misconfigured));
        check("redirect", 301, "", Some(FailureKind::Misconfigured));
        check("not json", 200, "<html>", Some(FailureKind::Misconfigured));
        check("json without keys", 200, "{}", Some(FailureKind::Misconfigured));
        check("empty set", 200, r#"{"keys": []}"#, Some(FailureKind::Misconfigured));
        check("only unusable keys", 200, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#, Some(FailureKind::Misconfigured));
        assert!(read_answer(200, &[0xff, 0xfe]).is_err());
    }

    #[test]
    fn only_an_outage_is_retried_or_answered_503() {
        assert!(FetchFailure::unreachable("x").worth_retrying());
        assert!(!FetchFailure::misconfigured("x").worth_retrying());
        assert_eq!(FailureKind::Unreachable.error_code(), ErrorCode::ServiceUnavailable);
        assert_eq!(FailureKind::Misconfigured.error_code(), ErrorCode::InternalError);
        assert_eq!(FailureKind::parse("misconfigured"), Some(FailureKind::Misconfigured));
    }
}
