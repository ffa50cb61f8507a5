//! LiveKit's RoomService over Twirp JSON, behind a small transport trait.
//!
//! Twirp: `POST {api}/twirp/livekit.RoomService/<Method>` with a JSON body and
//! `Authorization: Bearer <server token>`; errors are JSON
//! `{"code": "not_found", "msg": ...}` with an HTTP status
//! (<https://twitchtv.github.io/twirp/docs/spec_v7.html>). The client owns no
//! socket and no clock: the transport sends and sleeps, the caller gives jitter.

use std::time::Duration;

use serde_json::{json, Value};

use crate::livekit_token::{ApiKeys, MintError, TokenSpec, VideoGrant};

/// Server tokens live only as long as one call needs.
const SERVER_TOKEN_TTL_SECONDS: u64 = 600;

/// One Twirp request, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct TwirpRequest {
    pub method: &'static str,
    pub url: String,
    /// `Bearer <token>`.
    pub authorization: String,
    pub body: Vec<u8>,
}

/// What the transport reports: an HTTP answer, or no answer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportResult {
    Answered { status: u16, body: Vec<u8> },
    /// Connection refused, reset, DNS, or the timeout passed.
    NoAnswer(String),
}

/// Sends requests and waits; implemented over Spin's outbound HTTP.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends `request`, giving up after `timeout`.
    async fn send(&self, request: &TwirpRequest, timeout: Duration) -> TransportResult;
    /// Waits `duration` before a retry.
    async fn sleep(&self, duration: Duration);
    /// A number in `[0, 1)` for backoff jitter.
    fn jitter(&self) -> f64;
}

/// How hard to try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Attempts in all, at least 1.
    pub attempts: u32,
    pub timeout: Duration,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// Why a RoomService call failed for good.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomServiceError {
    #[error("LiveKit did not answer after {attempts} attempts: {last}")]
    Unreachable { attempts: u32, last: String },
    #[error("LiveKit refused the request ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("LiveKit's answer is not JSON")]
    BadAnswer,
    #[error("cannot sign the server token: {0}")]
    Token(#[from] MintError),
}

/// The RoomService client for one LiveKit deployment.
#[derive(Clone, Debug)]
pub struct RoomService {
    api_url: String,
    keys: ApiKeys,
}

impl Default for RetrySchedule {
    /// Three attempts, 15 s each, backoff from 200 ms up to 2 s.
    fn default() -> Self {
        Self { attempts: 3, timeout: Duration::from_secs(15), base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(2) }
    }
}

impl RetrySchedule {
    /// The wait before retry number `retry` (1-based): full jitter over an
    /// exponentially growing cap, so many clients do not retry in step.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let exponent = retry.saturating_sub(1).min(16);
        let cap = self.base_delay.saturating_mul(1 << exponent).min(self.max_delay);
        cap.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

impl RoomService {
    /// `api_url` is LiveKit's HTTP(S) base, e.g. `https://lk.example.com`.
    pub fn new(api_url: &str, keys: ApiKeys) -> Self {
        Self { api_url: api_url.trim_end_matches('/').to_owned(), keys }
    }

    /// `DeleteRoom`: needs `roomCreate`. A room that no longer exists counts as deleted.
    pub fn delete_room_request(&self, room: &str, now: u64) -> Result<TwirpRequest, MintError> {
        self.request("DeleteRoom", VideoGrant::room_admin(room), json!({ "room": room }), now)
    }

    /// `ListRooms` for the given names: needs `roomList`.
    pub fn list_rooms_request(&self, names: &[String], now: u64) -> Result<TwirpRequest, MintError> {
        self.request("ListRooms", VideoGrant::room_list(), json!({ "names": names }), now)
    }

    /// `ListParticipants` of `room`: needs `roomAdmin` + `room`. A room
    /// LiveKit does not know has no participants.
    pub fn list_participants_request(&self, room: &str, now: u64) -> Result<TwirpRequest, MintError> {
        self.request("ListParticipants", VideoGrant::room_admin(room), json!({ "room": room }), now)
    }

