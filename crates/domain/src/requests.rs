//! Request bodies: strict decoding into domain types.
//!
//! Every failure is INVALID_REQUEST with a `field` and an English `details`
//! for the app's developers. The decoding is exactly what `openapi.yaml`
//! says: an unknown field is refused (a misspelt `callType` must not quietly
//! become an audio call), and `null` is a wrong type except where the
//! document allows it (`title`).

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::call::{CallAction, CallType};
use crate::errors::{ApiError, ErrorCode};
use crate::session::{SessionAccess, SessionType, MAX_PRICE_COINS};

/// The largest request body any JSON endpoint reads.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What `POST /get-livekit-token` asks a token for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenTarget {
    Session(Uuid),
    Call(Uuid),
}

/// `POST /live-session-start`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartSession {
    pub session_type: SessionType,
    pub access: SessionAccess,
    pub price_coins: i64,
    pub title: Option<String>,
}

/// `POST /live-session-end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EndSession {
    pub session_id: Uuid,
}

/// `POST /call-initiate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitiateCall {
    pub callee_id: Uuid,
    pub call_type: CallType,
}

/// `POST /call-action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActOnCall {
    pub call_id: Uuid,
    pub action: CallAction,
}

const MAX_TITLE_CHARS: usize = 200;

/// The fields a body may carry; any other is refused, naming it.
pub fn only_fields(object: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match object.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(unknown) => Err(invalid(unknown, &format!("unknown field {unknown}; this body takes {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// An INVALID_REQUEST naming the offending field.
pub fn invalid(field: &str, details: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest).with_field("field", field).with_field("details", details)
}

/// The body as a JSON object, or INVALID_REQUEST.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(invalid("body", "body too large"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(invalid("body", "body must be a JSON object")),
        Err(_) => Err(invalid("body", "body is not valid JSON")),
    }
}

impl TokenTarget {
    /// `{"sessionId": uuid}` or `{"callId": uuid}`: exactly one of them.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["sessionId", "callId"])?;
        let session = optional_uuid(&object, "sessionId")?;
        let call = optional_uuid(&object, "callId")?;
        match (session, call) {
            (Some(id), None) => Ok(Self::Session(id)),
            (None, Some(id)) => Ok(Self::Call(id)),
            (Some(_), Some(_)) => Err(invalid("sessionId", "send either sessionId or callId, not both")),
            (None, None) => Err(invalid("sessionId", "sessionId or callId is required")),
        }
    }
}

impl StartSession {
    /// `{"type", "access"?, "priceCoins"?, "title"?}`; `access` defaults to `public`;
    /// `priceCoins` is required (1..=1,000,000) for `paid` and absent otherwise;
    /// `title` may be `null`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["type", "access", "priceCoins", "title"])?;
        let session_type = match optional_str(&object, "type")? {
            Some(text) => SessionType::parse(text).ok_or_else(|| invalid("type", "type must be video_live or audio_live"))?,
            None => return Err(invalid("type", "type is required")),
        };
        let access = match optional_str(&object, "access")? {
            Some(text) => SessionAccess::parse(text).ok_or_else(|| invalid("access", "access must be public, subscribers or paid"))?,
            None => SessionAccess::Public,
        };
        let price_coins = match (access, object.get("priceCoins")) {
            (SessionAccess::Paid, None) => return Err(invalid("priceCoins", "a paid session needs priceCoins")),
            (SessionAccess::Paid, Some(value)) => match integer(value) {
                Some(price) if (1..=MAX_PRICE_COINS).contains(&price) => price,
                _ => return Err(invalid("priceCoins", "a paid session needs priceCoins between 1 and 1000000")),
            },
            (_, Some(_)) => return Err(invalid("priceCoins", "priceCoins is only for paid sessions")),
            (_, None) => 0,
        };
        let title = match object.get("title") {
            Some(Value::Null) => None,
            _ => optional_str(&object, "title")?,
        };
        let title = match title {
            Some(text) if text.chars().count() > MAX_TITLE_CHARS => {
                return Err(invalid("title", "title is longer than 200 characters"));
            }
            Some(text) if text.chars().any(char::is_control) => {
                return Err(invalid("title", "title contains control characters"));
            }
            Some(text) => Some(text.trim().to_owned()).filter(|t| !t.is_empty()),
            None => None,
        };
        Ok(Self { session_type, access, price_coins, title })
    }
}

impl EndSession {
    /// `{"sessionId": uuid}`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["sessionId"])?;
        let session_id = optional_uuid(&object, "sessionId")?.ok_or_else(|| invalid("sessionId", "sessionId is required"))?;
        Ok(Self { session_id })
    }
}

