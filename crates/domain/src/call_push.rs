//! What every provider that rings a phone shares: the keys of a call's push
//! payload, and how a provider's credential is read from a variable.
//!
//! Expo, APNs (a VoIP push) and FCM (a data message) carry the same keys, so
//! the app reads one shape whichever way the push arrived. FCM's `data` takes
//! string values only, so every value here is a string, and the JSON object
//! and the string map are two views of one list of fields.

use std::collections::BTreeMap;

use jwt_simple::prelude::{Audiences, Duration, JWTClaims};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::push::IncomingCall;

/// `type` of the push that rings the callee's devices.
pub const INCOMING_CALL: &str = "incoming_call";

/// `type` of the push that stops the ringing (the caller hung up, another
/// device answered, the ring timed out).
pub const CALL_ENDED: &str = "call_ended";

/// Why a push provider's credential was refused.
///
/// Names the variable (`apns_key_id`, ...) or service-account field
/// (`private_key`, ...) at fault and never quotes its value: these texts reach
/// logs, and a value may be a private key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("{0} is missing or empty")]
    Missing(&'static str),
    /// The value is there but unusable; the second text says why.
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
}

/// `{"type": "incoming_call", "callId", "callerId", "callerName", "callType"}`.
pub fn incoming_call_payload(call: &IncomingCall) -> Value {
    json_object(incoming_call_fields(call))
}

/// [`incoming_call_payload`] as FCM's `data` map.
pub fn incoming_call_data(call: &IncomingCall) -> BTreeMap<String, String> {
    string_map(incoming_call_fields(call))
}

/// `{"type": "call_ended", "callId", "status"}`; `status` is the call's final
/// `calls.status`.
pub fn call_ended_payload(call_id: Uuid, status: &str) -> Value {
    json_object(call_ended_fields(call_id, status))
}

/// [`call_ended_payload`] as FCM's `data` map.
pub fn call_ended_data(call_id: Uuid, status: &str) -> BTreeMap<String, String> {
    string_map(call_ended_fields(call_id, status))
}

impl CredentialError {
    /// The variable or field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Missing(field) | Self::Invalid(field, _) => field,
        }
    }
}

/// A PEM key as it arrives in a variable, made readable for a PEM parser:
/// surrounding and per-line whitespace dropped, and the literal `\n` that an
/// environment variable or a JSON string escaped twice often carries instead
/// of newlines turned back into newlines.
pub(crate) fn pem_from_variable(text: &str) -> String {
    let text = text.replace("\\r\\n", "\n").replace("\\n", "\n");
    let mut pem: String = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("\n");
    pem.push('\n');
    pem
}