    /// `SendData` to everyone in `room` on `topic`: needs `roomAdmin` + `room`.
    pub fn send_data_request(&self, room: &str, topic: &str, payload: &[u8], now: u64) -> Result<TwirpRequest, MintError> {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(payload);
        // Kind 0 is RELIABLE in LiveKit's DataPacket.Kind.
        let body = json!({ "room": room, "data": data, "kind": 0, "topic": topic });
        self.request("SendData", VideoGrant::room_admin(room), body, now)
    }

    fn request(&self, method: &'static str, grant: VideoGrant, body: Value, now: u64) -> Result<TwirpRequest, MintError> {
        let spec = TokenSpec { identity: String::new(), name: String::new(), metadata: String::new(), grant, ttl_seconds: SERVER_TOKEN_TTL_SECONDS };
        let token = self.keys.mint(&spec, now)?;
        Ok(TwirpRequest {
            method,
            url: format!("{}/twirp/livekit.RoomService/{method}", self.api_url),
            authorization: format!("Bearer {}", token.token),
            body: body.to_string().into_bytes(),
        })
    }
}

/// Sends `request` with retries for what retrying can fix (no answer, 5xx,
/// 429) and none for other refusals. Returns the answer's JSON.
pub async fn call(transport: &impl Transport, request: &TwirpRequest, schedule: RetrySchedule) -> Result<Value, RoomServiceError> {
    let attempts = schedule.attempts.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        if attempt > 1 {
            transport.sleep(schedule.delay(attempt - 1, transport.jitter())).await;
        }
        match transport.send(request, schedule.timeout).await {
            TransportResult::Answered { status, body } if (200..300).contains(&status) => {
                return if body.is_empty() { Ok(json!({})) } else { serde_json::from_slice(&body).map_err(|_| RoomServiceError::BadAnswer) };
            }
            TransportResult::Answered { status, body } => {
                let (code, message) = twirp_error(&body);
                if request.method == "DeleteRoom" && (status == 404 || code == "not_found") {
                    return Ok(json!({}));
                }
                // Only LiveKit's own `not_found` (not a proxy's bare 404, not
                // Twirp's `bad_route`) says the room is not there.
                if request.method == "ListParticipants" && code == "not_found" {
                    return Ok(json!({ "participants": [] }));
                }
                if status == 429 || status >= 500 {
                    last = format!("{status} {code} {message}");
                    continue;
                }
                return Err(RoomServiceError::Refused { status, message: format!("{code} {message}").trim().to_owned() });
            }
            TransportResult::NoAnswer(reason) => last = reason,
        }
    }
    Err(RoomServiceError::Unreachable { attempts, last })
}

