//! Ringing an iPhone through APNs with a VoIP push (PushKit): it wakes the app
//! even on a locked phone, and the app reports the call to CallKit.
//!
//! A push is `POST {origin}/3/device/{device token}` over HTTP/2, authorized
//! by a provider token: an ES256 JWT signed with the team's `.p8` key
//! (<https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns>).
//! APNs answers 200 with an empty body, or an error status with
//! `{"reason": ...}`
//! (<https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns>).
//! This module builds the request and reads the answer; the component sends it
//! and keeps the provider token between pushes ([`provider_token_fresh`]).
//! Nothing here puts a device token or the key in a `Debug`, an error or an
//! outcome text.

use std::fmt;

use jwt_simple::prelude::{ECDSAP256KeyPairLike as _, ES256KeyPair, NoCustomClaims};
use serde_json::Value;

pub use crate::call_push::CredentialError;
use crate::call_push::{fingerprint, grant_claims, pem_from_variable};
use crate::delivery::DeviceOutcome;
use crate::enum_str;
use crate::push::OutgoingRequest;

enum_str! {
    /// Which APNs serves the app's tokens: a development build registers
    /// sandbox tokens, TestFlight and the App Store production ones, and each
    /// server refuses the other's tokens (`BadDeviceToken`).
    pub enum ApnsEnvironment {
        Production = "production",
        Sandbox = "sandbox",
    }
}

/// APNs refuses a provider token issued more than an hour ago
/// (`ExpiredProviderToken`).
pub const PROVIDER_TOKEN_MAX_AGE_SECONDS: u64 = 60 * 60;

/// APNs throttles a provider that mints new tokens more often than every 20
/// minutes (`TooManyProviderTokenUpdates`).
pub const PROVIDER_TOKEN_MIN_REFRESH_SECONDS: u64 = 20 * 60;

/// How long a minted provider token is reused: past the refresh floor, and 10
/// minutes short of the age limit to allow for clock skew.
pub const PROVIDER_TOKEN_REUSE_SECONDS: u64 = 50 * 60;

const _: () = assert!(PROVIDER_TOKEN_MIN_REFRESH_SECONDS < PROVIDER_TOKEN_REUSE_SECONDS);
const _: () = assert!(PROVIDER_TOKEN_REUSE_SECONDS < PROVIDER_TOKEN_MAX_AGE_SECONDS);

/// The team's APNs signing key (variables `apns_key_id`, `apns_team_id`,
/// `apns_private_key`).
pub struct ApnsKey {
    key_id: String,
    team_id: String,
    // Invariant: carries `key_id` as its `kid`, so every token it signs names it.
    key_pair: ES256KeyPair,
    fingerprint: String,
}

impl ApnsEnvironment {
    /// The scheme and host of this environment's APNs.
    pub fn origin(self) -> &'static str {
        match self {
            Self::Production => "https://api.push.apple.com",
            Self::Sandbox => "https://api.sandbox.push.apple.com",
        }
    }
}