/// A short, stable hex id of `parts` (16 hex digits of their SHA-256), for
/// telling apart credentials without showing them. Each part is
/// length-prefixed, so no two lists of parts share an id by concatenation.
pub(crate) fn fingerprint(parts: &[&[u8]]) -> String {
    let mut hash = hmac_sha256::Hash::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize()[..8].iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Exactly the claims of a provider grant: `iat`, `iss`, `exp` and `aud` when
/// given, and `custom`. Spelled out field by field because jwt-simple's
/// `Claims::create` reads the clock and adds `nbf` and an `exp` of its own.
pub(crate) fn grant_claims<Custom>(
    issued_at: u64,
    expires_at: Option<u64>,
    issuer: &str,
    audience: Option<&str>,
    custom: Custom,
) -> JWTClaims<Custom> {
    JWTClaims {
        issued_at: Some(Duration::from_secs(issued_at)),
        expires_at: expires_at.map(Duration::from_secs),
        invalid_before: None,
        issuer: Some(issuer.to_owned()),
        subject: None,
        audiences: audience.map(|audience| Audiences::AsString(audience.to_owned())),
        jwt_id: None,
        nonce: None,
        custom,
    }
}

fn incoming_call_fields(call: &IncomingCall) -> [(&'static str, String); 5] {
    [
        ("type", INCOMING_CALL.to_owned()),
        ("callId", call.call_id.to_string()),
        ("callerId", call.caller_id.to_string()),
        ("callerName", call.caller_name.trim().to_owned()),
        ("callType", call.call_type.as_str().to_owned()),
    ]
}

fn call_ended_fields(call_id: Uuid, status: &str) -> [(&'static str, String); 3] {
    [("type", CALL_ENDED.to_owned()), ("callId", call_id.to_string()), ("status", status.to_owned())]
}

fn json_object<const N: usize>(fields: [(&'static str, String); N]) -> Value {
    Value::Object(fields.into_iter().map(|(key, value)| (key.to_owned(), Value::String(value))).collect::<Map<_, _>>())
}

fn string_map<const N: usize>(fields: [(&'static str, String); N]) -> BTreeMap<String, String> {
    fields.into_iter().map(|(key, value)| (key.to_owned(), value)).collect()
}

/// What the provider modules' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use uuid::Uuid;

    use crate::call::CallType;
    use crate::delivery::DeviceOutcome;
    use crate::ids::UserId;
    use crate::push::IncomingCall;

    pub(crate) const CALL: &str = "0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a";
    pub(crate) const CALLER: &str = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";

    /// A call from [`CALLER`] with id [`CALL`].
    pub(crate) fn incoming_call(caller_name: &str, call_type: CallType) -> IncomingCall {
        IncomingCall {
            call_id: Uuid::parse_str(CALL).unwrap(),
            caller_id: UserId::parse(CALLER).unwrap(),
            caller_name: caller_name.to_owned(),
            call_type,
        }
    }

    /// Asserts that a provider's `classify` reads `(status, body)` as `expected`.
    pub(crate) fn check_answer(classify: fn(u16, &[u8]) -> DeviceOutcome, status: u16, body: &str, expected: DeviceOutcome) {
        assert_eq!(classify(status, body.as_bytes()), expected, "{status} {body}");
    }

    pub(crate) fn gone(text: &str) -> DeviceOutcome {
        DeviceOutcome::Gone(text.to_owned())
    }

    pub(crate) fn unauthorized(text: &str) -> DeviceOutcome {
        DeviceOutcome::Unauthorized(text.to_owned())
    }

    pub(crate) fn refused(text: &str) -> DeviceOutcome {
        DeviceOutcome::Refused(text.to_owned())
    }

    /// Asserts that `text` quotes no 8-character run of the key in `pem`.
    pub(crate) fn assert_hides_pem(text: &str, pem: &str) {
        let body: String = pem.lines().filter(|line| !line.starts_with("-----")).collect();
        for chunk in body.as_bytes().chunks(8) {
            assert!(!text.contains(std::str::from_utf8(chunk).unwrap()), "{text}");
        }
    }

    /// A compact JWS taken apart, for checking tokens with a verifier other
    /// than the library that signed them.
    pub(crate) struct Jws {
        /// The header JSON, byte for byte.
        pub header: String,
        /// The claims JSON, byte for byte.
        pub claims: String,
        /// `header.claims` as sent: what the signature covers.
        pub signing_input: String,
        pub signature: Vec<u8>,
    }

    pub(crate) fn split_jws(token: &str) -> Jws {
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        let text = |part: &str| String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap();
        Jws {
            header: text(parts[0]),
            claims: text(parts[1]),
            signing_input: format!("{}.{}", parts[0], parts[1]),
            signature: URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::test_support::{incoming_call as call, CALL, CALLER};
    use super::*;
    use crate::call::CallType;

    fn strings(value: &Value) -> BTreeMap<String, String> {
        value.as_object().unwrap().iter().map(|(key, value)| (key.clone(), value.as_str().unwrap().to_owned())).collect()
    }

    #[test]
    fn incoming_call_payloads() {
        let check = |call: IncomingCall, expected: Value| {
            assert_eq!(incoming_call_payload(&call), expected, "{call:?}");
            assert_eq!(incoming_call_data(&call), strings(&expected), "{call:?}");
        };
        check(
            call("Ayşe", CallType::Audio),
            json!({"type": "incoming_call", "callId": CALL, "callerId": CALLER, "callerName": "Ayşe", "callType": "audio"}),
        );
        check(
            call(" Mehmet Can\n", CallType::Video),
            json!({"type": "incoming_call", "callId": CALL, "callerId": CALLER, "callerName": "Mehmet Can", "callType": "video"}),
        );
        check(
            call("", CallType::Video),
            json!({"type": "incoming_call", "callId": CALL, "callerId": CALLER, "callerName": "", "callType": "video"}),
        );
    }

    #[test]
    fn call_ended_payloads() {
        let call_id = Uuid::parse_str(CALL).unwrap();
        for status in ["ended", "missed", "rejected", "cancelled"] {
            let expected = json!({"type": "call_ended", "callId": CALL, "status": status});
            assert_eq!(call_ended_payload(call_id, status), expected);
            assert_eq!(call_ended_data(call_id, status), strings(&expected));
        }
    }

    #[test]
    fn pems_from_variables() {
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB\n-----END PRIVATE KEY-----\n";
        let cases = [
            pem.to_owned(),
            pem.trim_end().to_owned(),
            format!("  \n{pem}\n\n "),
            pem.replace('\n', "\\n"),
            pem.replace('\n', "\r\n"),
            pem.replace('\n', "\\r\\n"),
            pem.replace('\n', "\n    "),
        ];
        for text in cases {
            assert_eq!(pem_from_variable(&text), pem, "{text:?}");
        }
    }

    #[test]
    fn fingerprints() {
        let id = fingerprint(&[b"a", b"bc"]);
        assert_eq!(id.len(), 16);
        assert!(id.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()), "{id}");
        assert_eq!(fingerprint(&[b"a", b"bc"]), id);
        assert_ne!(fingerprint(&[b"ab", b"c"]), id);
        assert_ne!(fingerprint(&[b"a", b"bd"]), id);
        assert_ne!(fingerprint(&[b"abc"]), fingerprint(&[b"ab", b"c"]));
    }

    #[test]
    fn credential_errors_name_the_field() {
        assert_eq!(CredentialError::Missing("apns_key_id").field(), "apns_key_id");
        assert_eq!(CredentialError::Invalid("private_key", "not an RSA key").field(), "private_key");
        assert_eq!(CredentialError::Missing("apns_key_id").to_string(), "apns_key_id is missing or empty");
        assert_eq!(CredentialError::Invalid("private_key", "not an RSA key").to_string(), "private_key is invalid: not an RSA key");
    }
}
