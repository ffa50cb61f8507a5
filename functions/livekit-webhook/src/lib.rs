//! `POST /livekit-webhook`: what really happens in LiveKit rooms.
//!
//! LiveKit delivers at least once, late and out of order, to a public URL.
//! So: verify the signature and body hash against the raw bytes before
//! parsing; deduplicate on the event id; serialise all events of one room by
//! locking its session or call row; and apply a participant's event only when
//! it is newer than the last one applied for that participant, so the final
//! state does not depend on delivery order.

use component_kit::calls;
use component_kit::db::{Connection, ParameterValue};
use component_kit::{config, db, livekit, serve, Failure, Incoming, Method, Reply};
use domain::call::next;
use domain::errors::ErrorCode;
use domain::presence::PresenceChange;
use domain::requests::invalid;
use domain::webhook::{self, EventKind, ParseError, Parsed, TrackKind, WebhookEvent};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use uuid::Uuid;

/// The host's reconnect grace when `host_grace_seconds` is unset.
const DEFAULT_HOST_GRACE_SECONDS: u64 = 30;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("livekit-webhook", &[Method::POST], request, response_out, receive).await
}

async fn receive(incoming: Incoming) -> Result<Reply, Failure> {
    let keys = livekit::api_keys().await?;
    let secret = config::required("livekit_api_secret").await?;
    let now = component_kit::clock::now_unix();
    webhook::verify(incoming.header("authorization"), &incoming.body, keys.key(), &secret, now)
        .map_err(|reason| Failure::from(ErrorCode::InvalidSignature).with_detail(format!("webhook refused: {reason}")))?;
    let event = match WebhookEvent::parse(&incoming.body) {
        Ok(Parsed::Known(event)) => event,
        // A track kind newer than this code: nothing of ours depends on it, and
        // a 4xx would only make LiveKit retry.
        Err(ParseError::BadField(field)) if field.starts_with("track.") => return Ok(outcome("ignored: unknown track kind")),
        Err(error) => return Err(invalid("body", &error.to_string()).into()),
        Ok(Parsed::Unknown { event, .. }) => return Ok(outcome(&format!("ignored: unknown event {event}"))),
    };
    let Some(room) = event.room_name.clone() else {
        return Ok(outcome("ignored: no room"));
    };
    let grace = config::positive_integer("host_grace_seconds", DEFAULT_HOST_GRACE_SECONDS).await?;
    let connection = db::connect().await?;
    // Our rooms are named after what they carry (live-session-start, call-initiate).
    if room.starts_with("live_") {
        return Ok(outcome(&apply_to_session(&connection, &event, &room, grace).await?));
    }
    db::execute(&connection, "BEGIN", vec![]).await?;
    let result = apply(&connection, &event, &room).await;
    match result {
        Ok(applied) => {
            db::execute(&connection, "COMMIT", vec![]).await?;
            Ok(outcome(&applied))
        }
        Err(failure) => {
            // Nothing half-applied: the dedupe row goes too, so LiveKit's retry is processed.
            let _ = db::execute(&connection, "ROLLBACK", vec![]).await;
            Err(failure)
        }
    }
}

fn outcome(text: &str) -> Reply {
    Reply::ok(json!({ "success": true, "outcome": text }))
}

/// Everything one event of a room other than a session's changes, inside the
/// caller's transaction.
async fn apply(connection: &Connection, event: &WebhookEvent, room: &str) -> Result<String, Failure> {
    let identity = event.participant.as_ref().map(|p| p.identity.clone());
    let recorded = db::query(
        connection,
        "INSERT INTO webhook_events (id, event, room_name, participant_identity, event_created_at, outcome)
         VALUES ($1, $2, $3, $4, to_timestamp($5), 'pending')
         ON CONFLICT (id) DO NOTHING RETURNING id",
        vec![
            ParameterValue::Str(event.id.clone()),
            ParameterValue::Str(event.kind.as_str().to_owned()),
            ParameterValue::Str(room.to_owned()),
            identity.clone().map_or(ParameterValue::DbNull, ParameterValue::Str),
            ParameterValue::Floating64(event.created_at as f64),
        ],
    )
    .await?;
    if recorded.is_empty() {
        return Ok("duplicate".to_owned());
    }
    let applied = if room.starts_with("call_") {
        apply_to_call(connection, event, room).await?
    } else {
        "ignored: not our room".to_owned()
    };
    db::execute(connection, "UPDATE webhook_events SET outcome = $2 WHERE id = $1", vec![ParameterValue::Str(event.id.clone()), ParameterValue::Str(applied.clone())])
        .await?;
    Ok(applied)
}

/// Everything one event of a session's room changes, in one statement and so
/// one transaction: the function of migration 0012 (dedupe, the session's lock
/// and overdue grace, presence, host status); the meaning of the event comes
/// from `domain`.
async fn apply_to_session(connection: &Connection, event: &WebhookEvent, room: &str, grace: u64) -> Result<String, Failure> {
    let change = PresenceChange::of(event).filter(|_| event.participant.is_some());
    let text = |value: Option<String>| value.map_or(ParameterValue::DbNull, ParameterValue::Str);
    // One row by its shape: a function call without `FROM`.
    let row = db::query_one(
        connection,
        "SELECT webhook_session_event($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AS outcome",
        vec![
            ParameterValue::Str(event.id.clone()),
            ParameterValue::Str(event.kind.as_str().to_owned()),
            ParameterValue::Str(room.to_owned()),
            text(event.participant.as_ref().map(|p| p.identity.clone())),
            ParameterValue::Floating64(event.created_at as f64),
            ParameterValue::Floating64(grace as f64),
            ParameterValue::Boolean(event.kind == EventKind::RoomFinished),
            change.map_or(ParameterValue::DbNull, |change| ParameterValue::Boolean(change.present())),
            change.map_or(ParameterValue::DbNull, |change| ParameterValue::Int16(change.rank())),
            text(change.and_then(left_reason).map(str::to_owned)),
            text(change.map(|change| change.host_status().as_str().to_owned())),
        ],
    )
    .await?;
    db::get(&row, "outcome")
}

