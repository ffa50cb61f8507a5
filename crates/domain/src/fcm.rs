//! Ringing an Android phone through FCM's HTTP v1 API with a high-priority
//! data message, which wakes the app even when the phone is locked.
//!
//! FCM takes an OAuth 2 access token that a Google service account gets by
//! sending a signed RS256 assertion to its `token_uri`
//! (<https://developers.google.com/identity/protocols/oauth2/service-account#httprest>),
//! then `POST {origin}/v1/projects/{project}/messages:send` with one message
//! per device token
//! (<https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>).
//! Errors come as `{"error": {"code", "message", "status", "details"}}`
//! (<https://firebase.google.com/docs/cloud-messaging/error-codes>). This
//! module builds both requests and reads both answers; the component sends
//! them and keeps the access token between pushes ([`access_token_fresh`]).
//! Nothing here puts a device token, the private key or an access token in a
//! `Debug`, an error or an outcome text.

use std::collections::BTreeMap;
use std::fmt;

use jwt_simple::prelude::{RS256KeyPair, RSAKeyPairLike as _};
use serde::Serialize;
use serde_json::{json, Map, Value};

pub use crate::call_push::CredentialError;
use crate::call_push::{fingerprint, grant_claims, pem_from_variable};
use crate::delivery::DeviceOutcome;
use crate::push::OutgoingRequest;

/// FCM's scheme and host.
pub const DEFAULT_ORIGIN: &str = "https://fcm.googleapis.com";

/// Google's token endpoint, used when the service account names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The one scope sending needs.
pub const MESSAGING_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// Google refuses an assertion valid for longer than an hour.
pub const ASSERTION_LIFETIME_SECONDS: u64 = 60 * 60;

/// An access token is replaced when this little of its life is left, so that
/// none expires between our check and Google's.
pub const ACCESS_TOKEN_MARGIN_SECONDS: u64 = 5 * 60;

/// A Google service account's JSON key, as the Firebase console downloads it.
pub struct ServiceAccount {
    project_id: String,
    private_key_id: String,
    client_email: String,
    token_uri: String,
    // Invariant: carries `private_key_id` as its `kid`.
    key_pair: RS256KeyPair,
    fingerprint: String,
}

/// An OAuth 2 access token for FCM and when it expires (Unix seconds).
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_at: u64,
}

/// The assertion's claims beyond the registered ones.
#[derive(Serialize)]
struct ScopeClaim {
    scope: &'static str,
}

