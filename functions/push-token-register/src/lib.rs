//! `POST /push-token-register`: the signed-in user's device registers its push token
//! of one kind (`expo` unless it says `apns_voip` or `fcm`).
//!
//! One upsert keyed by the token: a device belongs to whoever signed in on it
//! last, so a re-registration by another user moves the token to them (the
//! previous user must not be rung on a device they left). The same statement
//! makes the user a `users` row (`component_kit::users`), so others can call
//! them, and counts the request against `push_register_rate_limit_per_minute`
//! (over it, nothing is registered). The answer never echoes the token; its
//! `created` says whether the server knew the device (the client kit's check
//! that it was not pruned). At most 20 devices per user: a trigger evicts the
//! least recently registered beyond that in the same statement (migration 0015).

use component_kit::db::ParameterValue;
use component_kit::{auth, config, db, serve, upsert_cte, users, Failure, Incoming, Method, Reply};
use domain::errors::ErrorCode;
use domain::push::PushRegistration;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// Registrations a user may make per minute when
/// `push_register_rate_limit_per_minute` is unset: an app registers each of
/// its few tokens on start and when one changes.
const DEFAULT_RATE_LIMIT: u64 = 10;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("push-token-register", &[Method::POST], request, response_out, register).await
}

async fn register(incoming: Incoming) -> Result<Reply, Failure> {
    let user = auth::signed_in(&incoming).await?;
    let registration = PushRegistration::parse(&incoming.body)?;
    let limit = config::positive_integer("push_register_rate_limit_per_minute", DEFAULT_RATE_LIMIT).await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let connection = db::connect().await?;
    let rows = db::query(
        &connection,
        concat!(
            "WITH ",
            upsert_cte!("$2", "$4"),
            ",
hit AS (SELECT route_rate_hit($2, 'push-token-register') AS hits),
registered AS (
    INSERT INTO push_tokens (token, user_id, platform, kind) SELECT $1, $2, $3, $5 FROM hit WHERE hits <= $6
    ON CONFLICT (token) DO UPDATE
    SET user_id = EXCLUDED.user_id, platform = EXCLUDED.platform, kind = EXCLUDED.kind, updated_at = now()
    RETURNING updated_at, created_at = updated_at AS created
)
SELECT (SELECT hits FROM hit) AS hits,
       (SELECT floor(extract(epoch FROM updated_at))::bigint FROM registered) AS updated_at,
       (SELECT created FROM registered) AS created"
        ),
        vec![
            ParameterValue::Str(registration.token),
            db::uuid(user.id.0),
            ParameterValue::Str(registration.platform.as_str().to_owned()),
            users::display_name(&user),
            ParameterValue::Str(registration.kind.as_str().to_owned()),
            ParameterValue::Int64(limit),
        ],
    )
    .await?;
    let row = rows.first().ok_or_else(|| Failure::internal("the registration statement gave no row"))?;
    if db::get::<i64>(row, "hits")? > limit {
        return Err(ErrorCode::RateLimited.into());
    }
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
