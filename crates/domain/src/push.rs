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
use crate::delivery::DeviceOutcome;
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

/// The most devices one user keeps: registering another evicts the least
/// recently registered (the trigger of migration 0015), and a ring reaches
/// at most this many. Every phone, tablet and browser a person plausibly has.
pub const MAX_DEVICES_PER_USER: usize = 20;

/// Expo takes at most 100 tokens in one send request
/// (<https://docs.expo.dev/push-notifications/sending-notifications/#request-errors>).
pub const EXPO_MAX_TOKENS_PER_REQUEST: usize = 100;

/// Receipt ids per getReceipts request: the limit Expo's own server SDK keeps
/// (`expo-server-sdk-node`, 300; Expo refuses a batch that is too large).
pub const EXPO_MAX_RECEIPT_IDS_PER_REQUEST: usize = 300;

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
    /// "<name> sizi arıyor"; left out when the caller has no name, so the
    /// notification shows the title alone and no word stands in for a name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// The keys every provider's ring carries (`call_push::incoming_call_payload`).
    pub data: Value,
    /// `high`: wakes the device (Android high priority, iOS priority 10).
    pub priority: &'static str,
    /// Seconds Expo and the platform keep trying to deliver; a ring that has
    /// timed out is not worth delivering.
    pub ttl: u32,
    pub sound: &'static str,
    pub channel_id: &'static str,
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

enum_str! {
    /// `push_tokens.kind`: which provider the token belongs to.
    pub enum PushKind {
        Expo = "expo",
        ApnsVoip = "apns_voip",
        Fcm = "fcm",
    }
}

impl PushKind {
    /// Whether a token of this kind can come from `platform`: PushKit is
    /// iOS only, FCM is Android's and the web's (the `push_tokens` CHECK).
    pub fn fits(self, platform: Platform) -> bool {
        match self {
            PushKind::Expo => true,
            PushKind::ApnsVoip => platform == Platform::Ios,
            PushKind::Fcm => matches!(platform, Platform::Android | Platform::Web),
        }
    }
}

/// `POST /push-token-register`: a device's push token.
#[derive(Clone, PartialEq, Eq)]
pub struct PushRegistration {
    /// Trimmed, 1..=512 characters, no whitespace or control characters.
    pub token: String,
    pub platform: Platform,
    /// `expo` when the request leaves it out (clients from before the kinds).
    pub kind: PushKind,
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
        Self {
            to: tokens.to_vec(),
            title: title.to_owned(),
            body: if caller_name.is_empty() { String::new() } else { format!("{caller_name} sizi arıyor") },
            data: crate::call_push::incoming_call_payload(call),
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
    expo_json_request(push_url, access_token, &message.to_json())
}

/// A POST of `body` to one of Expo's endpoints (send, getReceipts).
pub fn expo_json_request(url: &str, access_token: Option<&str>, body: &Value) -> OutgoingRequest {
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("accept".to_owned(), "application/json".to_owned()),
    ];
    if let Some(token) = access_token.map(str::trim).filter(|token| !token.is_empty()) {
        headers.push(("authorization".to_owned(), format!("Bearer {token}")));
    }
    OutgoingRequest { url: url.to_owned(), headers, body: body.to_string().into_bytes() }
}

/// Expo's data-only message (no title, no sound) that tells `tokens`'
/// app a ringing call has ended: `data` is the shared `call_ended` keys.
pub fn expo_data_message(tokens: &[String], data: Value, ttl_seconds: u32) -> Value {
    serde_json::json!({
        "to": tokens,
        "data": data,
        "priority": "high",
        "ttl": ttl_seconds,
        // Wakes the iOS app in the background for a message without an alert.
        "_contentAvailable": true,
    })
}

/// One Expo ticket, for the device at the same place in the message's `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpoTicket {
    pub outcome: DeviceOutcome,
    /// The id whose receipt may later say the device is gone.
    pub receipt_id: Option<String>,
}

