//! `GET /live-session-status?sessionId=`: the viewer-facing state of a
//! broadcast, so the app can show "Yayıncı bağlantısı koptu / Yeniden
//! bağlanması bekleniyor..." during the host's grace and close on the end.
//!
//! An overdue grace is enforced on read, as the webhook and the sweep do, so
//! a viewer never waits on a host who is already out of time.

use std::sync::LazyLock;

use component_kit::db::ParameterValue;
use component_kit::{auth, config, db, serve, sql, Failure, Incoming, Method, Reply};
use domain::session;
use domain::errors::ErrorCode;
use domain::requests::invalid;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use uuid::Uuid;

const DEFAULT_HOST_GRACE_SECONDS: u64 = 30;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("live-session-status", &[Method::GET], request, response_out, status).await
}

/// The session as viewers see it, and whether its host's grace is over.
static READ: LazyLock<String> = LazyLock::new(|| {
    let in_grace = sql::list(session::IN_GRACE);
    format!(
        "SELECT status, COALESCE(status IN ({in_grace}) AND host_left_at <= now() - make_interval(secs => $2), false) AS overdue,
                json_build_object(
                    'status', status,
                    'hostLeftAt', host_left_at,
                    'endedAt', ended_at,
                    'endReason', end_reason,
                    'graceEndsAt', CASE WHEN status IN ({in_grace}) THEN host_left_at + make_interval(secs => $2) END
                )::text AS body
         FROM live_sessions WHERE id = $1"
    )
});

async fn status(incoming: Incoming) -> Result<Reply, Failure> {
    auth::user(&incoming).await?;
    let session_id = session_id(&incoming.query)?;
    let grace = config::positive_integer("host_grace_seconds", DEFAULT_HOST_GRACE_SECONDS).await?;
    let connection = db::connect().await?;
    let params = vec![db::uuid(session_id), ParameterValue::Floating64(grace as f64)];
    let mut rows = db::query(&connection, &READ, params.clone()).await?;
    if rows.first().map(|row| db::get::<bool>(row, "overdue")).transpose()? == Some(true) {
        // Rare: the grace ran out and nobody ended it yet. Ended by the one
        // copy of that end (migration 0019), then read again.
        db::query(&connection, "SELECT end_sessions_past_host_grace($1, $2, 1)", params.clone()).await?;
        rows = db::query(&connection, &READ, params).await?;
    }
    let row = rows.first().ok_or(ErrorCode::SessionNotFound)?;
    let body: String = db::get(row, "body")?;
    let mut body: serde_json::Value = serde_json::from_str(&body).map_err(|e| Failure::internal(format!("status json: {e}")))?;
    if let Some(object) = body.as_object_mut() {
        object.insert("success".into(), true.into());
        object.insert("sessionId".into(), session_id.hyphenated().to_string().into());
    }
    Ok(Reply::ok(json!(body)))
}

fn session_id(query: &str) -> Result<Uuid, Failure> {
    let value = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == "sessionId")
        .map(|(_, value)| value)
        .ok_or_else(|| invalid("sessionId", "sessionId is required"))?;
    if value.len() != 36 {
        return Err(invalid("sessionId", "sessionId must be a uuid").into());
    }
    Uuid::try_parse(value).map_err(|_| invalid("sessionId", "sessionId must be a uuid").into())
}