impl InitiateCall {
    /// `{"calleeId": uuid, "callType": "audio"|"video"}`; `callType` defaults to `audio`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["calleeId", "callType"])?;
        let callee_id = optional_uuid(&object, "calleeId")?.ok_or_else(|| invalid("calleeId", "calleeId is required"))?;
        let call_type = match optional_str(&object, "callType")? {
            Some(text) => CallType::parse(text).ok_or_else(|| invalid("callType", "callType must be audio or video"))?,
            None => CallType::Audio,
        };
        Ok(Self { callee_id, call_type })
    }
}

impl ActOnCall {
    /// `{"callId": uuid, "action": "accept"|"reject"|"cancel"|"end"}`.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let object = json_object(body)?;
        only_fields(&object, &["callId", "action"])?;
        let call_id = optional_uuid(&object, "callId")?.ok_or_else(|| invalid("callId", "callId is required"))?;
        let action = match optional_str(&object, "action")? {
            Some(text) => CallAction::parse(text).ok_or_else(|| invalid("action", "action must be accept, reject, cancel or end"))?,
            None => return Err(invalid("action", "action is required")),
        };
        Ok(Self { call_id, action })
    }
}

/// `call-initiate`'s `Idempotency-Key` header: absent is `None`; present, it
/// must be a uuid in its hyphenated form (any case), else INVALID_REQUEST
/// naming the header.
pub fn idempotency_key(header: Option<&[u8]>) -> Result<Option<Uuid>, ApiError> {
    let Some(bytes) = header else {
        return Ok(None);
    };
    let refused = || invalid("Idempotency-Key", "Idempotency-Key must be a uuid");
    let text = std::str::from_utf8(bytes).map_err(|_| refused())?;
    if text.len() != 36 {
        return Err(refused());
    }
    Uuid::try_parse(text).map(Some).map_err(|_| refused())
}

/// A JSON Schema `integer`: `150` and `150.0` alike, nothing fractional.
fn integer(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| {
        let float = value.as_f64()?;
        // Exactly representable: the bounds callers check are far below 2^53.
        (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
    })
}

/// A string field; absent is `None`, any other type (`null` too) is an error.
pub fn optional_str<'a>(object: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(invalid(field, &format!("{field} must be a string"))),
    }
}