fn twirp_error(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| value.get(name).and_then(Value::as_str).unwrap_or("").to_owned();
    (field("code"), field("msg"))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    struct Script {
        answers: RefCell<Vec<TransportResult>>,
        sent: RefCell<u32>,
        slept: RefCell<Vec<Duration>>,
    }

    impl Transport for Script {
        async fn send(&self, _request: &TwirpRequest, _timeout: Duration) -> TransportResult {
            *self.sent.borrow_mut() += 1;
            self.answers.borrow_mut().remove(0)
        }
        async fn sleep(&self, duration: Duration) {
            self.slept.borrow_mut().push(duration);
        }
        fn jitter(&self) -> f64 {
            0.5
        }
    }

    fn answered(status: u16, body: &str) -> TransportResult {
        TransportResult::Answered { status, body: body.as_bytes().to_vec() }
    }

    fn run(method: &'static str, answers: Vec<TransportResult>) -> (Result<Value, RoomServiceError>, u32, Vec<Duration>) {
        let script = Script { answers: RefCell::new(answers), sent: RefCell::new(0), slept: RefCell::new(Vec::new()) };
        let request = TwirpRequest { method, url: String::new(), authorization: String::new(), body: Vec::new() };
        let result = block_on(call(&script, &request, RetrySchedule::default()));
        (result, script.sent.into_inner(), script.slept.into_inner())
    }

    #[test]
    fn retries_only_what_retrying_can_fix() {
        let (result, sent, slept) = run("DeleteRoom", vec![TransportResult::NoAnswer("refused".into()), answered(503, ""), answered(200, "{}")]);
        assert_eq!((result, sent), (Ok(json!({})), 3));
        assert_eq!(slept, vec![Duration::from_millis(100), Duration::from_millis(200)]);

        let (result, sent, _) = run("ListRooms", vec![answered(401, r#"{"code":"unauthenticated","msg":"bad token"}"#)]);
        assert_eq!(sent, 1);
        assert_eq!(result, Err(RoomServiceError::Refused { status: 401, message: "unauthenticated bad token".into() }));

        let (result, sent, _) = run("ListRooms", vec![answered(500, ""), answered(429, ""), answered(502, "")]);
        assert_eq!(sent, 3);
        assert!(matches!(result, Err(RoomServiceError::Unreachable { attempts: 3, .. })));
    }

    #[test]
    fn deleting_a_missing_room_is_done() {
        assert_eq!(run("DeleteRoom", vec![answered(404, r#"{"code":"not_found","msg":"room not found"}"#)]).0, Ok(json!({})));
        assert!(run("SendData", vec![answered(404, r#"{"code":"not_found"}"#)]).0.is_err());
    }

    #[test]
    fn a_room_livekit_does_not_know_has_no_participants() {
        let not_found = answered(404, r#"{"code":"not_found","msg":"room not found"}"#);
        assert_eq!(run("ListParticipants", vec![not_found]).0, Ok(json!({"participants": []})));
        // A 404 that is not LiveKit's word on the room proves nothing.
        assert!(matches!(run("ListParticipants", vec![answered(404, "not json")]).0, Err(RoomServiceError::Refused { status: 404, .. })));
        assert!(run("ListParticipants", vec![answered(404, r#"{"code":"bad_route"}"#)]).0.is_err());
        let (result, sent, _) = run("ListParticipants", vec![answered(503, ""), answered(503, ""), answered(503, "")]);
        assert!(matches!(result, Err(RoomServiceError::Unreachable { attempts: 3, .. })) && sent == 3);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(schedule.delay(2, 1.0), Duration::from_millis(400));
        assert_eq!(schedule.delay(10, 1.0), Duration::from_secs(2));
        assert_eq!(schedule.delay(3, 0.0), Duration::ZERO);
    }

    #[test]
    fn requests_carry_the_grants_livekit_checks() {
        let service = RoomService::new("http://lk:7880/", ApiKeys::new("devkey", "secret"));
        let request = service.delete_room_request("live_1", 1_800_000_000).unwrap();
        assert_eq!(request.url, "http://lk:7880/twirp/livekit.RoomService/DeleteRoom");
        assert_eq!(request.body, br#"{"room":"live_1"}"#);
        let token = request.authorization.strip_prefix("Bearer ").unwrap();
        let claims: Value = serde_json::from_slice(&crate::hs256::verify(token, b"secret").unwrap()).unwrap();
        assert_eq!(claims["video"]["roomCreate"], true);
        let list = service.list_rooms_request(&["a".into(), "b".into()], 1_800_000_000).unwrap();
        assert_eq!(list.body, br#"{"names":["a","b"]}"#);
        let participants = service.list_participants_request("call_1", 1_800_000_000).unwrap();
        assert_eq!(participants.url, "http://lk:7880/twirp/livekit.RoomService/ListParticipants");
        assert_eq!(participants.body, br#"{"room":"call_1"}"#);
        let token = participants.authorization.strip_prefix("Bearer ").unwrap();
        let claims: Value = serde_json::from_slice(&crate::hs256::verify(token, b"secret").unwrap()).unwrap();
        assert_eq!((claims["video"]["roomAdmin"].as_bool(), claims["video"]["room"].as_str()), (Some(true), Some("call_1")));
    }

    /// The futures here never wait: poll once.
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        let mut future = std::pin::pin!(future);
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("scripted transport never waits"),
        }
    }
}