/// Reads Expo's answer to a send to `devices` tokens, one ticket per token.
/// `DeviceNotRegistered` is Gone; an answer without one ticket per token
/// refuses every device with the reason [`classify_expo_answer`] gives.
pub fn expo_tickets(status: u16, body: &[u8], devices: usize) -> Vec<ExpoTicket> {
    let refuse_all = |reason: String| vec![ExpoTicket { outcome: DeviceOutcome::Refused(reason), receipt_id: None }; devices];
    let answer = serde_json::from_slice::<Value>(body).ok().filter(|_| (200..300).contains(&status));
    let tickets: Vec<&Value> = match answer.as_ref().and_then(|answer| answer.get("data")) {
        Some(Value::Array(tickets)) => tickets.iter().collect(),
        Some(ticket @ Value::Object(_)) => vec![ticket],
        _ => {
            return refuse_all(match classify_expo_answer(status, body) {
                PushOutcome::Refused(reason) | PushOutcome::NoAnswer(reason) => reason,
                PushOutcome::Accepted => "the answer has no tickets".to_owned(),
            })
        }
    };
    if tickets.len() != devices {
        return refuse_all(format!("{} tickets for {devices} devices", tickets.len()));
    }
    tickets.into_iter().map(ticket_outcome).collect()
}

fn ticket_outcome(ticket: &Value) -> ExpoTicket {
    let receipt_id = ticket.get("id").and_then(Value::as_str).map(str::to_owned);
    if ticket.get("status").and_then(Value::as_str) == Some("ok") {
        return ExpoTicket { outcome: DeviceOutcome::Delivered, receipt_id };
    }
    ExpoTicket { outcome: expo_error(ticket), receipt_id: None }
}

/// An error ticket or receipt: Gone for `DeviceNotRegistered`, else Refused.
fn expo_error(entry: &Value) -> DeviceOutcome {
    let text = expo_error_text(entry).unwrap_or_else(|| "no ticket was accepted".to_owned());
    match entry.pointer("/details/error").and_then(Value::as_str) {
        Some("DeviceNotRegistered") => DeviceOutcome::Gone(text),
        _ => DeviceOutcome::Refused(text),
    }
}

/// An error ticket's or receipt's words: `details.error`, then its message
/// (tokens redacted); `None` when it says neither.
fn expo_error_text(entry: &Value) -> Option<String> {
    let error = entry.pointer("/details/error").and_then(Value::as_str);
    let message = entry.get("message").and_then(Value::as_str).map(redact_tokens);
    match (error, message) {
        (Some(error), Some(message)) => Some(format!("{error}: {message}")),
        (Some(error), None) => Some(error.to_owned()),
        (None, Some(message)) => Some(message),
        (None, None) => None,
    }
}

/// Expo's receipts endpoint beside the send endpoint `push_url`.
pub fn expo_receipts_url(push_url: &str) -> String {
    match push_url.strip_suffix("/send") {
        Some(base) => format!("{base}/getReceipts"),
        None => format!("{}/getReceipts", push_url.trim_end_matches('/')),
    }
}

/// Reads Expo's `{"data": {"<id>": {"status": "ok"} | {"status": "error", ...}}}`:
/// the receipts that are ready, each Delivered, Gone or Refused. Ids missing
/// from the answer are not ready yet. `Err` when the answer is unusable.
pub fn expo_receipts(status: u16, body: &[u8]) -> Result<Vec<(String, DeviceOutcome)>, String> {
    let answer = serde_json::from_slice::<Value>(body).map_err(|_| format!("HTTP {status}: the answer is not JSON"))?;
    if !(200..300).contains(&status) {
        return Err(request_error(&answer).map_or_else(|| format!("HTTP {status}"), |error| format!("HTTP {status}: {error}")));
    }
    let Some(Value::Object(receipts)) = answer.get("data") else {
        return Err("the answer has no receipts".to_owned());
    };
    Ok(receipts
        .iter()
        .map(|(id, receipt)| {
            let outcome = if receipt.get("status").and_then(Value::as_str) == Some("ok") { DeviceOutcome::Delivered } else { expo_error(receipt) };
            (id.clone(), outcome)
        })
        .collect())
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
    let first_error = tickets.iter().find_map(|ticket| expo_error_text(ticket));
    PushOutcome::Refused(first_error.unwrap_or_else(|| "no ticket was accepted".to_owned()))
}

/// `POST /push-token-unregister`: a device's push token, to forget.
#[derive(Clone, PartialEq, Eq)]
pub struct PushUnregistration {
    /// As [`PushRegistration::token`].
    pub token: String,
}

impl PushUnregistration {
    /// `{"token": string}`, the token as it was registered.
    ///
    /// Errors: INVALID_REQUEST naming `body` or `token`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["token"])?;
        Ok(Self { token: device_token(&object)?.to_owned() })
    }
}

