//! LiveKit webhook bodies and signatures, made the way LiveKit makes them:
//! protobuf JSON (int64 as strings, enum names) signed by the official
//! `livekit-api` token code with the body's SHA-256.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use livekit_api::access_token::AccessToken;
use serde_json::{json, Value};

use crate::app::{LIVEKIT_KEY, LIVEKIT_SECRET};

/// The `Authorization` value LiveKit sends for `body`: a bare JWT.
pub fn sign(body: &str) -> String {
    sign_with(body, LIVEKIT_KEY, LIVEKIT_SECRET)
}

/// As [`sign`], with other keys (for forgeries).
pub fn sign_with(body: &str, key: &str, secret: &str) -> String {
    let digest = STANDARD.encode(hmac_sha256::Hash::hash(body.as_bytes()));
    AccessToken::with_api_key(key, secret)
        .with_sha256(&digest)
        .with_ttl(std::time::Duration::from_secs(300))
        .to_jwt()
        .expect("signing a webhook")
}

/// A participant event (`participant_joined`, `participant_left`,
/// `participant_connection_aborted`) as LiveKit's protojson writes it.
pub fn participant(id: &str, event: &str, room: &str, identity: &str, created_at: u64, disconnect_reason: Option<&str>) -> String {
    let mut participant = json!({
        "sid": format!("PA_{identity}"),
        "identity": identity,
        "state": if event == "participant_joined" { "ACTIVE" } else { "DISCONNECTED" },
        "joinedAt": (created_at.saturating_sub(5)).to_string(),
        "name": identity,
        "version": 3,
        "permission": { "canSubscribe": true, "canPublish": true, "canPublishData": true },
        "isPublisher": false,
    });
    if let Some(reason) = disconnect_reason {
        participant["disconnectReason"] = json!(reason);
    }
    envelope(id, event, room, created_at, json!({ "participant": participant }))
}

/// A `track_published` / `track_unpublished` event.
pub fn track(id: &str, event: &str, room: &str, identity: &str, track_sid: &str, kind: &str, created_at: u64) -> String {
    let extra = json!({
        "participant": { "sid": format!("PA_{identity}"), "identity": identity, "state": "ACTIVE" },
        "track": { "sid": track_sid, "type": kind, "source": if kind == "AUDIO" { "MICROPHONE" } else { "CAMERA" }, "name": "" },
    });
    envelope(id, event, room, created_at, extra)
}

/// `room_finished` (or any event with only a room).
pub fn room(id: &str, event: &str, room: &str, created_at: u64) -> String {
    envelope(id, event, room, created_at, json!({}))
}

fn envelope(id: &str, event: &str, room: &str, created_at: u64, extra: Value) -> String {
    let mut body = json!({
        "event": event,
        "room": { "sid": format!("RM_{room}"), "name": room, "emptyTimeout": 300, "creationTime": (created_at - 60).to_string(), "numParticipants": 1 },
        "id": id,
        "createdAt": created_at.to_string(),
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body.to_string()
}

/// Unix seconds now.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs()
}