impl ServiceAccount {
    /// Reads the service-account JSON: `type` (must be `service_account`),
    /// `project_id`, `private_key_id`, `private_key` (an RSA key in PEM; its
    /// `\n` escapes may have been escaped twice on the way), `client_email`
    /// and `token_uri` (default [`DEFAULT_TOKEN_URI`]). Other fields are ignored.
    ///
    /// Errors: [`CredentialError`] naming `service_account` (not a JSON
    /// object) or the missing or unusable field; never quoting a value.
    pub fn parse(json: &str) -> Result<Self, CredentialError> {
        let Ok(Value::Object(object)) = serde_json::from_str::<Value>(json) else {
            return Err(CredentialError::Invalid("service_account", "not a JSON object"));
        };
        if required(&object, "type")? != "service_account" {
            return Err(CredentialError::Invalid("type", "not service_account"));
        }
        let project_id = required(&object, "project_id")?;
        if !project_id.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-.:_".contains(&byte)) {
            return Err(CredentialError::Invalid("project_id", "not a Google Cloud project id"));
        }
        let private_key_id = required(&object, "private_key_id")?;
        let key_pair = RS256KeyPair::from_pem(&pem_from_variable(required(&object, "private_key")?))
            .map_err(|_| CredentialError::Invalid("private_key", "not an RSA private key in PEM"))?
            .with_key_id(private_key_id);
        let client_email = required(&object, "client_email")?;
        if !client_email.contains('@') {
            return Err(CredentialError::Invalid("client_email", "not an email address"));
        }
        let token_uri = match object.get("token_uri") {
            None | Some(Value::Null) => DEFAULT_TOKEN_URI,
            Some(_) => required(&object, "token_uri")?,
        };
        if !(token_uri.starts_with("https://") || token_uri.starts_with("http://")) {
            return Err(CredentialError::Invalid("token_uri", "not an http(s) URL"));
        }
        let public_key = key_pair.public_key().to_components();
        let fingerprint = fingerprint(&[
            b"fcm",
            project_id.as_bytes(),
            private_key_id.as_bytes(),
            client_email.as_bytes(),
            token_uri.as_bytes(),
            &public_key.n,
            &public_key.e,
        ]);
        Ok(Self {
            project_id: project_id.to_owned(),
            private_key_id: private_key_id.to_owned(),
            client_email: client_email.to_owned(),
            token_uri: token_uri.to_owned(),
            key_pair,
            fingerprint,
        })
    }

    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// A short hex id of the account's fields and public key: an access token
    /// cached under another fingerprint was granted to other credentials and
    /// must not be reused.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The signed grant assertion at `now`: header
    /// `{"alg":"RS256","kid":<private_key_id>,"typ":"JWT"}`, claims `iss`
    /// (client email), `scope` ([`MESSAGING_SCOPE`]), `aud` (token URI), `iat`
    /// = now and `exp` = now + [`ASSERTION_LIFETIME_SECONDS`].
    pub fn grant_assertion(&self, now: u64) -> String {
        let expires_at = now.saturating_add(ASSERTION_LIFETIME_SECONDS);
        let claims = grant_claims(now, Some(expires_at), &self.client_email, Some(&self.token_uri), ScopeClaim { scope: MESSAGING_SCOPE });
        // Invariant: these claims serialize and a parsed (and checked) RSA key
        // signs any input, so signing does not fail. Were it ever to, Google
        // answers the empty assertion with 400 and `parse_token_answer` says so.
        self.key_pair.sign(claims).unwrap_or_default()
    }

    /// The JWT-bearer grant for an access token: `POST token_uri`, form-encoded.
    pub fn token_request(&self, now: u64) -> OutgoingRequest {
        // A compact JWS is base64url and dots: nothing to percent-encode.
        let body = format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={}", self.grant_assertion(now));
        OutgoingRequest {
            url: self.token_uri.clone(),
            headers: vec![("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned())],
            body: body.into_bytes(),
        }
    }
}

/// Reads the token endpoint's answer at `now`: 2xx with
/// `{"access_token", "expires_in", "token_type": "Bearer"}` is a token;
/// anything else is an error text for logs (`HTTP <status>: <error>:
/// <error_description>`, or what is wrong with the answer).
pub fn parse_token_answer(status: u16, body: &[u8], now: u64) -> Result<AccessToken, String> {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Err(format!("HTTP {status}: the answer is not JSON"));
    };
    if !(200..300).contains(&status) {
        let error = answer.get("error").and_then(Value::as_str);
        let description = answer.get("error_description").and_then(Value::as_str).filter(|text| !text.is_empty());
        return Err(match (error, description) {
            (Some(error), Some(description)) => format!("HTTP {status}: {error}: {description}"),
            (Some(error), None) => format!("HTTP {status}: {error}"),
            (None, Some(description)) => format!("HTTP {status}: {description}"),
            (None, None) => format!("HTTP {status}"),
        });
    }
    let token = answer.get("access_token").and_then(Value::as_str).filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(format!("HTTP {status}: the answer has no access_token"));
    };
    if !answer.get("token_type").and_then(Value::as_str).is_some_and(|kind| kind.eq_ignore_ascii_case("bearer")) {
        return Err(format!("HTTP {status}: token_type is not Bearer"));
    }
    let Some(expires_in) = answer.get("expires_in").and_then(Value::as_u64).filter(|seconds| *seconds > 0) else {
        return Err(format!("HTTP {status}: expires_in is not a positive number of seconds"));
    };
    Ok(AccessToken { token: token.to_owned(), expires_at: now.saturating_add(expires_in) })
}