/// A uuid field in its canonical hyphenated form.
pub fn optional_uuid(object: &Map<String, Value>, field: &str) -> Result<Option<Uuid>, ApiError> {
    let Some(text) = optional_str(object, field)? else {
        return Ok(None);
    };
    // Only the 36-character hyphenated form: the app always sends it, and one
    // spelling per id keeps logs and room names greppable.
    if text.len() != 36 {
        return Err(invalid(field, &format!("{field} must be a uuid")));
    }
    Uuid::try_parse(text).map(Some).map_err(|_| invalid(field, &format!("{field} must be a uuid")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a";

    fn check_target(body: &str, expected: Result<TokenTarget, &str>) {
        let got = TokenTarget::parse(body.as_bytes()).map_err(|e| {
            assert_eq!(e.code(), ErrorCode::InvalidRequest);
            e.body(crate::errors::Language::En)["field"].as_str().unwrap().to_owned()
        });
        assert_eq!(got, expected.map_err(str::to_owned), "{body}");
    }

    #[test]
    fn idempotency_keys() {
        let id = Uuid::parse_str(ID).unwrap();
        assert_eq!(idempotency_key(None), Ok(None));
        assert_eq!(idempotency_key(Some(ID.as_bytes())), Ok(Some(id)));
        assert_eq!(idempotency_key(Some(ID.to_uppercase().as_bytes())), Ok(Some(id)));
        for refused in ["", "abc", "0b7e6a523f434a8e9d555f0d3c3e1c2a", "{0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a}", "0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2g"] {
            let error = idempotency_key(Some(refused.as_bytes())).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidRequest, "{refused}");
            assert_eq!(error.body(crate::errors::Language::En)["field"], "Idempotency-Key", "{refused}");
        }
        assert!(idempotency_key(Some(&[0xff; 36])).is_err());
    }

    #[test]
    fn token_targets() {
        let id = Uuid::parse_str(ID).unwrap();
        check_target(&format!(r#"{{"sessionId":"{ID}"}}"#), Ok(TokenTarget::Session(id)));
        check_target(&format!(r#"{{"callId":"{ID}"}}"#), Ok(TokenTarget::Call(id)));
        check_target(&format!(r#"{{"callId":"{ID}","extra":1}}"#), Err("extra"));
        check_target(&format!(r#"{{"callId":"{ID}","sessionId":null}}"#), Err("sessionId"));
        check_target(&format!(r#"{{"callId":"{ID}","sessionId":"{ID}"}}"#), Err("sessionId"));
        check_target("{}", Err("sessionId"));
        check_target("", Err("body"));
        check_target("{", Err("body"));
        check_target("[]", Err("body"));
        check_target("null", Err("body"));
        check_target(r#"{"sessionId": 5}"#, Err("sessionId"));
        check_target(r#"{"sessionId": ["x"]}"#, Err("sessionId"));
        check_target(r#"{"sessionId": "not-a-uuid"}"#, Err("sessionId"));
        check_target(r#"{"callId": "0b7e6a523f434a8e9d555f0d3c3e1c2a"}"#, Err("callId"));
        check_target(r#"{"callId": "{0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a}"}"#, Err("callId"));
        let big = format!(r#"{{"sessionId":"{ID}","pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
        check_target(&big, Err("body"));
        assert!(TokenTarget::parse(b"\xff\xfe").is_err());
    }

    #[test]
    fn start_session() {
        let parse = |s: &str| StartSession::parse(s.as_bytes());
        let ok = parse(r#"{"type":"video_live"}"#).unwrap();
        assert_eq!((ok.session_type, ok.access, ok.price_coins, ok.title), (SessionType::VideoLive, SessionAccess::Public, 0, None));
        let paid = parse(r#"{"type":"audio_live","access":"paid","priceCoins":150,"title":"  Akşam  "}"#).unwrap();
        assert_eq!((paid.access, paid.price_coins, paid.title.as_deref()), (SessionAccess::Paid, 150, Some("Akşam")));
        assert_eq!(parse(r#"{"type":"audio_live","access":"paid","priceCoins":150.0}"#).unwrap().price_coins, 150);
        assert_eq!(parse(r#"{"type":"audio_live","title":null}"#).unwrap().title, None);
        for bad in [
            r#"{}"#,
            r#"{"type":"radio"}"#,
            r#"{"type":1}"#,
            r#"{"type":"video_live","access":"friends"}"#,
            r#"{"type":"video_live","access":"paid"}"#,
            r#"{"type":"video_live","access":"paid","priceCoins":0}"#,
            r#"{"type":"video_live","access":"paid","priceCoins":1.5}"#,
            r#"{"type":"video_live","access":"paid","priceCoins":"10"}"#,
            r#"{"type":"video_live","access":"paid","priceCoins":1000001}"#,
            r#"{"type":"video_live","priceCoins":10}"#,
            r#"{"type":"video_live","priceCoins":0}"#,
            r#"{"type":"video_live","access":"public","priceCoins":null}"#,
            r#"{"type":"video_live","access":"paid","priceCoins":null}"#,
            r#"{"type":"video_live","access":null}"#,
            r#"{"type":"video_live","Title":"x"}"#,
            r#"{"type":"video_live","title":5}"#,
            r#"{"type":"video_live","title":"a\u0000b"}"#,
        ] {
            assert_eq!(parse(bad).unwrap_err().code(), ErrorCode::InvalidRequest, "{bad}");
        }
        assert!(parse(&format!(r#"{{"type":"video_live","title":"{}"}}"#, "ş".repeat(201))).is_err());
        assert!(parse(&format!(r#"{{"type":"video_live","title":"{}"}}"#, "ş".repeat(200))).is_ok());
    }

    #[test]
    fn calls() {
        let ok = InitiateCall::parse(format!(r#"{{"calleeId":"{ID}","callType":"video"}}"#).as_bytes()).unwrap();
        assert_eq!(ok.call_type, CallType::Video);
        assert_eq!(InitiateCall::parse(format!(r#"{{"calleeId":"{ID}"}}"#).as_bytes()).unwrap().call_type, CallType::Audio);
        for bad in [
            r#"{}"#.to_owned(),
            format!(r#"{{"calleeId":"{ID}","callType":"fax"}}"#),
            format!(r#"{{"calleeId":"{ID}","calltype":"video"}}"#),
            format!(r#"{{"calleeId":"{ID}","callType":null}}"#),
            r#"{"calleeId":1}"#.to_owned(),
        ] {
            assert!(InitiateCall::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let act = ActOnCall::parse(format!(r#"{{"callId":"{ID}","action":"end"}}"#).as_bytes()).unwrap();
        assert_eq!(act.action, CallAction::End);
        for bad in [
            format!(r#"{{"callId":"{ID}"}}"#),
            format!(r#"{{"callId":"{ID}","action":"END"}}"#),
            format!(r#"{{"callId":"{ID}","action":"end","reason":"x"}}"#),
            r#"{"action":"end"}"#.to_owned(),
        ] {
            assert!(ActOnCall::parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn end_session() {
        assert!(EndSession::parse(format!(r#"{{"sessionId":"{ID}"}}"#).as_bytes()).is_ok());
        assert!(EndSession::parse(br#"{"sessionId":""}"#).is_err());
        assert!(EndSession::parse(br#"{}"#).is_err());
        assert!(EndSession::parse(br#"{"sessionId":null}"#).is_err());
        assert!(EndSession::parse(format!(r#"{{"sessionId":"{ID}","force":true}}"#).as_bytes()).is_err());
    }
}
