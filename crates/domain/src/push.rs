//! Push notifications for incoming calls, through Expo's push service.
//!
//! Expo's send endpoint takes `POST {push_url}` with a JSON message whose `to`
//! may list several device tokens, and answers one ticket per token
//! (<https://docs.expo.dev/push-notifications/sending-notifications/>). This
//! module builds that request and reads the answer; the component sends it.
//! Device tokens are not secrets, but they identify a device: nothing here
//! puts one in a `Debug` or an outcome text, so they never reach a log.

use std::fmt;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::call::CallType;
use crate::enum_str;
use crate::errors::ApiError;
use crate::ids::UserId;
use crate::requests::{invalid, json_object, only_fields, optional_str};

/// Expo's send endpoint, the default of variable `push_url`.
pub const DEFAULT_PUSH_URL: &str = "https://exp.host/--/api/v2/push/send";

/// The Android notification channel the app registers for ringing calls.
pub const INCOMING_CALL_CHANNEL: &str = "incoming-calls";

/// The longest device token we store (the `push_tokens.token` CHECK).
pub const MAX_TOKEN_CHARS: usize = 512;

/// A call that is ringing on the callee's devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingCall {
    pub call_id: Uuid,
    pub caller_id: UserId,
    /// The caller's display name, shown in the notification.
    pub caller_name: String,
    pub call_type: CallType,
}

/// One Expo push message, serialized as Expo's JSON
/// `{to, title, body, data, priority, ttl, sound, channelId}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushMessage {
    /// Device tokens; Expo accepts an array and answers one ticket per token.
    pub to: Vec<String>,
    pub title: String,
    pub body: String,
    pub data: IncomingCallData,
    /// `high`: wakes the device (Android high priority, iOS priority 10).
    pub priority: &'static str,
    /// Seconds Expo and the platform keep trying to deliver; a ring that has
    /// timed out is not worth delivering.
    pub ttl: u32,
    pub sound: &'static str,
    pub channel_id: &'static str,
}

/// The `data` the app reads when the notification arrives or is tapped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncomingCallData {
    pub call_id: Uuid,
    pub caller_id: UserId,
    pub call_type: CallType,
}

/// An HTTP request ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingRequest {
    pub url: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What became of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The provider took it for at least one device.
    Accepted,
    /// The provider (or our configuration) refused it; the text is for logs
    /// and never contains a device token.
    Refused(String),
    /// No answer: connection failure or the deadline passed.
    NoAnswer(String),
}

enum_str! {
    /// `push_tokens.platform`.
    pub enum Platform {
        Ios = "ios",
        Android = "android",
        Web = "web",
    }
}

/// `POST /push-token-register`: a device's push token.
#[derive(Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// Trimmed, 1..=512 characters, no whitespace or control characters.
    pub token: String,
    pub platform: Platform,
}

impl PushMessage {
    /// The ringing notification for `call` to `tokens`, kept by the push
    /// services for `ttl_seconds` (the ring timeout).
    pub fn incoming_call(call: &IncomingCall, tokens: &[String], ttl_seconds: u32) -> Self {
        let title = match call.call_type {
            CallType::Audio => "Gelen arama",
            CallType::Video => "Gelen görüntülü arama",
        };
        let caller_name = call.caller_name.trim();
        // A notification reading " sizi arıyor" looks broken; "Biri" is "someone".
        let caller_name = if caller_name.is_empty() { "Biri" } else { caller_name };
        Self {
            to: tokens.to_vec(),
            title: title.to_owned(),
            body: format!("{caller_name} sizi arıyor"),
            data: IncomingCallData { call_id: call.call_id, caller_id: call.caller_id, call_type: call.call_type },
            priority: "high",
            ttl: ttl_seconds,
            sound: "default",
            channel_id: INCOMING_CALL_CHANNEL,
        }
    }