/// Whether an access token expiring at `expires_at` may still be sent at
/// `now`: while more than [`ACCESS_TOKEN_MARGIN_SECONDS`] remain.
pub fn access_token_fresh(expires_at: u64, now: u64) -> bool {
    expires_at.saturating_sub(now) > ACCESS_TOKEN_MARGIN_SECONDS
}

/// The data message `data` to `device_token`:
/// `POST {origin}/v1/projects/{project_id}/messages:send` with
/// `{"message": {"token", "data", "android": {"priority": "HIGH", "ttl": "<n>s"}}}`.
/// No `notification`: the app draws its own call screen, and a data-only
/// message reaches it even when it is in the background.
pub fn send_request(
    origin: &str,
    project_id: &str,
    access_token: &str,
    device_token: &str,
    data: &BTreeMap<String, String>,
    ttl_seconds: u32,
) -> OutgoingRequest {
    let body = json!({
        "message": {
            "token": device_token,
            "data": data,
            "android": {"priority": "HIGH", "ttl": format!("{ttl_seconds}s")},
        }
    });
    OutgoingRequest {
        url: format!("{origin}/v1/projects/{project_id}/messages:send"),
        headers: vec![
            ("authorization".to_owned(), format!("Bearer {access_token}")),
            ("content-type".to_owned(), "application/json".to_owned()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// Reads FCM's answer to one send.
///
/// 200: Delivered. `UNREGISTERED` as the `errorCode` of a
/// `google.firebase.fcm.v1.FcmError` detail in a JSON error (the app was
/// uninstalled or the token expired): Gone. A 404 without it (a proxy, a
/// wrong `fcm_origin` or project) names no token dead: Refused. 401 (the
/// access token): Unauthorized. Anything else: Refused. Texts read `HTTP <status>: <error.status> (<errorCode>):
/// <error.message>`, with what is absent left out.
pub fn classify_answer(status: u16, body: &[u8]) -> DeviceOutcome {
    if status == 200 {
        return DeviceOutcome::Delivered;
    }
    let error = match serde_json::from_slice::<Value>(body) {
        Ok(answer) => answer.get("error").cloned().unwrap_or(Value::Null),
        Err(_) => return refusal_by_status(status, format!("HTTP {status}: the answer is not JSON")),
    };
    let error_code = fcm_error_code(&error);
    let text = describe(status, &error, error_code);
    if error_code == Some("UNREGISTERED") {
        return DeviceOutcome::Gone(text);
    }
    refusal_by_status(status, text)
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("private_key_id", &self.private_key_id)
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"[redacted]")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("token", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// A non-empty string field, trimmed.
fn required<'a>(object: &'a Map<String, Value>, field: &'static str) -> Result<&'a str, CredentialError> {
    match object.get(field) {
        None | Some(Value::Null) => Err(CredentialError::Missing(field)),
        Some(Value::String(text)) if text.trim().is_empty() => Err(CredentialError::Missing(field)),
        Some(Value::String(text)) => Ok(text.trim()),
        Some(_) => Err(CredentialError::Invalid(field, "not a string")),
    }
}

/// The status alone decides what is not `UNREGISTERED`; it never calls a
/// token gone.
fn refusal_by_status(status: u16, text: String) -> DeviceOutcome {
    match status {
        401 => DeviceOutcome::Unauthorized(text),
        _ => DeviceOutcome::Refused(text),
    }
}

/// The `errorCode` of the error's FCM detail, if any.
fn fcm_error_code(error: &Value) -> Option<&str> {
    let details = error.get("details")?.as_array()?;
    details.iter().find_map(|detail| {
        let kind = detail.get("@type")?.as_str()?;
        if kind.trim_start_matches("type.googleapis.com/") != "google.firebase.fcm.v1.FcmError" {
            return None;
        }
        detail.get("errorCode")?.as_str()
    })
}

fn describe(status: u16, error: &Value, error_code: Option<&str>) -> String {
    let error_status = error.get("status").and_then(Value::as_str).filter(|text| !text.is_empty());
    let message = error.get("message").and_then(Value::as_str).filter(|text| !text.is_empty());
    // The FCM code is worth a word only where it says more than the status.
    let error_code = error_code.filter(|code| Some(*code) != error_status).map(|code| format!("({code})"));
    let head = [error_status, error_code.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    let mut text = format!("HTTP {status}");
    for part in [Some(head.as_str()).filter(|head| !head.is_empty()), message].into_iter().flatten() {
        text.push_str(": ");
        text.push_str(part);
    }
    text
}

#[cfg(test)]
mod tests {
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

    use super::*;
    use crate::call_push::test_support::{assert_hides_pem, check_answer, gone, refused, split_jws, unauthorized};

    const NOW: u64 = 1_780_000_000;
    const TEST_KEY: &str = include_str!("testdata/fcm_test_key.pem");
    const TEST_PUBLIC_KEY: &[u8] = include_bytes!("testdata/fcm_test_key.rsa_public.der");
    const EC_TEST_KEY: &str = include_str!("testdata/apns_test_key.p8");
    const KEY_ID: &str = "4f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f60718293";
    const EMAIL: &str = "firebase-adminsdk-abcde@demo-project.iam.gserviceaccount.com";
    const DEVICE_TOKEN: &str = "fcm:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx";

    fn account_json() -> Value {
        json!({
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": KEY_ID,
            "private_key": TEST_KEY,
            "client_email": EMAIL,
            "client_id": "123456789012345678901",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
            "universe_domain": "googleapis.com",
        })
    }

    fn with(changes: &[(&str, Option<Value>)]) -> String {
        let mut account = account_json();
        let object = account.as_object_mut().unwrap();
        for (field, value) in changes {
            match value {
                Some(value) => object.insert((*field).to_owned(), value.clone()),
                None => object.remove(*field),
            };
        }
        account.to_string()
    }

    fn account() -> ServiceAccount {
        ServiceAccount::parse(&account_json().to_string()).unwrap()
    }

    fn ring_verifies(signing_input: &str, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, TEST_PUBLIC_KEY).verify(signing_input.as_bytes(), signature).is_ok()
    }

    #[test]
    fn grant_assertion_verifies_with_ring() {
        let assertion = account().grant_assertion(NOW);
        let parts = split_jws(&assertion);
        assert_eq!(parts.header, format!(r#"{{"alg":"RS256","kid":"{KEY_ID}","typ":"JWT"}}"#));
        assert_eq!(
            serde_json::from_str::<Value>(&parts.claims).unwrap(),
            json!({
                "iss": EMAIL,
                "scope": "https://www.googleapis.com/auth/firebase.messaging",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": NOW,
                "exp": NOW + 3600,
            })
        );
        assert_eq!(parts.signature.len(), 256);
        assert!(ring_verifies(&parts.signing_input, &parts.signature));

        let other = split_jws(&account().grant_assertion(NOW + 1));
        assert!(!ring_verifies(&other.signing_input, &parts.signature));
        assert!(!ring_verifies(&parts.signing_input, &parts.signature[..255]));
        let mut flipped = parts.signature.clone();
        flipped[100] ^= 1;
        assert!(!ring_verifies(&parts.signing_input, &flipped));
    }

    #[test]
    fn assertion_audience_is_the_token_uri() {
        let fake = ServiceAccount::parse(&with(&[("token_uri", Some(json!("http://127.0.0.1:9/token")))])).unwrap();
        let claims: Value = serde_json::from_str(&split_jws(&fake.grant_assertion(NOW)).claims).unwrap();
        assert_eq!(claims["aud"], "http://127.0.0.1:9/token");
        let default = ServiceAccount::parse(&with(&[("token_uri", None)])).unwrap();
        assert_eq!(default.token_uri(), DEFAULT_TOKEN_URI);
        let null = ServiceAccount::parse(&with(&[("token_uri", Some(Value::Null))])).unwrap();
        assert_eq!(null.token_uri(), DEFAULT_TOKEN_URI);
    }

    #[test]
    fn token_requests() {
        let request = account().token_request(NOW);
        assert_eq!(request.url, "https://oauth2.googleapis.com/token");
        assert_eq!(request.headers, vec![("content-type".to_owned(), "application/x-www-form-urlencoded".to_owned())]);
        let body = String::from_utf8(request.body).unwrap();
        let assertion = body
            .strip_prefix("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=")
            .unwrap_or_else(|| panic!("{body}"));
        let parts = split_jws(assertion);
        assert!(ring_verifies(&parts.signing_input, &parts.signature));
        assert!(assertion.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(&byte)), "{assertion}");
    }

    #[test]
    fn accounts_parse() {
        let account = account();
        assert_eq!(account.project_id(), "demo-project");
        assert_eq!(account.token_uri(), "https://oauth2.googleapis.com/token");
        // The key with its newlines escaped once more, and padded fields.
        let escaped = with(&[("private_key", Some(json!(TEST_KEY.replace('\n', "\\n")))), ("project_id", Some(json!(" demo-project\n")))]);
        let escaped = ServiceAccount::parse(&escaped).unwrap();
        assert_eq!(escaped.project_id(), "demo-project");
        assert_eq!(escaped.fingerprint(), account.fingerprint());
        let parts = split_jws(&escaped.grant_assertion(NOW));
        assert!(ring_verifies(&parts.signing_input, &parts.signature));
    }

    #[test]
    fn refused_accounts_name_the_field() {
        let check = |json: &str, expected: CredentialError| {
            let error = ServiceAccount::parse(json).map(|_| ()).unwrap_err();
            assert_eq!(error, expected, "{json}");
            let text = format!("{error} {error:?}");
            assert!(!text.contains("MII") && !text.contains("BEGIN") && !text.contains(EMAIL), "{text}");
        };
        let missing = CredentialError::Missing;
        let invalid = CredentialError::Invalid;
        let not_json = invalid("service_account", "not a JSON object");
        check("", not_json.clone());
        check("{", not_json.clone());
        check("[]", not_json.clone());
        check("null", not_json.clone());
        check(&format!("\"{}\"", TEST_KEY.replace('\n', "\\n")), not_json);
        check("{}", missing("type"));
        check(&with(&[("type", None)]), missing("type"));
        check(&with(&[("type", Some(json!("authorized_user")))]), invalid("type", "not service_account"));
        check(&with(&[("type", Some(json!(1)))]), invalid("type", "not a string"));
        check(&with(&[("project_id", None)]), missing("project_id"));
        check(&with(&[("project_id", Some(json!("")))]), missing("project_id"));
        check(&with(&[("project_id", Some(json!("demo/project")))]), invalid("project_id", "not a Google Cloud project id"));
        check(&with(&[("project_id", Some(json!("demo project")))]), invalid("project_id", "not a Google Cloud project id"));
        check(&with(&[("private_key_id", None)]), missing("private_key_id"));
        check(&with(&[("private_key_id", Some(json!(["x"])))]), invalid("private_key_id", "not a string"));
        check(&with(&[("private_key", None)]), missing("private_key"));
        check(&with(&[("private_key", Some(json!("  ")))]), missing("private_key"));
        check(&with(&[("private_key", Some(json!(42)))]), invalid("private_key", "not a string"));
        let not_rsa = invalid("private_key", "not an RSA private key in PEM");
        check(&with(&[("private_key", Some(json!("not a key")))]), not_rsa.clone());
        check(&with(&[("private_key", Some(json!(EC_TEST_KEY)))]), not_rsa.clone());
        check(&with(&[("private_key", Some(json!(&TEST_KEY[..900])))]), not_rsa.clone());
        check(&with(&[("private_key", Some(json!(TEST_KEY.replacen("MII", "MIJ", 1))))]), not_rsa);
        check(&with(&[("client_email", None)]), missing("client_email"));
        check(&with(&[("client_email", Some(json!("firebase-adminsdk")))]), invalid("client_email", "not an email address"));
        check(&with(&[("token_uri", Some(json!("")))]), missing("token_uri"));
        check(&with(&[("token_uri", Some(json!({})))]), invalid("token_uri", "not a string"));
        check(&with(&[("token_uri", Some(json!("oauth2.googleapis.com/token")))]), invalid("token_uri", "not an http(s) URL"));
    }

    #[test]
    fn fingerprints_follow_the_account() {
        let fingerprint = account().fingerprint().to_owned();
        assert_eq!(fingerprint.len(), 16);
        assert_eq!(ServiceAccount::parse(&with(&[("client_id", None)])).unwrap().fingerprint(), fingerprint);
        for (field, value) in [
            ("project_id", "other-project"),
            ("private_key_id", "0000000000000000000000000000000000000000"),
            ("client_email", "other@demo-project.iam.gserviceaccount.com"),
            ("token_uri", "http://127.0.0.1:9/token"),
        ] {
            let other = ServiceAccount::parse(&with(&[(field, Some(json!(value)))])).unwrap();
            assert_ne!(other.fingerprint(), fingerprint, "{field}");
        }
        let other_key = RS256KeyPair::generate(2048).unwrap().to_pem().unwrap();
        let other = ServiceAccount::parse(&with(&[("private_key", Some(json!(other_key)))])).unwrap();
        assert_ne!(other.fingerprint(), fingerprint);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let text = format!("{:?}", account());
        assert!(text.contains("demo-project") && text.contains("[redacted]"), "{text}");
        assert_hides_pem(&text, TEST_KEY);
        let token = AccessToken { token: "ya29.secret-access".to_owned(), expires_at: NOW };
        let text = format!("{token:?}");
        assert!(!text.contains("ya29") && text.contains(&NOW.to_string()), "{text}");
        let request = send_request(DEFAULT_ORIGIN, "demo-project", "ya29.secret-access", DEVICE_TOKEN, &BTreeMap::new(), 30);
        let text = format!("{request:?}");
        assert!(!text.contains("ya29") && !text.contains(DEVICE_TOKEN), "{text}");
    }

    #[test]
    fn token_answers() {
        let check = |status: u16, body: &str, expected: Result<(&str, u64), &str>| {
            let got = parse_token_answer(status, body.as_bytes(), NOW);
            let expected = expected.map(|(token, expires_at)| AccessToken { token: token.to_owned(), expires_at }).map_err(str::to_owned);
            assert_eq!(got, expected, "{status} {body}");
        };
        check(200, r#"{"access_token":"ya29.a0AfH6","expires_in":3599,"token_type":"Bearer"}"#, Ok(("ya29.a0AfH6", NOW + 3599)));
        check(200, r#"{"access_token":"ya29.x","expires_in":1,"token_type":"bearer","scope":"s"}"#, Ok(("ya29.x", NOW + 1)));
        check(200, r#"{"access_token":"ya29.x","expires_in":3599}"#, Err("HTTP 200: token_type is not Bearer"));
        check(200, r#"{"access_token":"ya29.x","expires_in":3599,"token_type":"MAC"}"#, Err("HTTP 200: token_type is not Bearer"));
        check(200, r#"{"access_token":"","expires_in":3599,"token_type":"Bearer"}"#, Err("HTTP 200: the answer has no access_token"));
        check(200, r#"{"expires_in":3599,"token_type":"Bearer"}"#, Err("HTTP 200: the answer has no access_token"));
        check(200, r#"{"access_token":7,"expires_in":3599,"token_type":"Bearer"}"#, Err("HTTP 200: the answer has no access_token"));
        let no_expiry = Err("HTTP 200: expires_in is not a positive number of seconds");
        check(200, r#"{"access_token":"ya29.x","token_type":"Bearer"}"#, no_expiry);
        check(200, r#"{"access_token":"ya29.x","expires_in":0,"token_type":"Bearer"}"#, no_expiry);
        check(200, r#"{"access_token":"ya29.x","expires_in":-5,"token_type":"Bearer"}"#, no_expiry);
        check(200, r#"{"access_token":"ya29.x","expires_in":"3599","token_type":"Bearer"}"#, no_expiry);
        check(200, r#"{"access_token":"ya29.x","expires_in":35.5,"token_type":"Bearer"}"#, no_expiry);
        check(200, "", Err("HTTP 200: the answer is not JSON"));
        check(200, "access_token=ya29.x", Err("HTTP 200: the answer is not JSON"));

        check(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            Err("HTTP 400: invalid_grant: Invalid JWT Signature."),
        );
        check(400, r#"{"error":"invalid_scope","error_description":""}"#, Err("HTTP 400: invalid_scope"));
        check(401, r#"{"error":"unauthorized_client"}"#, Err("HTTP 401: unauthorized_client"));
        check(400, r#"{"error_description":"bad"}"#, Err("HTTP 400: bad"));
        check(500, "{}", Err("HTTP 500"));
        check(502, "<html>", Err("HTTP 502: the answer is not JSON"));
        check(302, r#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#, Err("HTTP 302"));
        // An expiry past the end of time is the end of time.
        let far = format!(r#"{{"access_token":"t","expires_in":{},"token_type":"Bearer"}}"#, u64::MAX);
        assert_eq!(parse_token_answer(200, far.as_bytes(), NOW).unwrap().expires_at, u64::MAX);
    }

    #[test]
    fn access_token_freshness() {
        let cases = [
            (NOW + 3600, NOW, true),
            (NOW + 301, NOW, true),
            (NOW + 300, NOW, false),
            (NOW + 299, NOW, false),
            (NOW, NOW, false),
            (NOW, NOW + 10, false),
            (0, NOW, false),
            (u64::MAX, NOW, true),
        ];
        for (expires_at, now, fresh) in cases {
            assert_eq!(access_token_fresh(expires_at, now), fresh, "expires {expires_at}, now {now}");
        }
    }

    #[test]
    fn send_requests() {
        let data: BTreeMap<String, String> =
            [("type", "incoming_call"), ("callId", "c1")].into_iter().map(|(key, value)| (key.to_owned(), value.to_owned())).collect();
        let request = send_request("http://127.0.0.1:9", "demo-project", "ya29.abc", DEVICE_TOKEN, &data, 45);
        assert_eq!(request.url, "http://127.0.0.1:9/v1/projects/demo-project/messages:send");
        let headers: Vec<(&str, &str)> = request.headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        assert_eq!(headers, [("authorization", "Bearer ya29.abc"), ("content-type", "application/json")]);
        assert_eq!(
            serde_json::from_slice::<Value>(&request.body).unwrap(),
            json!({
                "message": {
                    "token": DEVICE_TOKEN,
                    "data": {"type": "incoming_call", "callId": "c1"},
                    "android": {"priority": "HIGH", "ttl": "45s"},
                }
            })
        );
        let empty = send_request(DEFAULT_ORIGIN, "p", "t", "d", &BTreeMap::new(), 0);
        assert_eq!(empty.url, "https://fcm.googleapis.com/v1/projects/p/messages:send");
        assert_eq!(serde_json::from_slice::<Value>(&empty.body).unwrap()["message"]["android"]["ttl"], "0s");
        assert_eq!(serde_json::from_slice::<Value>(&empty.body).unwrap()["message"]["data"], json!({}));
    }

    #[test]
    fn answers() {
        let check = |status, body: &str, expected| check_answer(classify_answer, status, body, expected);
        let error = |code: u16, status: &str, message: &str, error_code: &str| {
            json!({"error": {
                "code": code,
                "message": message,
                "status": status,
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}],
            }})
            .to_string()
        };

        check(200, r#"{"name":"projects/demo-project/messages/0:1500415314455276%31bd1c9631bd1c96"}"#, DeviceOutcome::Delivered);
        check(200, "", DeviceOutcome::Delivered);
        check(
            404,
            &error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
            gone("HTTP 404: NOT_FOUND (UNREGISTERED): Requested entity was not found."),
        );
        check(400, &error(400, "INVALID_ARGUMENT", "gone", "UNREGISTERED"), gone("HTTP 400: INVALID_ARGUMENT (UNREGISTERED): gone"));
        // A 404 that does not say UNREGISTERED (a wrong fcm_origin, a proxy) deletes nothing.
        check(404, r#"{"error":{"code":404,"message":"Not found","status":"NOT_FOUND"}}"#, refused("HTTP 404: NOT_FOUND: Not found"));
        check(404, "Not Found", refused("HTTP 404: the answer is not JSON"));
        check(404, "<html><body>404 page not found</body></html>", refused("HTTP 404: the answer is not JSON"));
        check(404, "", refused("HTTP 404: the answer is not JSON"));
        check(
            401,
            r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
            unauthorized("HTTP 401: UNAUTHENTICATED: Request had invalid authentication credentials."),
        );
        check(
            401,
            &error(401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"),
            unauthorized("HTTP 401: UNAUTHENTICATED (THIRD_PARTY_AUTH_ERROR): Auth error from APNS or Web Push Service"),
        );
        check(401, "", unauthorized("HTTP 401: the answer is not JSON"));

        check(
            400,
            &error(400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT"),
            refused("HTTP 400: INVALID_ARGUMENT: The registration token is not a valid FCM registration token"),
        );
        check(
            400,
            r#"{"error":{"code":400,"message":"Invalid value at 'message.data[0].value' (TYPE_STRING), 12","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"message.data[0].value"}]}]}}"#,
            refused("HTTP 400: INVALID_ARGUMENT: Invalid value at 'message.data[0].value' (TYPE_STRING), 12"),
        );
        check(
            403,
            &error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
            refused("HTTP 403: PERMISSION_DENIED (SENDER_ID_MISMATCH): SenderId mismatch"),
        );
        check(
            429,
            &error(429, "RESOURCE_EXHAUSTED", "Quota exceeded", "QUOTA_EXCEEDED"),
            refused("HTTP 429: RESOURCE_EXHAUSTED (QUOTA_EXCEEDED): Quota exceeded"),
        );
        check(503, &error(503, "UNAVAILABLE", "", "UNAVAILABLE"), refused("HTTP 503: UNAVAILABLE"));
        check(500, &error(500, "INTERNAL", "Internal error", "INTERNAL"), refused("HTTP 500: INTERNAL: Internal error"));

        // UNREGISTERED only counts in an FCM detail.
        check(
            400,
            r#"{"error":{"status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.BadRequest","errorCode":"UNREGISTERED"}]}}"#,
            refused("HTTP 400: INVALID_ARGUMENT"),
        );
        check(400, r#"{"error":{"message":"UNREGISTERED"}}"#, refused("HTTP 400: UNREGISTERED"));
        check(
            400,
            r#"{"error":{"details":[{"@type":"google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#,
            gone("HTTP 400: (UNREGISTERED)"),
        );

        // Garbage and odd shapes.
        check(400, "", refused("HTTP 400: the answer is not JSON"));
        check(502, "<html>Bad Gateway</html>", refused("HTTP 502: the answer is not JSON"));
        check(400, "{}", refused("HTTP 400"));
        check(400, "[]", refused("HTTP 400"));
        check(400, r#"{"error":"bad"}"#, refused("HTTP 400"));
        check(400, r#"{"error":{"details":"x","status":7}}"#, refused("HTTP 400"));
        check(400, r#"{"error":{"details":[1,null,{"@type":5}]}}"#, refused("HTTP 400"));
        assert_eq!(classify_answer(400, b"\xff\xfe"), refused("HTTP 400: the answer is not JSON"));
    }
}