impl ApnsKey {
    /// Reads the three variables. `p8_pem` is the `.p8` file's text (a PKCS#8
    /// PEM P-256 key), taken with surrounding whitespace and with literal `\n`
    /// in place of newlines, as secrets often arrive in environment variables.
    ///
    /// Errors: [`CredentialError`] naming `apns_key_id` or `apns_team_id` (empty,
    /// or not 10 ASCII letters and digits, the form of Apple's ids) or
    /// `apns_private_key` (empty, or not a P-256 PKCS#8 PEM key).
    pub fn parse(key_id: &str, team_id: &str, p8_pem: &str) -> Result<Self, CredentialError> {
        let key_id = apple_id("apns_key_id", key_id)?;
        let team_id = apple_id("apns_team_id", team_id)?;
        if p8_pem.trim().is_empty() {
            return Err(CredentialError::Missing("apns_private_key"));
        }
        let key_pair = ES256KeyPair::from_pem(&pem_from_variable(p8_pem))
            .map_err(|_| CredentialError::Invalid("apns_private_key", "not a P-256 private key in PKCS#8 PEM (Apple's .p8)"))?
            .with_key_id(key_id);
        let public_key = key_pair.public_key().to_bytes();
        let fingerprint = fingerprint(&[b"apns", key_id.as_bytes(), team_id.as_bytes(), &public_key]);
        Ok(Self { key_id: key_id.to_owned(), team_id: team_id.to_owned(), key_pair, fingerprint })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn team_id(&self) -> &str {
        &self.team_id
    }

    /// A short hex id of the key id, team id and public key: a provider token
    /// cached under another fingerprint was minted from other variables and
    /// must not be reused.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A provider token issued at `now_unix`: header
    /// `{"alg":"ES256","kid":<key id>,"typ":"JWT"}`, claims
    /// `{"iat":<now_unix>,"iss":<team id>}`. APNs wants no `exp` (it applies
    /// its own hour), and jwt-simple always writes `typ`, which APNs accepts
    /// (RFC 7519 §5.1; the common APNs clients send it too). Reuse it while
    /// [`provider_token_fresh`].
    pub fn provider_token(&self, now_unix: u64) -> String {
        let claims = grant_claims(now_unix, None, &self.team_id, None, NoCustomClaims {});
        // Invariant: these claims serialize and a parsed P-256 key signs any
        // input, so signing does not fail. Were it ever to, APNs answers the
        // empty token with 403 and the push is reported Refused.
        self.key_pair.sign(claims).unwrap_or_default()
    }
}

/// Whether a provider token issued at `issued_at` may still be sent at `now`:
/// while `0 <= now - issued_at <` [`PROVIDER_TOKEN_REUSE_SECONDS`]. A token
/// from the future (a clock that went back) is not fresh.
pub fn provider_token_fresh(issued_at: u64, now: u64) -> bool {
    now.checked_sub(issued_at).is_some_and(|age| age < PROVIDER_TOKEN_REUSE_SECONDS)
}

/// The VoIP push of `payload` to `device_token` for the app `bundle_id`:
/// `POST {origin}/3/device/{device_token}` with topic `<bundle_id>.voip`,
/// priority 10 (deliver now) and expiration 0 (deliver once or drop: a late
/// ring is worse than none).
pub fn voip_request(origin: &str, device_token: &str, bundle_id: &str, provider_token: &str, payload: &Value) -> OutgoingRequest {
    let headers = [
        ("authorization", format!("bearer {provider_token}")),
        ("apns-push-type", "voip".to_owned()),
        ("apns-topic", format!("{bundle_id}.voip")),
        ("apns-priority", "10".to_owned()),
        ("apns-expiration", "0".to_owned()),
        ("content-type", "application/json".to_owned()),
    ];
    OutgoingRequest {
        url: format!("{origin}/3/device/{device_token}"),
        headers: headers.into_iter().map(|(name, value)| (name.to_owned(), value)).collect(),
        body: payload.to_string().into_bytes(),
    }
}

/// Reads APNs' answer to one push.
///
/// 200: Delivered. 410 with Apple's reason (`Unregistered`, `ExpiredToken`:
/// the app is gone from the device): Gone; a 410 without one is not Apple's
/// word and Refused. 400 `BadDeviceToken`: Unrecognized (see
/// [`settle_bad_device_tokens`]). 403 `ExpiredProviderToken` or
/// `InvalidProviderToken`: Unauthorized. Anything else: Refused. Texts read
/// `HTTP <status>: <reason>`; a body that is not JSON or has no reason says
/// so. A reason is quoted only in the shape of Apple's (a short CamelCase
/// word), so no text can carry a device token.
pub fn classify_answer(status: u16, body: &[u8]) -> DeviceOutcome {
    if status == 200 {
        return DeviceOutcome::Delivered;
    }
    let reason = match serde_json::from_slice::<Value>(body) {
        Err(_) => Err("the answer is not JSON"),
        Ok(answer) => match answer.get("reason").and_then(Value::as_str) {
            Some(reason) if is_apple_reason(reason) => Ok(reason.to_owned()),
            Some(_) => Err("the reason is not one of Apple's"),
            None => Err("the answer has no reason"),
        },
    };
    let text = match &reason {
        Ok(reason) => format!("HTTP {status}: {reason}"),
        Err(problem) => format!("HTTP {status}: {problem}"),
    };
    match (status, reason.as_deref()) {
        (410, Ok(_)) => DeviceOutcome::Gone(text),
        (400, Ok("BadDeviceToken")) => DeviceOutcome::Unrecognized(text),
        (403, Ok("ExpiredProviderToken" | "InvalidProviderToken")) => DeviceOutcome::Unauthorized(text),
        _ => DeviceOutcome::Refused(text),
    }
}

/// What one send's `BadDeviceToken` answers became.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadDeviceTokens {
    /// No answer was `BadDeviceToken`.
    None,
    /// Another token was delivered in the same send, so the environment is
    /// right and those tokens are dead: Gone.
    Pruned,
    /// Nothing was delivered, so the environment is unproven: kept (Refused).
    Kept,
    /// Every answer was `BadDeviceToken`, the mark of a wrong
    /// `apns_environment` (or `apns_origin`): kept (Refused), worth a warning.
    KeptAllRefused,
}