    /// The JSON Expo reads.
    pub fn to_json(&self) -> Value {
        // Invariant: every field serializes (strings, numbers, uuids).
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The Expo send request for `message`; `access_token` (Expo's "enhanced
/// push security") becomes `Authorization: Bearer <token>` when set and non-empty.
pub fn expo_request(push_url: &str, access_token: Option<&str>, message: &PushMessage) -> OutgoingRequest {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
    ];
    if let Some(token) = access_token.map(str::trim).filter(|token| !token.is_empty()) {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    OutgoingRequest { url: push_url.to_owned(), headers, body: message.to_json().to_string().into_bytes() }
}

/// Reads Expo's answer to a send.
///
/// 2xx with `{"data": [ticket, ...]}` (or a single ticket object): Accepted
/// when at least one ticket is `"ok"`, else Refused naming the first error
/// (`details.error`, then `message`). Any other status (Expo's
/// `{"errors": [{"code", "message"}]}`), a missing `data` or a body that is not
/// JSON: Refused. No outcome text contains a device token.
pub fn classify_expo_answer(status: u16, body: &[u8]) -> PushOutcome {
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return PushOutcome::Refused(format!("HTTP {status}: the answer is not JSON"));
    };
    if !(200..300).contains(&status) {
        return PushOutcome::Refused(match request_error(&answer) {
            Some(error) => format!("HTTP {status}: {error}"),
            None => format!("HTTP {status}"),
        });
    }
    let tickets: Vec<&Value> = match answer.get("data") {
        Some(Value::Array(tickets)) => tickets.iter().collect(),
        Some(ticket @ Value::Object(_)) => vec![ticket],
        _ => {
            return PushOutcome::Refused(match request_error(&answer) {
                Some(error) => error,
                None => "the answer has no tickets".to_owned(),
            })
        }
    };
    if tickets.iter().any(|ticket| ticket.get("status").and_then(Value::as_str) == Some("ok")) {
        return PushOutcome::Accepted;
    }
    let first_error = tickets.iter().find_map(|ticket| {
        let error = ticket.pointer("/details/error").and_then(Value::as_str);
        let message = ticket.get("message").and_then(Value::as_str).map(redact_tokens);
        match (error, message) {
            (Some(error), Some(message)) => Some(format!("{error}: {message}")),
            (Some(error), None) => Some(error.to_owned()),
            (None, Some(message)) => Some(message),
            (None, None) => None,
        }
    });
    PushOutcome::Refused(first_error.unwrap_or_else(|| "no ticket was accepted".to_owned()))
}

impl PushRegistration {
    /// `{"token": string, "platform": "ios" | "android" | "web"}`.
    ///
    /// Errors: INVALID_REQUEST naming `body`, `token` or `platform`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["token", "platform"])?;
        let token = optional_str(&object, "token")?.ok_or_else(|| invalid("token", "token is required"))?;
        if token.is_empty() {
            return Err(invalid("token", "token must not be empty"));
        }
        if token.len() > MAX_TOKEN_CHARS {
            return Err(invalid("token", "token is longer than 512 characters"));
        }
        // Expo, APNs and FCM tokens are printable ASCII; anything else is a
        // client bug (a stray space or newline), refused rather than repaired.
        if !token.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(invalid("token", "token must be printable ASCII without spaces"));
        }
        let platform = match optional_str(&object, "platform")? {
            Some(text) => Platform::parse(text).ok_or_else(|| invalid("platform", "platform must be ios, android or web"))?,
            None => return Err(invalid("platform", "platform is required")),
        };
        Ok(Self { token: token.to_owned(), platform })
    }
}

impl fmt::Debug for PushMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushMessage")
            .field("to", &format_args!("[{} tokens]", self.to.len()))
            .field("title", &self.title)
            .field("body", &self.body)
            .field("data", &self.data)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for OutgoingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OutgoingRequest")
            .field("url", &self.url)
            .field("headers", &names)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

impl fmt::Debug for PushRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushRegistration").field("token", &"[redacted]").field("platform", &self.platform).finish()
    }
}