/// What `room_participants.left_reason` says for a change.
fn left_reason(change: PresenceChange) -> Option<&'static str> {
    match change {
        PresenceChange::Joined => None,
        PresenceChange::LeftCleanly => Some("client_initiated"),
        PresenceChange::Dropped => Some("network"),
    }
}

async fn apply_to_call(connection: &Connection, event: &WebhookEvent, room: &str) -> Result<String, Failure> {
    let rows = db::query(
        connection,
        "SELECT id::text AS id, caller_id::text AS caller_id, callee_id::text AS callee_id, status
         FROM calls WHERE livekit_room_name = $1 FOR UPDATE",
        vec![ParameterValue::Str(room.to_owned())],
    )
    .await?;
    let Some(call) = rows.first() else {
        return Ok("ignored: unknown room".to_owned());
    };
    let call_id: Uuid = db::get::<String>(call, "id")?.parse().map_err(|_| Failure::internal("call id"))?;
    let caller: String = db::get(call, "caller_id")?;
    let callee: String = db::get(call, "callee_id")?;
    let status = db::enum_value(call, "status", domain::call::CallStatus::parse)?;
    let mut result = "applied".to_owned();
    match (PresenceChange::of(event), event.participant.as_ref(), &event.track) {
        (Some(change), Some(participant), _) if participant.identity == caller || participant.identity == callee => {
            if !record_presence(connection, room, &participant.identity, change, event.created_at).await? {
                return Ok("stale".to_owned());
            }
            // One row by its shape: an aggregate without `GROUP BY`.
            let present = db::query_one(
                connection,
                "SELECT count(*)::bigint AS present FROM room_participants WHERE room_name = $1 AND identity IN ($2, $3) AND present",
                vec![ParameterValue::Str(room.to_owned()), ParameterValue::Str(caller.clone()), ParameterValue::Str(callee.clone())],
            )
            .await?;
            let both_present = db::get::<i64>(&present, "present")? == 2;
            if let Some(transition) = change.call_event(both_present).and_then(|call_event| next(status, call_event)) {
                if calls::apply(connection, call_id, transition).await?.is_some() {
                    result = format!("applied: call {}", transition.to.as_str());
                }
            }
        }
        (None, _, Some(track)) if matches!(event.kind, EventKind::TrackPublished | EventKind::TrackUnpublished) => {
            if track.kind != TrackKind::Data {
                let published = event.kind == EventKind::TrackPublished;
                let room_param = ParameterValue::Str(room.to_owned());
                let at = ParameterValue::Floating64(event.created_at as f64);
                db::execute(
                    connection,
                    "INSERT INTO room_tracks (room_name, track_sid, published, event_at) VALUES ($1, $2, $3, to_timestamp($4))
                     ON CONFLICT (room_name, track_sid) DO UPDATE SET published = EXCLUDED.published, event_at = EXCLUDED.event_at
                     WHERE room_tracks.event_at < EXCLUDED.event_at",
                    vec![room_param.clone(), ParameterValue::Str(track.sid.clone()), ParameterValue::Boolean(published), at.clone()],
                )
                .await?;
                // A track published again ends the idle stretch and its warning.
                db::execute(
                    connection,
                    "UPDATE calls SET
                         published_tracks = (SELECT count(*) FROM room_tracks WHERE room_name = $1 AND published),
                         media_last_seen_at = GREATEST(media_last_seen_at, to_timestamp($2)),
                         idle_warned_at = CASE WHEN $3 THEN NULL ELSE idle_warned_at END
                     WHERE id = $4",
                    vec![room_param, at, ParameterValue::Boolean(published), db::uuid(call_id)],
                )
                .await?;
                result = format!("applied: {} track", if published { "published" } else { "unpublished" });
            }
        }
        _ => {}
    }
    db::execute(connection, "UPDATE calls SET updated_at = now() WHERE id = $1", vec![db::uuid(call_id)]).await?;
    Ok(result)
}

/// Upserts the participant's presence unless a newer event (or a join at the
/// same second) was already applied, with the function a session room's
/// event uses too (migration 0012). Returns whether this event was applied.
async fn record_presence(connection: &Connection, room: &str, identity: &str, change: PresenceChange, created_at: u64) -> Result<bool, Failure> {
    let row = db::query_one(
        connection,
        "SELECT webhook_record_presence($1, $2, $3, $4, $5, $6) AS applied",
        vec![
            ParameterValue::Str(room.to_owned()),
            ParameterValue::Str(identity.to_owned()),
            ParameterValue::Boolean(change.present()),
            ParameterValue::Floating64(created_at as f64),
            ParameterValue::Int16(change.rank()),
            left_reason(change).map_or(ParameterValue::DbNull, |reason| ParameterValue::Str(reason.to_owned())),
        ],
    )
    .await?;
    db::get(&row, "applied")
}