/// Settles the [`DeviceOutcome::Unrecognized`] answers of one send to one
/// APNs origin: Gone when the same send delivered to another token (proof,
/// from the same server and minute, that the environment is right),
/// otherwise Refused, so a wrong environment setting never deletes devices.
/// A proof is taken only from the same send: an older one says nothing
/// once the app's build or the variables change, and a device whose token
/// is kept registers it again on its next start anyway.
pub fn settle_bad_device_tokens(outcomes: &mut [DeviceOutcome]) -> BadDeviceTokens {
    let unrecognized = outcomes.iter().filter(|outcome| matches!(outcome, DeviceOutcome::Unrecognized(_))).count();
    if unrecognized == 0 {
        return BadDeviceTokens::None;
    }
    let proven = outcomes.iter().any(|outcome| *outcome == DeviceOutcome::Delivered);
    for outcome in outcomes.iter_mut() {
        if let DeviceOutcome::Unrecognized(text) = outcome {
            let text = std::mem::take(text);
            *outcome = if proven { DeviceOutcome::Gone(text) } else { DeviceOutcome::Refused(text) };
        }
    }
    match (proven, unrecognized == outcomes.len()) {
        (true, _) => BadDeviceTokens::Pruned,
        (false, true) => BadDeviceTokens::KeptAllRefused,
        (false, false) => BadDeviceTokens::Kept,
    }
}

impl fmt::Debug for ApnsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApnsKey")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("private_key", &"[redacted]")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// A Key ID or Team ID: Apple's are 10 ASCII letters and digits.
fn apple_id<'a>(variable: &'static str, text: &'a str) -> Result<&'a str, CredentialError> {
    let id = text.trim();
    if id.is_empty() {
        return Err(CredentialError::Missing(variable));
    }
    if id.len() != 10 || !id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return Err(CredentialError::Invalid(variable, "Apple's ids are 10 letters and digits"));
    }
    Ok(id)
}