/// The `token` field: 1..=512 printable ASCII characters.
fn device_token(object: &serde_json::Map<String, Value>) -> Result<&str, ApiError> {
    let token = optional_str(object, "token")?.ok_or_else(|| invalid("token", "token is required"))?;
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
    Ok(token)
}

impl PushRegistration {
    /// `{"token": string, "platform": "ios" | "android" | "web",
    /// "kind"?: "expo" | "apns_voip" | "fcm"}`.
    ///
    /// Errors: INVALID_REQUEST naming `body`, `token`, `platform` or `kind`
    /// (unknown, or not a kind of that platform).
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["token", "platform", "kind"])?;
        let token = device_token(&object)?;
        let kind = match optional_str(&object, "kind")? {
            Some(text) => PushKind::parse(text).ok_or_else(|| invalid("kind", "kind must be expo, apns_voip or fcm"))?,
            None => PushKind::Expo,
        };
        // APNs and FCM tokens become part of a URL path or a JSON field as
        // they are: only their own alphabets, so a `/` or `?` cannot redirect a push.
        let alphabet_ok = match kind {
            PushKind::Expo => true,
            PushKind::ApnsVoip => token.len() % 2 == 0 && token.bytes().all(|byte| byte.is_ascii_hexdigit()),
            PushKind::Fcm => token.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_:.".contains(&byte)),
        };
        if !alphabet_ok {
            return Err(invalid("token", "an apns_voip token is hex, an fcm token letters, digits and -_:."));
        }
        let platform = match optional_str(&object, "platform")? {
            Some(text) => Platform::parse(text).ok_or_else(|| invalid("platform", "platform must be ios, android or web"))?,
            None => return Err(invalid("platform", "platform is required")),
        };
        if !kind.fits(platform) {
            return Err(invalid("kind", "apns_voip tokens come from ios, fcm tokens from android or web"));
        }
        Ok(Self { token: token.to_owned(), platform, kind })
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
        // Only the origin: an APNs path ends in the device token.
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        f.debug_struct("OutgoingRequest")
            .field("origin", &format_args!("{scheme}://{host}"))
            .field("headers", &names)
            .field("body", &format_args!("[{} bytes]", self.body.len()))
            .finish()
    }
}

impl fmt::Debug for PushUnregistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushUnregistration").field("token", &"[redacted]").finish()
    }
}

