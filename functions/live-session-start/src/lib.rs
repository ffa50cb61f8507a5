//! `POST /live-session-start`: a host opens a broadcast and gets a publisher token.
//!
//! A host has at most one open broadcast (a partial unique index); a second
//! start answers 409 ALREADY_LIVE with the open session's id, so the app can
//! resume or end it. The insert also makes the host a `users` row
//! (`component_kit::users`).

use component_kit::db::ParameterValue;
use component_kit::{auth, db, serve, sql, tokens, upsert_cte, users, Failure, Incoming, Method, Reply, StatusCode};
use domain::access::admit_to_session;
use domain::access::SessionFacts;
use domain::errors::{ApiError, ErrorCode};
use domain::requests::StartSession;
use domain::session::SessionStatus;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("live-session-start", &[Method::POST], request, response_out, start).await
}

async fn start(incoming: Incoming) -> Result<Reply, Failure> {
    let signed_in = auth::signed_in(&incoming).await?;
    let host = signed_in.id;
    let start = StartSession::parse(&incoming.body)?;
    let now = component_kit::clock::now_unix();
    let session_id = uuid::Uuid::new_v4();
    let room_name = format!("live_{}", session_id.simple());
    let connection = db::connect().await?;
    let title = start.title.clone().map_or(ParameterValue::DbNull, ParameterValue::Str);
    let inserted = db::query(
        &connection,
        // The host's name: the token's, else the stored one (as it was before
        // `signed_in`), else the id.
        concat!(
            "WITH ",
            upsert_cte!("$2", "$8"),
            ",
session AS (
    INSERT INTO live_sessions (id, creator_id, type, access, price_coins, title, livekit_room_name)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING id, creator_id, floor(extract(epoch FROM created_at))::bigint AS created_at
)
SELECT session.id::text AS id, session.created_at,
       COALESCE($8::text, user_display_name(session.creator_id)) AS display_name
FROM session"
        ),
        vec![
            db::uuid(session_id),
            db::uuid(host.0),
            ParameterValue::Str(start.session_type.as_str().to_owned()),
            ParameterValue::Str(start.access.as_str().to_owned()),
            ParameterValue::Int32(i32::try_from(start.price_coins).unwrap_or(i32::MAX)),
            title,
            ParameterValue::Str(room_name.clone()),
            users::display_name(&signed_in),
        ],
    )
    .await;
    let rows = match inserted {
        Ok(rows) => rows,
        Err(failure) if failure.sqlstate() == Some("23505") => {
            return Err(already_live(&connection, host).await);
        }
        Err(failure) => return Err(failure.into()),
    };
    let row = rows.first().ok_or_else(|| Failure::internal("INSERT ... RETURNING gave no row"))?;
    let created_at: i64 = db::get(row, "created_at")?;
    let display_name: String = db::get(row, "display_name")?;
    let facts = SessionFacts {
        creator_id: host,
        status: SessionStatus::Live,
        session_type: start.session_type,
        access: start.access,
        price_coins: start.price_coins,
        room_name: room_name.clone(),
        subscribed: false,
        purchased: false,
    };
    let admission = admit_to_session(host, Some(&facts))?;
    let mut body = json!({
        "success": true,
        "session": {
            "id": session_id.hyphenated().to_string(),
            "creatorId": host.to_string(),
            "type": start.session_type,
            "status": SessionStatus::Live,
            "access": start.access,
            "priceCoins": start.price_coins,
            "title": start.title,
            "roomName": room_name,
            "createdAt": domain::time::rfc3339(u64::try_from(created_at).unwrap_or(0)),
        },
    });
    tokens::merge(&mut body, tokens::participant_token(host, &display_name, &admission, now).await?);
    Ok(Reply::new(StatusCode::CREATED, body))
}

/// ALREADY_LIVE naming the host's open session.
async fn already_live(connection: &component_kit::db::Connection, host: domain::ids::UserId) -> Failure {
    let open = db::query(
        connection,
        &format!("SELECT id::text AS id, status FROM live_sessions WHERE creator_id = $1 AND status <> {}", sql::literal(SessionStatus::Ended)),
        vec![db::uuid(host.0)],
    )
    .await;
    let mut error = ApiError::new(ErrorCode::AlreadyLive);
    if let Ok(rows) = open {
        if let Some(row) = rows.first() {
            if let (Ok(id), Ok(status)) = (db::get::<String>(row, "id"), db::get::<String>(row, "status")) {
                error = error.with_field("sessionId", id).with_field("status", status);
            }
        }
    }
    error.into()
}
