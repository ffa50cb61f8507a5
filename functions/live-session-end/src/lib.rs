//! `POST /live-session-end`: the host ends a broadcast; its LiveKit room is deleted.
//!
//! The end is one guarded UPDATE, so it is idempotent: ending an ended
//! session answers 200 with how it ended. The room deletion comes after the
//! commit; when LiveKit fails, the session stays ended, the answer says
//! `"roomDeletion": "pending"` and `livekit_room_deleted_at` stays NULL for a
//! sweep to retry.

use std::sync::LazyLock;

use component_kit::{auth, db, livekit, serve, sql, Failure, Incoming, Method, Reply};
use domain::session::{SessionEndReason, SessionStatus};
use domain::errors::ErrorCode;
use domain::requests::EndSession;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("live-session-end", &[Method::POST], request, response_out, end).await
}

async fn end(incoming: Incoming) -> Result<Reply, Failure> {
    let host = auth::user(&incoming).await?;
    let EndSession { session_id } = EndSession::parse(&incoming.body)?;
    let connection = db::connect().await?;
    // The CTE reads the row as it was; `ended` says whether this request ended it.
    static END: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH before AS (
             SELECT id, creator_id, status, end_reason, ended_at, livekit_room_name, livekit_room_deleted_at
             FROM live_sessions WHERE id = $1
         ), ended AS (
             UPDATE live_sessions
             SET status = {ended}, ended_at = now(), end_reason = {host_ended}, updated_at = now()
             WHERE id = $1 AND creator_id = $2 AND status <> {ended}
             RETURNING floor(extract(epoch FROM ended_at))::bigint AS ended_at
         )
         SELECT before.creator_id::text AS creator_id, before.livekit_room_name,
                before.livekit_room_deleted_at IS NOT NULL AS room_deleted,
                COALESCE(ended.ended_at, floor(extract(epoch FROM before.ended_at))::bigint) AS ended_at,
                CASE WHEN ended.ended_at IS NOT NULL THEN {host_ended} ELSE before.end_reason END AS end_reason,
                ended.ended_at IS NOT NULL AS ended_now
         FROM before LEFT JOIN ended ON true",
            ended = sql::literal(SessionStatus::Ended),
            host_ended = sql::literal(SessionEndReason::HostEnded),
        )
    });
    let rows = db::query(
        &connection,
        &END,
        vec![db::uuid(session_id), db::uuid(host.0)],
    )
    .await?;
    let row = rows.first().ok_or(ErrorCode::SessionNotFound)?;
    if db::user_id(row, "creator_id")? != host {
        return Err(ErrorCode::Forbidden.into());
    }
    let room_name: String = db::get(row, "livekit_room_name")?;
    let ended_at: i64 = db::get(row, "ended_at")?;
    let end_reason: String = db::get(row, "end_reason")?;
    let ended_now: bool = db::get(row, "ended_now")?;
    let room_deletion = if db::get::<bool>(row, "room_deleted")? {
        "done"
    } else {
        livekit::delete_room_after_end(&connection, "live-session-end", livekit::RoomOwner::Session(session_id), &room_name).await
    };
    Ok(Reply::ok(json!({
        "success": true,
        "endedNow": ended_now,
        "session": {
            "id": session_id.hyphenated().to_string(),
            "status": SessionStatus::Ended,
            "endReason": end_reason,
            "endedAt": domain::time::rfc3339(u64::try_from(ended_at).unwrap_or(0)),
            "roomName": room_name,
        },
        "roomDeletion": room_deletion,
    })))
}