/// Apple's reasons are CamelCase words of at most 27 letters
/// (`TooManyProviderTokenUpdates`); a device token is 64 hex digits or more.
fn is_apple_reason(reason: &str) -> bool {
    (1..=40).contains(&reason.len()) && reason.bytes().all(|byte| byte.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    use serde_json::json;

    use super::*;
    use crate::call_push::test_support::{assert_hides_pem, check_answer, gone, refused, split_jws, unauthorized};

    const KEY_ID: &str = "ABC123DEFG";
    const TEAM_ID: &str = "DEF123GHIJ";
    const NOW: u64 = 1_780_000_000;
    const TEST_KEY: &str = include_str!("testdata/apns_test_key.p8");
    const TEST_KEY_SEC1: &str = include_str!("testdata/apns_test_key.sec1.pem");
    const TEST_KEY_SPKI: &[u8] = include_bytes!("testdata/apns_test_key.spki.der");
    const P384_TEST_KEY: &str = include_str!("testdata/p384_test_key.p8");
    const RSA_TEST_KEY: &str = include_str!("testdata/fcm_test_key.pem");
    const DEVICE_TOKEN: &str = "8f2a6c1e0b9d4e7f8a3b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9012";

    fn key() -> ApnsKey {
        ApnsKey::parse(KEY_ID, TEAM_ID, TEST_KEY).unwrap()
    }

    /// The uncompressed point ring reads, from openssl's SubjectPublicKeyInfo.
    fn public_point() -> &'static [u8] {
        // SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING { 0x00, 0x04 || x || y } }.
        const SPKI_PREFIX: &[u8] = &[
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03,
            0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        let (prefix, point) = TEST_KEY_SPKI.split_at(SPKI_PREFIX.len());
        assert_eq!(prefix, SPKI_PREFIX);
        assert_eq!((point.len(), point[0]), (65, 0x04));
        point
    }

    fn ring_verifies(signing_input: &str, signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_point()).verify(signing_input.as_bytes(), signature).is_ok()
    }

    #[test]
    fn environments() {
        assert_eq!(ApnsEnvironment::parse("production").map(ApnsEnvironment::origin), Some("https://api.push.apple.com"));
        assert_eq!(ApnsEnvironment::parse("sandbox").map(ApnsEnvironment::origin), Some("https://api.sandbox.push.apple.com"));
        for text in ["", "Production", "development", " sandbox"] {
            assert_eq!(ApnsEnvironment::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn provider_token_verifies_with_ring() {
        let token = key().provider_token(NOW);
        let parts = split_jws(&token);
        assert_eq!(parts.header, r#"{"alg":"ES256","kid":"ABC123DEFG","typ":"JWT"}"#);
        assert_eq!(parts.claims, r#"{"iat":1780000000,"iss":"DEF123GHIJ"}"#);
        assert_eq!(parts.signature.len(), 64, "ES256 is r || s, 32 bytes each");
        assert!(ring_verifies(&parts.signing_input, &parts.signature));

        // The verifier is not a rubber stamp: other claims, a cut or changed
        // signature, and another key are refused.
        let other = split_jws(&key().provider_token(NOW + 1));
        assert_eq!(other.claims, r#"{"iat":1780000001,"iss":"DEF123GHIJ"}"#);
        assert!(!ring_verifies(&other.signing_input, &parts.signature));
        assert!(!ring_verifies(&parts.signing_input, &parts.signature[..63]));
        let mut flipped = parts.signature.clone();
        flipped[10] ^= 1;
        assert!(!ring_verifies(&parts.signing_input, &flipped));
        let stranger = ES256KeyPair::generate().with_key_id(KEY_ID);
        let foreign = ApnsKey::parse(KEY_ID, TEAM_ID, &stranger.to_pem().unwrap()).unwrap().provider_token(NOW);
        let foreign = split_jws(&foreign);
        assert!(!ring_verifies(&foreign.signing_input, &foreign.signature));
    }

    #[test]
    fn keys_in_the_shapes_variables_carry() {
        let reference = key().provider_token(NOW);
        let variants = [
            format!("\n  {TEST_KEY}  \n"),
            TEST_KEY.trim_end().to_owned(),
            TEST_KEY.replace('\n', "\\n"),
            TEST_KEY.trim_end().replace('\n', "\\n"),
            TEST_KEY.replace('\n', "\r\n"),
        ];
        for pem in variants {
            let key = ApnsKey::parse(&format!(" {KEY_ID}\n"), TEAM_ID, &pem).unwrap_or_else(|error| panic!("{pem:?}: {error}"));
            assert_eq!(key.key_id(), KEY_ID);
            let parts = split_jws(&key.provider_token(NOW));
            assert!(ring_verifies(&parts.signing_input, &parts.signature), "{pem:?}");
            assert_eq!(parts.header, split_jws(&reference).header);
        }
    }

    #[test]
    fn refused_credentials_name_the_variable() {
        let check = |key_id: &str, team_id: &str, pem: &str, expected: CredentialError| {
            let error = ApnsKey::parse(key_id, team_id, pem).unwrap_err();
            assert_eq!(error, expected, "{key_id:?} {team_id:?}");
            // No error text quotes what it refused.
            let text = format!("{error} {error:?}");
            for secret in [pem.trim(), "MIG", "BEGIN"] {
                assert!(secret.is_empty() || !text.contains(secret), "{text}");
            }
        };
        let bad_key = |why| CredentialError::Invalid("apns_private_key", why);
        let not_p8 = bad_key("not a P-256 private key in PKCS#8 PEM (Apple's .p8)");
        let bad_id = |variable| CredentialError::Invalid(variable, "Apple's ids are 10 letters and digits");

        check("", TEAM_ID, TEST_KEY, CredentialError::Missing("apns_key_id"));
        check("  \n", TEAM_ID, TEST_KEY, CredentialError::Missing("apns_key_id"));
        check("ABC123DEF", TEAM_ID, TEST_KEY, bad_id("apns_key_id"));
        check("ABC123DEFGH", TEAM_ID, TEST_KEY, bad_id("apns_key_id"));
        check("ABC123-EFG", TEAM_ID, TEST_KEY, bad_id("apns_key_id"));
        check("ABC 23DEFG", TEAM_ID, TEST_KEY, bad_id("apns_key_id"));
        check("ABC123DEFĞ", TEAM_ID, TEST_KEY, bad_id("apns_key_id"));
        check(KEY_ID, "", TEST_KEY, CredentialError::Missing("apns_team_id"));
        check(KEY_ID, "TEAM", TEST_KEY, bad_id("apns_team_id"));
        check(KEY_ID, TEAM_ID, "", CredentialError::Missing("apns_private_key"));
        check(KEY_ID, TEAM_ID, " \n\t", CredentialError::Missing("apns_private_key"));
        check(KEY_ID, TEAM_ID, "not a key", not_p8.clone());
        check(KEY_ID, TEAM_ID, &TEST_KEY.replace("MIG", "MIH"), not_p8.clone());
        check(KEY_ID, TEAM_ID, &TEST_KEY[..120], not_p8.clone());
        check(KEY_ID, TEAM_ID, TEST_KEY_SEC1, not_p8.clone());
        check(KEY_ID, TEAM_ID, P384_TEST_KEY, not_p8.clone());
        check(KEY_ID, TEAM_ID, RSA_TEST_KEY, not_p8);
        // The key id is checked first: a bad id is reported even with a bad key.
        check("", "", "", CredentialError::Missing("apns_key_id"));
    }

    #[test]
    fn fingerprints_follow_the_variables() {
        let fingerprint = key().fingerprint().to_owned();
        assert_eq!(fingerprint.len(), 16);
        assert_eq!(ApnsKey::parse(KEY_ID, TEAM_ID, &TEST_KEY.replace('\n', "\\n")).unwrap().fingerprint(), fingerprint);
        assert_ne!(ApnsKey::parse("ABC123DEFH", TEAM_ID, TEST_KEY).unwrap().fingerprint(), fingerprint);
        assert_ne!(ApnsKey::parse(KEY_ID, "DEF123GHIK", TEST_KEY).unwrap().fingerprint(), fingerprint);
        let other_key = ES256KeyPair::generate().to_pem().unwrap();
        assert_ne!(ApnsKey::parse(KEY_ID, TEAM_ID, &other_key).unwrap().fingerprint(), fingerprint);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let text = format!("{:?}", key());
        assert!(text.contains(KEY_ID) && text.contains(TEAM_ID) && text.contains(key().fingerprint()), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
        assert_hides_pem(&text, TEST_KEY);
    }

    #[test]
    fn provider_token_freshness() {
        assert_eq!(PROVIDER_TOKEN_REUSE_SECONDS, 3000);
        let cases = [
            (NOW, NOW, true),
            (NOW, NOW + 1, true),
            (NOW, NOW + PROVIDER_TOKEN_MIN_REFRESH_SECONDS, true),
            (NOW, NOW + 2999, true),
            (NOW, NOW + 3000, false),
            (NOW, NOW + PROVIDER_TOKEN_MAX_AGE_SECONDS, false),
            (NOW + 1, NOW, false),
            (u64::MAX, NOW, false),
            (0, NOW, false),
            (0, 2999, true),
        ];
        for (issued_at, now, fresh) in cases {
            assert_eq!(provider_token_fresh(issued_at, now), fresh, "issued {issued_at}, now {now}");
        }
    }

    #[test]
    fn voip_requests() {
        let payload = json!({"type": "call_ended", "callId": "c", "status": "missed"});
        let request = voip_request("https://api.sandbox.push.apple.com", DEVICE_TOKEN, "com.example.app", "eyJ.x.y", &payload);
        assert_eq!(request.url, format!("https://api.sandbox.push.apple.com/3/device/{DEVICE_TOKEN}"));
        let expected = [
            ("authorization", "bearer eyJ.x.y"),
            ("apns-push-type", "voip"),
            ("apns-topic", "com.example.app.voip"),
            ("apns-priority", "10"),
            ("apns-expiration", "0"),
            ("content-type", "application/json"),
        ];
        let headers: Vec<(&str, &str)> = request.headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        assert_eq!(headers, expected);
        assert_eq!(serde_json::from_slice::<Value>(&request.body).unwrap(), payload);
    }

    #[test]
    fn voip_request_debug_hides_the_device_token() {
        let request = voip_request("https://api.push.apple.com", DEVICE_TOKEN, "com.example.app", "secret-jwt", &json!({}));
        let text = format!("{request:?}");
        assert!(!text.contains(DEVICE_TOKEN) && text.contains("https://api.push.apple.com"), "{text}");
        assert!(!text.contains("secret-jwt"), "{text}");
    }

    #[test]
    fn answers() {
        let check = |status, body: &str, expected| check_answer(classify_answer, status, body, expected);

        check(200, "", DeviceOutcome::Delivered);
        check(200, "{}", DeviceOutcome::Delivered);
        check(200, "garbage", DeviceOutcome::Delivered);
        check(410, r#"{"reason":"Unregistered","timestamp":1780000000000}"#, gone("HTTP 410: Unregistered"));
        check(410, r#"{"reason":"ExpiredToken"}"#, gone("HTTP 410: ExpiredToken"));
        // A 410 without Apple's reason (a proxy, a wrong apns_origin) deletes nothing.
        check(410, "", refused("HTTP 410: the answer is not JSON"));
        check(410, "<html>Gone</html>", refused("HTTP 410: the answer is not JSON"));
        check(410, "{}", refused("HTTP 410: the answer has no reason"));
        check(400, r#"{"reason":"BadDeviceToken"}"#, DeviceOutcome::Unrecognized("HTTP 400: BadDeviceToken".into()));
        check(403, r#"{"reason":"ExpiredProviderToken"}"#, unauthorized("HTTP 403: ExpiredProviderToken"));
        check(403, r#"{"reason":"InvalidProviderToken"}"#, unauthorized("HTTP 403: InvalidProviderToken"));

        check(400, r#"{"reason":"DeviceTokenNotForTopic"}"#, refused("HTTP 400: DeviceTokenNotForTopic"));
        check(400, r#"{"reason":"BadTopic"}"#, refused("HTTP 400: BadTopic"));
        check(400, r#"{"reason":"InvalidPushType"}"#, refused("HTTP 400: InvalidPushType"));
        check(403, r#"{"reason":"MissingProviderToken"}"#, refused("HTTP 403: MissingProviderToken"));
        check(403, r#"{"reason":"BadCertificateEnvironment"}"#, refused("HTTP 403: BadCertificateEnvironment"));
        check(403, r#"{"reason":"Forbidden"}"#, refused("HTTP 403: Forbidden"));
        check(404, r#"{"reason":"BadPath"}"#, refused("HTTP 404: BadPath"));
        check(405, r#"{"reason":"MethodNotAllowed"}"#, refused("HTTP 405: MethodNotAllowed"));
        check(413, r#"{"reason":"PayloadTooLarge"}"#, refused("HTTP 413: PayloadTooLarge"));
        check(429, r#"{"reason":"TooManyProviderTokenUpdates"}"#, refused("HTTP 429: TooManyProviderTokenUpdates"));
        check(429, r#"{"reason":"TooManyRequests"}"#, refused("HTTP 429: TooManyRequests"));
        check(500, r#"{"reason":"InternalServerError"}"#, refused("HTTP 500: InternalServerError"));
        check(503, r#"{"reason":"ServiceUnavailable"}"#, refused("HTTP 503: ServiceUnavailable"));
        check(503, r#"{"reason":"Shutdown"}"#, refused("HTTP 503: Shutdown"));

        // A reason that belongs with another status is not read as that status's.
        check(500, r#"{"reason":"BadDeviceToken"}"#, refused("HTTP 500: BadDeviceToken"));
        check(401, r#"{"reason":"InvalidProviderToken"}"#, refused("HTTP 401: InvalidProviderToken"));

        // Garbage and odd shapes.
        check(400, "", refused("HTTP 400: the answer is not JSON"));
        check(502, "<html>Bad Gateway</html>", refused("HTTP 502: the answer is not JSON"));
        check(400, "{}", refused("HTTP 400: the answer has no reason"));
        check(400, "[]", refused("HTTP 400: the answer has no reason"));
        check(400, r#"{"reason":42}"#, refused("HTTP 400: the answer has no reason"));
        check(400, r#"{"reason":""}"#, refused("HTTP 400: the reason is not one of Apple's"));
        check(400, &format!(r#"{{"reason":"{DEVICE_TOKEN}"}}"#), refused("HTTP 400: the reason is not one of Apple's"));
        check(400, r#"{"reason":"Bad Device Token"}"#, refused("HTTP 400: the reason is not one of Apple's"));
        check(0, "", refused("HTTP 0: the answer is not JSON"));
    }

    #[test]
    fn bad_device_tokens_are_pruned_only_beside_a_delivery() {
        let bad = || DeviceOutcome::Unrecognized("HTTP 400: BadDeviceToken".into());
        let check = |mut outcomes: Vec<DeviceOutcome>, expected: Vec<DeviceOutcome>, verdict: BadDeviceTokens| {
            assert_eq!(settle_bad_device_tokens(&mut outcomes), verdict);
            assert_eq!(outcomes, expected);
        };
        let text = "HTTP 400: BadDeviceToken";
        check(vec![], vec![], BadDeviceTokens::None);
        check(vec![DeviceOutcome::Delivered], vec![DeviceOutcome::Delivered], BadDeviceTokens::None);
        check(vec![gone("HTTP 410: Unregistered")], vec![gone("HTTP 410: Unregistered")], BadDeviceTokens::None);
        check(vec![bad(), DeviceOutcome::Delivered, bad()], vec![gone(text), DeviceOutcome::Delivered, gone(text)], BadDeviceTokens::Pruned);
        check(vec![bad()], vec![refused(text)], BadDeviceTokens::KeptAllRefused);
        check(vec![bad(), bad(), bad()], vec![refused(text), refused(text), refused(text)], BadDeviceTokens::KeptAllRefused);
        // A 410 beside them proves nothing about the environment.
        check(vec![bad(), gone("HTTP 410: Unregistered")], vec![refused(text), gone("HTTP 410: Unregistered")], BadDeviceTokens::Kept);
        check(vec![bad(), refused("HTTP 503: Shutdown")], vec![refused(text), refused("HTTP 503: Shutdown")], BadDeviceTokens::Kept);
    }

    #[test]
    fn raw_garbage_bodies() {
        for body in [&b"\xff\xfe\x00"[..], b"{\"reason\":", b"null", b"\"BadDeviceToken\""] {
            assert!(matches!(classify_answer(400, body), DeviceOutcome::Refused(_)), "{body:?}");
        }
    }
}