impl fmt::Debug for PushRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushRegistration")
            .field("token", &"[redacted]")
            .field("platform", &self.platform)
            .field("kind", &self.kind)
            .finish()
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
        let check = |call: IncomingCall, ttl: u32, title: &str, name: &str| {
            let message = PushMessage::incoming_call(&call, &tokens(&["ExponentPushToken[a]", "ExponentPushToken[b]"]), ttl);
            let mut expected = json!({
                "to": ["ExponentPushToken[a]", "ExponentPushToken[b]"],
                "title": title,
                "body": format!("{name} sizi arıyor"),
                "data": {"type": "incoming_call", "callId": CALL, "callerId": CALLER, "callerName": name, "callType": call.call_type.as_str()},
                "priority": "high",
                "ttl": ttl,
                "sound": "default",
                "channelId": "incoming-calls",
            });
            if name.is_empty() {
                // The title alone: no word stands in for a missing name.
                expected.as_object_mut().unwrap().remove("body");
            }
            assert_eq!(message.to_json(), expected, "{call:?}");
            // The same data every provider's ring carries.
            assert_eq!(message.data, crate::call_push::incoming_call_payload(&call));
        };
        check(call("Ayşe", CallType::Audio), 30, "Gelen arama", "Ayşe");
        check(call("Ayşe", CallType::Video), 30, "Gelen görüntülü arama", "Ayşe");
        check(call("  Mehmet Can \n", CallType::Audio), 45, "Gelen arama", "Mehmet Can");
        check(call("", CallType::Video), 1, "Gelen görüntülü arama", "");
        check(call(" \t ", CallType::Audio), 30, "Gelen arama", "");
    }

    #[test]
    fn debug_never_shows_tokens() {
        let message = PushMessage::incoming_call(&call("Ayşe", CallType::Audio), &tokens(&["ExponentPushToken[secret]"]), 30);
        let request = expo_request(DEFAULT_PUSH_URL, Some("expo-access"), &message);
        let registration = PushRegistration { token: "ExponentPushToken[secret]".into(), platform: Platform::Ios, kind: PushKind::Expo };
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
    fn expo_ticket_outcomes() {
        let gone = r#"{"status":"error","message":"\"ExponentPushToken[xyz]\" is not a registered push notification recipient","details":{"error":"DeviceNotRegistered"}}"#;
        let tickets = expo_tickets(200, format!(r#"{{"data":[{{"status":"ok","id":"r1"}},{gone},{{"status":"error","details":{{"error":"MessageRateExceeded"}}}}]}}"#).as_bytes(), 3);
        assert_eq!(tickets[0], ExpoTicket { outcome: DeviceOutcome::Delivered, receipt_id: Some("r1".into()) });
        assert!(matches!(&tickets[1].outcome, DeviceOutcome::Gone(text) if text.contains("[redacted]") && !text.contains("xyz")));
        assert_eq!(tickets[2].outcome, DeviceOutcome::Refused("MessageRateExceeded".into()));
        assert_eq!(expo_tickets(200, br#"{"data":{"status":"ok","id":"a"}}"#, 1)[0].receipt_id.as_deref(), Some("a"));
        let refused = |status: u16, body: &str, devices: usize, reason: &str| {
            let tickets = expo_tickets(status, body.as_bytes(), devices);
            assert_eq!(tickets.len(), devices, "{body}");
            assert!(tickets.iter().all(|ticket| ticket.outcome == DeviceOutcome::Refused(reason.into()) && ticket.receipt_id.is_none()), "{body}: {tickets:?}");
        };
        refused(200, r#"{"data":[{"status":"ok","id":"a"}]}"#, 2, "1 tickets for 2 devices");
        refused(500, r#"{}"#, 2, "HTTP 500");
        refused(429, r#"{"errors":[{"code":"RATE","message":"slow"}]}"#, 1, "HTTP 429: RATE: slow");
        refused(200, "<html>", 1, "HTTP 200: the answer is not JSON");
        refused(200, "{}", 1, "the answer has no tickets");
    }

    #[test]
    fn expo_receipt_outcomes() {
        let body = br#"{"data":{"a":{"status":"ok"},"b":{"status":"error","details":{"error":"DeviceNotRegistered"}},"c":{"status":"error","message":"x"}}}"#;
        let mut got = expo_receipts(200, body).unwrap();
        got.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            got,
            vec![
                ("a".into(), DeviceOutcome::Delivered),
                ("b".into(), DeviceOutcome::Gone("DeviceNotRegistered".into())),
                ("c".into(), DeviceOutcome::Refused("x".into())),
            ]
        );
        assert_eq!(expo_receipts(200, br#"{"data":{}}"#), Ok(vec![]));
        assert_eq!(expo_receipts(200, b"{}"), Err("the answer has no receipts".into()));
        assert_eq!(expo_receipts(503, b"{}"), Err("HTTP 503".into()));
        assert_eq!(expo_receipts(200, b"nope"), Err("HTTP 200: the answer is not JSON".into()));
        assert_eq!(expo_receipts_url("https://exp.host/--/api/v2/push/send"), "https://exp.host/--/api/v2/push/getReceipts");
    }

    #[test]
    fn expo_stop_messages() {
        let data = serde_json::json!({"type": "call_ended", "callId": CALL, "status": "accepted"});
        assert_eq!(
            expo_data_message(&tokens(&["ExponentPushToken[a]"]), data.clone(), 30),
            json!({"to": ["ExponentPushToken[a]"], "data": data, "priority": "high", "ttl": 30, "_contentAvailable": true})
        );
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
            .map(|registration| {
                assert_eq!(registration.kind, PushKind::Expo, "{body}");
                (registration.token, registration.platform)
            })
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
    fn unregistrations() {
        let field = |body: &str| {
            PushUnregistration::parse(body.as_bytes()).map(|unregistration| unregistration.token).map_err(|error| {
                assert_eq!(error.code(), ErrorCode::InvalidRequest);
                error.body(Language::En)["field"].as_str().unwrap().to_owned()
            })
        };
        assert_eq!(field(r#"{"token":"ExponentPushToken[x]"}"#), Ok("ExponentPushToken[x]".to_owned()));
        assert_eq!(field(&format!(r#"{{"token":"{}"}}"#, "a".repeat(512))), Ok("a".repeat(512)));
        for (body, expected) in [
            (r#"{"token":"x","platform":"ios"}"#, "platform"),
            (r#"{}"#, "token"),
            (r#"{"token":""}"#, "token"),
            (r#"{"token":" x"}"#, "token"),
            (r#"{"token":5}"#, "token"),
            ("", "body"),
            ("[]", "body"),
        ] {
            assert_eq!(field(body), Err(expected.to_owned()), "{body}");
        }
        assert_eq!(field(&format!(r#"{{"token":"{}"}}"#, "a".repeat(513))), Err("token".to_owned()));
        let text = format!("{:?}", PushUnregistration::parse(br#"{"token":"ExponentPushToken[secret]"}"#).unwrap());
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn registration_kinds() {
        let parse = |platform: &str, kind: &str| {
            PushRegistration::parse(format!(r#"{{"token":"ab12","platform":"{platform}","kind":{kind}}}"#).as_bytes())
                .map(|registration| registration.kind)
                .map_err(|error| error.body(Language::En)["field"].as_str().unwrap().to_owned())
        };
        assert_eq!(parse("ios", r#""expo""#), Ok(PushKind::Expo));
        assert_eq!(parse("ios", r#""apns_voip""#), Ok(PushKind::ApnsVoip));
        assert_eq!(parse("android", r#""fcm""#), Ok(PushKind::Fcm));
        assert_eq!(parse("web", r#""fcm""#), Ok(PushKind::Fcm));
        assert_eq!(parse("android", r#""expo""#), Ok(PushKind::Expo));
        for (platform, kind) in [
            ("android", r#""apns_voip""#),
            ("web", r#""apns_voip""#),
            ("ios", r#""fcm""#),
            ("ios", r#""apns""#),
            ("ios", r#""VOIP""#),
            ("ios", r#""""#),
            ("ios", "null"),
            ("ios", "1"),
            ("ios", r#"["fcm"]"#),
        ] {
            assert_eq!(parse(platform, kind), Err("kind".to_owned()), "{platform} {kind}");
        }
    }

    #[test]
    fn provider_token_alphabets() {
        let field = |body: &str| PushRegistration::parse(body.as_bytes()).err().map(|error| error.body(Language::En)["field"].as_str().unwrap().to_owned());
        assert_eq!(field(r#"{"token":"0a1B2c3D","platform":"ios","kind":"apns_voip"}"#), None);
        assert_eq!(field(r#"{"token":"fMx:APA91b-_.x","platform":"android","kind":"fcm"}"#), None);
        for body in [
            r#"{"token":"0a1b2","platform":"ios","kind":"apns_voip"}"#,
            r#"{"token":"0a/../x","platform":"ios","kind":"apns_voip"}"#,
            r#"{"token":"ab?cd=","platform":"ios","kind":"apns_voip"}"#,
            r#"{"token":"a/b","platform":"android","kind":"fcm"}"#,
            r#"{"token":"a\"b","platform":"android","kind":"fcm"}"#,
        ] {
            assert_eq!(field(body), Some("token".to_owned()), "{body}");
        }
    }

    #[test]
    fn kinds_match_the_schema() {
        let migration = include_str!("../../../migrations/0013_add_push_kinds_and_stop_ringing.sql");
        let listed: Vec<String> = PushKind::ALL.iter().map(|kind| format!("'{kind}'")).collect();
        assert!(migration.contains(&format!("kind IN ({})", listed.join(", "))), "{listed:?}");
    }

    #[test]
    fn the_device_cap_matches_the_schema() {
        let migration = include_str!("../../../migrations/0015_cap_push_devices.sql");
        assert!(migration.contains(&format!("OFFSET {}", MAX_DEVICES_PER_USER - 1)), "the eviction keeps the new token and 19 others");
        assert!(migration.contains(&format!("LIMIT {MAX_DEVICES_PER_USER}")), "a ring records at most the cap");
    }

    #[test]
    fn platforms_match_the_schema() {
        let migration = include_str!("../../../migrations/0007_create_push_tokens.sql");
        let listed: Vec<String> = Platform::ALL.iter().map(|platform| format!("'{platform}'")).collect();
        assert!(migration.contains(&format!("platform IN ({})", listed.join(", "))), "{listed:?}");
    }
}
