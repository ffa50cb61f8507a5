//! `POST /push-token-register`: the signed-in user's device registers its push token
//! of one kind (`expo` unless it says `apns_voip` or `fcm`).
//!
//! One upsert keyed by the token: a device belongs to whoever signed in on it
//! last, so a re-registration by another user moves the token to them (the
//! previous user must not be rung on a device they left). The same statement
//! makes the user a `users` row (`component_kit::users`), so others can call
//! them. The answer never echoes the token; its `created` says whether the
//! server knew the device (the client kit's check that it was not pruned).
//! At most 20 devices per user: a trigger evicts the least recently
//! registered beyond that in the same statement (migration 0015).

use component_kit::{auth, db, serve, upsert_cte, users, Failure, Incoming, Reply};
use domain::push::PushRegistration;
use serde_json::json;
use spin_sdk::http::{IntoResponse, Method, Request};
use spin_sdk::http_service;
use spin_sdk::pg::ParameterValue;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    serve("push-token-register", &[Method::POST], request, register).await
}

async fn register(incoming: Incoming) -> Result<Reply, Failure> {
    let user = auth::signed_in(&incoming).await?;
    let registration = PushRegistration::parse(&incoming.body)?;
    let connection = db::connect().await?;
    let rows = db::query(
        &connection,
        concat!(
            "WITH ",
            upsert_cte!("$2", "$4"),
            "
INSERT INTO push_tokens (token, user_id, platform, kind) VALUES ($1, $2, $3, $5)
ON CONFLICT (token) DO UPDATE
SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform, kind = EXCLUDED.kind, updated_at = now()
RETURNING floor(extract(epoch FROM updated_at))::bigint AS updated_at, created_at = updated_at AS created"
        ),
        vec![
            ParameterValue::Str(registration.token),
            db::uuid(user.id.0),
            ParameterValue::Str(registration.platform.as_str().to_owned()),
            users::display_name(&user),
            ParameterValue::Str(registration.kind.as_str().to_owned()),
        ],
    )
    .await?;
    let row = rows.first().ok_or_else(|| Failure::internal("INSERT ... RETURNING gave no row"))?;
    let updated_at: i64 = db::get(row, "updated_at")?;
    // Inserted now: the server did not know this device (new, or pruned as dead).
    let created: bool = db::get(row, "created")?;
    Ok(Reply::ok(json!({
        "success": true,
        "token": {
            "platform": registration.platform,
            "kind": registration.kind,
            "updatedAt": domain::time::rfc3339(u64::try_from(updated_at).unwrap_or(0)),
            "created": created,
        },
    })))
}
