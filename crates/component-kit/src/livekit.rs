//! LiveKit's RoomService over Spin's outbound HTTP (the domain's `Transport`).

use std::time::Duration;

use domain::livekit_token::ApiKeys;
use domain::roomservice::{RetrySchedule, RoomService, Transport, TransportResult, TwirpRequest};

use crate::{config, Failure};

/// The most of a LiveKit answer we read.
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Spin outbound HTTP with a timeout per request.
pub struct SpinTransport;

/// The LiveKit keys from variables `livekit_api_key` and `livekit_api_secret`.
pub async fn api_keys() -> Result<ApiKeys, Failure> {
    Ok(ApiKeys::new(config::required("livekit_api_key").await?, config::required("livekit_api_secret").await?))
}

/// The RoomService at variable `livekit_api_url`, and the retry schedule
/// whose per-attempt timeout is variable `livekit_timeout_seconds` (15 s).
pub async fn room_service() -> Result<(RoomService, RetrySchedule), Failure> {
    let api_url = config::required("livekit_api_url").await?;
    let timeout = config::positive_integer("livekit_timeout_seconds", 15).await?;
    let schedule = RetrySchedule { timeout: Duration::from_secs(timeout), ..RetrySchedule::default() };
    Ok((RoomService::new(&api_url, api_keys().await?), schedule))
}

impl Transport for SpinTransport {
    async fn send(&self, request: &TwirpRequest, timeout: Duration) -> TransportResult {
        let headers = [("content-type", "application/json"), ("authorization", request.authorization.as_str())];
        match crate::outbound::post(&request.url, &headers, request.body.clone(), timeout, MAX_ANSWER_BYTES).await {
            Ok((status, body)) => TransportResult::Answered { status, body },
            Err(crate::outbound::Unanswered::Denied) => {
                crate::outbound::log_misconfigured(
                    &crate::outbound::origin(&request.url),
                    "livekit_api_url is its own allow-list entry: the component's allowed_outbound_hosts must name it",
                );
                TransportResult::NoAnswer(crate::outbound::Unanswered::Denied.to_string())
            }
            Err(reason) => TransportResult::NoAnswer(reason.to_string()),
        }
    }

    async fn sleep(&self, duration: Duration) {
        crate::time::sleep(duration).await;
    }

    fn jitter(&self) -> f64 {
        let random = uuid::Uuid::new_v4().as_u128() as u64;
        (random >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Deletes `room` with retries; `Err` carries the reason for the log. A room
/// that no longer exists counts as deleted.
pub async fn delete_room(room: &str, now: u64) -> Result<(), String> {
    let (service, schedule) = room_service().await.map_err(|_| "LiveKit is not configured".to_owned())?;
    let request = service.delete_room_request(room, now).map_err(|e| e.to_string())?;
    domain::roomservice::call(&SpinTransport, &request, schedule).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// The row a LiveKit room belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoomOwner {
    Session(uuid::Uuid),
    Call(uuid::Uuid),
}

/// Records on its row that the owner's room is gone.
pub async fn mark_room_deleted(connection: &crate::db::Connection, owner: RoomOwner) -> Result<(), Failure> {
    // The table names are literals, never input.
    let (table, id) = match owner {
        RoomOwner::Session(id) => ("live_sessions", id),
        RoomOwner::Call(id) => ("calls", id),
    };
    let statement = format!("UPDATE {table} SET livekit_room_deleted_at = now() WHERE id = $1 AND livekit_room_deleted_at IS NULL");
    crate::db::execute(connection, &statement, vec![crate::db::uuid(id)]).await?;
    Ok(())
}

/// Deletes the owner's room once its end is committed, and records it.
/// Answers `"done"`, or `"pending"` after logging why: the end stands and
/// the sweep retries the deletion.
pub async fn delete_room_after_end(connection: &crate::db::Connection, component: &str, owner: RoomOwner, room: &str) -> &'static str {
    let outcome = match delete_room(room, crate::clock::now_unix()).await {
        Ok(()) => mark_room_deleted(connection, owner).await.map_err(|_| "recording the deletion failed".to_owned()),
        Err(reason) => Err(reason),
    };
    match outcome {
        Ok(()) => "done",
        Err(reason) => {
            let mut fields = serde_json::Map::new();
            fields.insert("room".into(), room.into());
            fields.insert("error".into(), reason.into());
            crate::log::line("warn", component, "room deletion pending", fields);
            "pending"
        }
    }
}