/// The first request-level error of Expo's `{"errors": [{"code", "message"}]}`.
fn request_error(answer: &Value) -> Option<String> {
    let error = answer.get("errors")?.as_array()?.first()?;
    let code = error.get("code").and_then(Value::as_str);
    let message = error.get("message").and_then(Value::as_str).map(redact_tokens);
    match (code, message) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (Some(code), None) => Some(code.to_owned()),
        (None, message) => message,
    }
}

/// `text` with the inside of every `...PushToken[...]` replaced: Expo's
/// messages quote the token they refuse.
fn redact_tokens(text: &str) -> String {
    const MARKER: &str = "PushToken[";
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(MARKER) {
        let inside = start + MARKER.len();
        redacted.push_str(&rest[..inside]);
        redacted.push_str("redacted");
        rest = match rest[inside..].find(']') {
            Some(end) => &rest[inside + end..],
            None => "]",
        };
    }
    redacted.push_str(rest);
    redacted
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::errors::{ErrorCode, Language};

    const CALL: &str = "0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a";
    const CALLER: &str = "6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";

    fn call(caller_name: &str, call_type: CallType) -> IncomingCall {
        IncomingCall {
            call_id: Uuid::parse_str(CALL).unwrap(),
            caller_id: UserId::parse(CALLER).unwrap(),
            caller_name: caller_name.to_owned(),
            call_type,
        }
    }

    fn tokens(list: &[&str]) -> Vec<String> {
        list.iter().map(|token| (*token).to_owned()).collect()
    }

    #[test]
    fn incoming_call_messages() {
        let check = |call: IncomingCall, ttl: u32, title: &str, body: &str| {
            let message = PushMessage::incoming_call(&call, &tokens(&["ExponentPushToken[a]", "ExponentPushToken[b]"]), ttl);
            assert_eq!(
                message.to_json(),
                json!({
                    "to": ["ExponentPushToken[a]", "ExponentPushToken[b]"],
                    "title": title,
                    "body": body,
                    "data": {"callId": CALL, "callerId": CALLER, "callType": call.call_type.as_str()},
                    "priority": "high",
                    "ttl": ttl,
                    "sound": "default",
                    "channelId": "incoming-calls",
                }),
                "{call:?}"
            );
        };
        check(call("Ayşe", CallType::Audio), 30, "Gelen arama", "Ayşe sizi arıyor");
        check(call("Ayşe", CallType::Video), 30, "Gelen görüntülü arama", "Ayşe sizi arıyor");
        check(call("  Mehmet Can \n", CallType::Audio), 45, "Gelen arama", "Mehmet Can sizi arıyor");
        check(call("", CallType::Video), 1, "Gelen görüntülü arama", "Biri sizi arıyor");
        check(call(" \t ", CallType::Audio), 30, "Gelen arama", "Biri sizi arıyor");
    }

    #[test]
    fn debug_never_shows_tokens() {
        let message = PushMessage::incoming_call(&call("Ayşe", CallType::Audio), &tokens(&["ExponentPushToken[secret]"]), 30);
        let request = expo_request(DEFAULT_PUSH_URL, Some("expo-access"), &message);
        let registration = PushRegistration { token: "ExponentPushToken[secret]".into(), platform: Platform::Ios };
        for text in [format!("{message:?}"), format!("{request:?}"), format!("{registration:?}")] {
            assert!(!text.contains("secret") && !text.contains("expo-access"), "{text}");
        }
        assert!(format!("{message:?}").contains("[1 tokens]"));
    }

    #[test]
    fn expo_requests() {
        let message = PushMessage::incoming_call(&call("Ayşe", CallType::Video), &tokens(&["ExponentPushToken[a]"]), 30);
        let check = |access_token: Option<&str>, authorization: Option<&str>| {
            let request = expo_request("http://127.0.0.1:9/--/api/v2/push/send", access_token, &message);
            assert_eq!(request.url, "http://127.0.0.1:9/--/api/v2/push/send");
            let header = |name: &str| request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
            assert_eq!(header("content-type"), Some("application/json"));
            assert_eq!(header("accept"), Some("application/json"));
            assert_eq!(header("authorization"), authorization, "{access_token:?}");
            assert_eq!(serde_json::from_slice::<Value>(&request.body).unwrap(), message.to_json());
        };
        check(None, None);
        check(Some(""), None);
        check(Some("  "), None);
        check(Some("abc"), Some("Bearer abc"));
        check(Some(" abc\n"), Some("Bearer abc"));
    }

    #[test]
    fn expo_answers() {
        let check = |status: u16, body: &str, expected: PushOutcome| {
            assert_eq!(classify_expo_answer(status, body.as_bytes()), expected, "{status} {body}");
        };
        let refused = |text: &str| PushOutcome::Refused(text.to_owned());
        let unregistered = r#"{"status":"error","message":"\"ExponentPushToken[xyz]\" is not a registered push notification recipient","details":{"error":"DeviceNotRegistered"}}"#;
        let unregistered_text = "DeviceNotRegistered: \"ExponentPushToken[redacted]\" is not a registered push notification recipient";

        check(200, r#"{"data":[{"status":"ok","id":"a"}]}"#, PushOutcome::Accepted);
        check(200, r#"{"data":{"status":"ok","id":"a"}}"#, PushOutcome::Accepted);
        check(201, r#"{"data":[{"status":"ok","id":"a"}]}"#, PushOutcome::Accepted);
        check(200, &format!(r#"{{"data":[{unregistered},{{"status":"ok","id":"b"}}]}}"#), PushOutcome::Accepted);
        check(200, &format!(r#"{{"data":[{unregistered},{unregistered}]}}"#), refused(unregistered_text));
        check(200, &format!(r#"{{"data":{unregistered}}}"#), refused(unregistered_text));
        check(200, r#"{"data":[{"status":"error","details":{"error":"MessageTooBig"}}]}"#, refused("MessageTooBig"));
        check(200, r#"{"data":[{"status":"error","message":"too big"}]}"#, refused("too big"));
        check(200, r#"{"data":[{"status":"error"}]}"#, refused("no ticket was accepted"));
        check(200, r#"{"data":[{"status":"okay"}]}"#, refused("no ticket was accepted"));
        check(200, r#"{"data":[]}"#, refused("no ticket was accepted"));
        check(200, r#"{"data":"ok"}"#, refused("the answer has no tickets"));
        check(200, r#"{}"#, refused("the answer has no tickets"));
        check(200, r#"{"errors":[{"code":"VALIDATION_ERROR","message":"\"to\" is required"}]}"#, refused("VALIDATION_ERROR: \"to\" is required"));
        check(200, "", refused("HTTP 200: the answer is not JSON"));
        check(200, "<html>", refused("HTTP 200: the answer is not JSON"));
        check(
            400,
            r#"{"errors":[{"code":"PUSH_TOO_MANY_EXPERIENCE_IDS","message":"ExpoPushToken[abc] and ExponentPushToken[def belong to different projects"}]}"#,
            refused("HTTP 400: PUSH_TOO_MANY_EXPERIENCE_IDS: ExpoPushToken[redacted] and ExponentPushToken[redacted]"),
        );
        check(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#, refused("HTTP 401: UNAUTHORIZED"));
        check(429, r#"{"errors":[{"message":"slow down"}]}"#, refused("HTTP 429: slow down"));
        check(500, r#"{}"#, refused("HTTP 500"));
        check(502, "Bad Gateway", refused("HTTP 502: the answer is not JSON"));
        check(302, r#"{"data":[{"status":"ok"}]}"#, refused("HTTP 302"));
    }

    #[test]
    fn token_redaction() {
        let cases = [
            ("", ""),
            ("plain text", "plain text"),
            ("ExponentPushToken[abc]", "ExponentPushToken[redacted]"),
            ("a ExpoPushToken[x] b ExponentPushToken[y] c", "a ExpoPushToken[redacted] b ExponentPushToken[redacted] c"),
            ("cut ExponentPushToken[abc", "cut ExponentPushToken[redacted]"),
            ("ExponentPushToken[]", "ExponentPushToken[redacted]"),
        ];
        for (text, expected) in cases {
            assert_eq!(redact_tokens(text), expected, "{text}");
        }
    }

    fn check_registration(body: &str, expected: Result<(&str, Platform), &str>) {
        let got = PushRegistration::parse(body.as_bytes())
            .map(|registration| (registration.token, registration.platform))
            .map_err(|error| {
                assert_eq!(error.code(), ErrorCode::InvalidRequest);
                error.body(Language::En)["field"].as_str().unwrap().to_owned()
            });
        assert_eq!(got, expected.map(|(token, platform)| (token.to_owned(), platform)).map_err(str::to_owned), "{body}");
    }

    #[test]
    fn registrations() {
        let token = "ExponentPushToken[xxxxxxxxxxxxxxxxxxxxxx]";
        check_registration(&format!(r#"{{"token":"{token}","platform":"ios"}}"#), Ok((token, Platform::Ios)));
        check_registration(&format!(r#"{{"token":"{token}","platform":"android","extra":1}}"#), Err("extra"));
        check_registration(&format!(r#"{{"token":"  {token}\n","platform":"web"}}"#), Err("token"));
        check_registration(&format!(r#"{{"token":"{}","platform":"ios"}}"#, "a".repeat(512)), Ok((&"a".repeat(512), Platform::Ios)));
        check_registration(&format!(r#"{{"token":"{}","platform":"ios"}}"#, "ş".repeat(10)), Err("token"));
        check_registration(r#"{"token":"fcm:APA91b-_x~!","platform":"android"}"#, Ok(("fcm:APA91b-_x~!", Platform::Android)));
        check_registration(r#"{"token":"x","platform":"ios"}"#, Ok(("x", Platform::Ios)));

        check_registration(&format!(r#"{{"token":"{}","platform":"ios"}}"#, "a".repeat(513)), Err("token"));
        check_registration(&format!(r#"{{"token":"{}","platform":"ios"}}"#, "a".repeat(600)), Err("token"));
        check_registration(r#"{"platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":null,"platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"   ","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"Exponent PushToken[x]","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"a\tb","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"a\u0000b","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"a\u00a0b","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"a\u200bb","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":"a\u007fb","platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":5,"platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":["x"],"platform":"ios"}"#, Err("token"));
        check_registration(r#"{"token":{"t":"x"},"platform":"ios"}"#, Err("token"));

        check_registration(r#"{"token":"x"}"#, Err("platform"));
        check_registration(r#"{"token":"x","platform":null}"#, Err("platform"));
        check_registration(r#"{"token":"x","platform":"symbian"}"#, Err("platform"));
        check_registration(r#"{"token":"x","platform":"iOS"}"#, Err("platform"));
        check_registration(r#"{"token":"x","platform":""}"#, Err("platform"));
        check_registration(r#"{"token":"x","platform":1}"#, Err("platform"));
        check_registration(r#"{"token":"x","platform":true}"#, Err("platform"));

        check_registration("", Err("body"));
        check_registration("token=x", Err("body"));
        check_registration("{", Err("body"));
        check_registration("[]", Err("body"));
        check_registration(r#""x""#, Err("body"));
        check_registration("null", Err("body"));
    }

    #[test]
    fn platforms_match_the_schema() {
        let migration = include_str!("../../../migrations/0007_create_push_tokens.sql");
        let listed: Vec<String> = Platform::ALL.iter().map(|platform| format!("'{platform}'")).collect();
        assert!(migration.contains(&format!("platform IN ({})", listed.join(", "))), "{listed:?}");
    }
}
