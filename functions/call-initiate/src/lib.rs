//! `POST /call-initiate`: start a 1-1 call, ring the callee, answer with the
//! caller's LiveKit token.
//!
//! The busy check and the insert are one statement: a trigger claims both
//! parties in `active_call_parties`, whose primary key refuses a second
//! active call for either of them, however many requests race. The same
//! statement makes the caller a `users` row (`component_kit::users`), counts
//! the request against `call_initiate_rate_limit_per_minute` (and inserts
//! nothing over it), and claims the request's `Idempotency-Key`: a resend
//! with the same key answers with the call the first one made (`repeat`).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use component_kit::calls::{self, CallRow};
use component_kit::db::{Connection, ParameterValue};
use component_kit::{auth, config, db, push, serve, tokens, sql, upsert_cte, users, Failure, Incoming, Method, Reply, StatusCode};
use domain::access::admit_to_call;
use domain::call::{transition, CallEndReason, CallEvent, CallStatus};
use domain::errors::{ApiError, ErrorCode};
use domain::ids::UserId;
use domain::push::{IncomingCall, PushOutcome};
use domain::requests::{idempotency_key, InitiateCall};
use serde_json::{json, Map};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use uuid::Uuid;

/// Calls a user may start per minute when `call_initiate_rate_limit_per_minute`
/// is unset: a person redials a few times, a ring-and-cancel loop is refused.
const DEFAULT_RATE_LIMIT: u64 = 10;

/// How often a repeat looks again at a call its first request is still ringing.
const REPEAT_POLL: Duration = Duration::from_millis(200);

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("call-initiate", &[Method::POST], request, response_out, initiate).await
}

async fn initiate(incoming: Incoming) -> Result<Reply, Failure> {
    let signed_in = auth::signed_in(&incoming).await?;
    let caller = signed_in.id;
    let request = InitiateCall::parse(&incoming.body)?;
    let key = idempotency_key(incoming.headers.get("idempotency-key").map(|value| value.as_bytes()))?;
    if request.callee_id == caller.0 {
        return Err(ErrorCode::CannotCallSelf.into());
    }
    let limit = config::positive_integer("call_initiate_rate_limit_per_minute", DEFAULT_RATE_LIMIT).await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let callee = UserId(request.callee_id);
    let call_id = Uuid::new_v4();
    let room_name = format!("call_{}", call_id.simple());
    let connection = db::connect().await?;
    let params = vec![
        db::uuid(call_id),
        db::uuid(caller.0),
        db::uuid(callee.0),
        ParameterValue::Str(request.call_type.as_str().to_owned()),
        ParameterValue::Str(room_name.clone()),
        users::display_name(&signed_in),
        key.map_or(ParameterValue::DbNull, db::uuid),
        ParameterValue::Int64(limit),
    ];
    let rows = match db::query(&connection, &INSERT_CALL, params.clone()).await {
        Ok(rows) => rows,
        Err(failure) if failure.sqlstate() == Some("23505") => return Err(record_busy(&connection, params, limit).await),
        Err(failure) => return Err(failure.into()),
    };
    let row = rows.first().ok_or_else(|| Failure::internal("call insert returned no row"))?;
    if db::get::<i64>(row, "hits")? > limit {
        return Err(ErrorCode::RateLimited.into());
    }
    if !db::get::<bool>(row, "callee_exists")? {
        return Err(ErrorCode::UserNotFound.into());
    }
    if !db::get::<bool>(row, "inserted")? {
        // Only a key already claimed keeps a call with a known callee out.
        let key = key.ok_or_else(|| Failure::internal("no call inserted and no idempotency key"))?;
        let earlier = match db::get_optional::<String>(row, "earlier_call")? {
            Some(id) => Some(id),
            // Claimed by a request that committed while this statement ran.
            None => claimed_call(&connection, caller, key).await?,
        };
        let earlier = earlier
            .and_then(|id| Uuid::try_parse(&id).ok())
            .ok_or_else(|| Failure::internal("an idempotency key without its call"))?;
        let caller_name: String = db::get(row, "caller_name")?;
        return repeat(&connection, caller, &caller_name, earlier).await;
    }
    let caller_name: String = db::get(row, "caller_name")?;
    let devices = push::Device::parse_list(&db::get::<String>(row, "tokens")?);

    if devices.is_empty() {
        calls::apply(&connection, call_id, transition(CallEvent::NoPushToken)).await?;
        return Err(ErrorCode::CalleeUnreachable.into());
    }
    let incoming_call = IncomingCall { call_id, caller_id: caller, caller_name: caller_name.clone(), call_type: request.call_type };
    let ring = match push::send_incoming_call(&connection, callee, &devices, &incoming_call).await {
        Ok(ring) => ring,
        Err(misconfigured) => {
            // The call ends as after any failed push; the answer says it is not an outage.
            calls::apply(&connection, call_id, transition(CallEvent::PushFailed)).await?;
            return Err(misconfigured);
        }
    };
    let providers = Some(&ring.providers);
    let call = match ring.outcome {
        PushOutcome::Accepted => match calls::apply_recording(&connection, call_id, transition(CallEvent::PushAccepted), providers).await? {
            Some(call) => call,
            // Cancelled (or failed by the sweep) while the push was in flight: say so.
            None => return Err(moved_on(&connection, call_id).await),
        },
        PushOutcome::Refused(reason) | PushOutcome::NoAnswer(reason) => {
            calls::apply_recording(&connection, call_id, transition(CallEvent::PushFailed), providers).await?;
            let error = ApiError::new(ErrorCode::PushFailed).with_field("push", ring.providers.clone());
            // A push that timed out may still have rung a device: the failure
            // queued a stop per rung device, sent after this answer.
            push::stop_ringing::after_answer(connection, call_id);
            return Err(Failure::from(error).with_detail(format!("push: {reason}")));
        }
    };
    let admission = admit_to_call(caller, Some(&call.facts()))?;
    let now = component_kit::clock::now_unix();
    let mut body = json!({ "success": true, "call": call.json, "push": ring.providers });
    tokens::merge(&mut body, tokens::participant_token(caller, &caller_name, &admission, now).await?);
    Ok(Reply::new(StatusCode::CREATED, body))
}

/// Makes the caller a `users` row, counts the request (`route_rate_hit`,
/// migration 0016), and, within the limit ($8), inserts the call as
/// `initiated` when the callee has a row and the `Idempotency-Key` ($7, NULL
/// when none) is not claimed by an earlier request of the caller within 10
/// minutes; the key is claimed in the same statement, so parallel duplicates
/// insert one call (the second waits on the first's key row, then finds it
/// taken). The trigger's claim on `active_call_parties` raises 23505 when
/// either party is busy (and so undoes the count, the key and the caller's row
/// too). Also loads the callee's devices (`kind:token` words, the newest 20:
/// every phone, tablet and browser a person plausibly has) and the caller's
/// name: the token's, else the stored one, else the id.
static INSERT_CALL: LazyLock<String> = LazyLock::new(|| format!(concat!("
WITH ", upsert_cte!("$2", "$6"), ",
hit AS (SELECT route_rate_hit($2, 'call-initiate') AS hits),
allowed AS (SELECT 1 FROM hit WHERE hits <= $8),
callee AS (SELECT id FROM users WHERE id = $3),
earlier AS (
    SELECT call_id FROM call_initiate_keys
    WHERE caller_id = $2 AND key = $7 AND created_at > now() - interval '10 minutes'
),
claimed AS (
    INSERT INTO call_initiate_keys AS k (caller_id, key, call_id)
    SELECT $2, $7, $1 FROM allowed, callee WHERE $7::uuid IS NOT NULL
    ON CONFLICT (caller_id, key) DO UPDATE SET call_id = EXCLUDED.call_id, created_at = now()
    WHERE k.created_at <= now() - interval '10 minutes'
    RETURNING call_id
),
new_call AS (
    INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name)
    SELECT $1, $2, callee.id, $4, {initiated}, $5 FROM callee, allowed
    WHERE $7::uuid IS NULL OR EXISTS (SELECT 1 FROM claimed)
    RETURNING id
)
SELECT (SELECT hits FROM hit) AS hits,
       EXISTS (SELECT 1 FROM new_call) AS inserted,
       EXISTS (SELECT 1 FROM callee) AS callee_exists,
       (SELECT call_id::text FROM earlier) AS earlier_call,
       COALESCE((SELECT string_agg(kind || ':' || token, ' ') FROM (
                     SELECT kind, token FROM push_tokens WHERE user_id = $3 ORDER BY updated_at DESC LIMIT 20) newest), '') AS tokens,
       COALESCE($6::text, user_display_name($2)) AS caller_name"), initiated = sql::literal(CallStatus::Initiated)));

/// The answer to a refused (busy) attempt. Keeps it for the call history,
/// counted against the rate limit (the refused statement's count was undone)
/// and under the request's key, and makes the caller a `users` row as the
/// failed insert would have. Over the limit nothing is written.
async fn record_busy(connection: &Connection, params: Vec<ParameterValue>, limit: i64) -> Failure {
    static RECORD_BUSY: LazyLock<String> = LazyLock::new(|| {
        format!(
            concat!(
                "WITH ",
            upsert_cte!("$2", "$6"),
            ",
hit AS (SELECT route_rate_hit($2, 'call-initiate') AS hits),
busy AS (
    INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name, ended_at, end_reason)
    SELECT $1, $2, $3, $4, {busy}, $5, now(), {busy_reason} FROM hit WHERE hits <= $8
    RETURNING id
),
claimed AS (
    INSERT INTO call_initiate_keys AS k (caller_id, key, call_id)
    SELECT $2, $7, id FROM busy WHERE $7::uuid IS NOT NULL
    ON CONFLICT (caller_id, key) DO UPDATE SET call_id = EXCLUDED.call_id, created_at = now()
    WHERE k.created_at <= now() - interval '10 minutes'
)
SELECT (SELECT hits FROM hit) AS hits"
            ),
            busy = sql::literal(CallStatus::Busy),
            busy_reason = sql::literal(CallEndReason::Busy),
        )
    });
    let recorded = db::query(connection, &RECORD_BUSY, params).await;
    match recorded {
        Ok(rows) => match rows.first().map(|row| db::get::<i64>(row, "hits")) {
            Some(Ok(hits)) if hits > limit => return ErrorCode::RateLimited.into(),
            Some(Ok(_)) => {}
            Some(Err(failure)) => log_busy_not_recorded(failure.detail().unwrap_or(""), None),
            None => log_busy_not_recorded("no row", None),
        },
        Err(failure) => log_busy_not_recorded(failure.sqlstate().unwrap_or("no sqlstate"), constraint_of(&failure)),
    }
    busy()
}

fn busy() -> Failure {
    ApiError::new(ErrorCode::Busy).with_field("status", "BUSY").into()
}

/// Postgres's `detail` of a violation quotes the row's values (user ids): the
/// log names the constraint, never the detail.
fn constraint_of(failure: &db::DbFailure) -> Option<&str> {
    failure.sqlstate().filter(|code| code.starts_with("23")).and(failure.constraint())
}

fn log_busy_not_recorded(reason: &str, constraint: Option<&str>) {
    let mut fields = Map::new();
    fields.insert("error".into(), reason.into());
    if let Some(constraint) = constraint {
        fields.insert("constraint".into(), constraint.into());
    }
    component_kit::log::line("warn", "call-initiate", "busy call not recorded", fields);
}

/// The call the caller's `key` names, read after the claim committed.
async fn claimed_call(connection: &Connection, caller: UserId, key: Uuid) -> Result<Option<String>, Failure> {
    let rows = db::query(
        connection,
        "SELECT call_id::text AS call_id FROM call_initiate_keys WHERE caller_id = $1 AND key = $2",
        vec![db::uuid(caller.0), db::uuid(key)],
    )
    .await?;
    rows.first().map(|row| db::get(row, "call_id")).transpose()
}

/// A resend with the key of an earlier request: the answer that request gave
/// (or gives now), from its call as it stands, without ringing again. While
/// the first request is still pushing (a parallel duplicate), waits for it
/// at most `push_timeout_seconds` plus a second.
async fn repeat(connection: &Connection, caller: UserId, caller_name: &str, call_id: Uuid) -> Result<Reply, Failure> {
    let push_timeout = config::positive_integer("push_timeout_seconds", 5).await?;
    let deadline = Instant::now() + Duration::from_secs(push_timeout + 1);
    let (call, end_reason, push_outcomes) = loop {
        let statement = format!(
            "SELECT {}, c.end_reason, COALESCE(c.push_outcomes, '{{}}'::jsonb)::text AS push_outcomes FROM calls c WHERE c.id = $1",
            calls::CALL_COLUMNS
        );
        let rows = db::query(connection, &statement, vec![db::uuid(call_id)]).await?;
        let row = rows.first().ok_or_else(|| Failure::internal("the call of an idempotency key vanished"))?;
        let call = calls::call_row(row)?;
        if call.status == CallStatus::Initiated && Instant::now() < deadline {
            component_kit::time::sleep(REPEAT_POLL).await;
            continue;
        }
        let end_reason = db::get_optional::<String>(row, "end_reason")?.as_deref().and_then(CallEndReason::parse);
        let push_outcomes: serde_json::Value = serde_json::from_str(&db::get::<String>(row, "push_outcomes")?)
            .map_err(|error| Failure::internal(format!("push_outcomes: {error}")))?;
        break (call, end_reason, push_outcomes);
    };
    match (call.status, end_reason) {
        (CallStatus::Ringing | CallStatus::Accepted | CallStatus::Live, _) => {
            let admission = admit_to_call(caller, Some(&call.facts()))?;
            let now = component_kit::clock::now_unix();
            let mut body = json!({ "success": true, "call": call.json, "push": push_outcomes });
            tokens::merge(&mut body, tokens::participant_token(caller, caller_name, &admission, now).await?);
            Ok(Reply::new(StatusCode::CREATED, body))
        }
        (CallStatus::Busy, _) => Err(busy()),
        (CallStatus::Failed, Some(CallEndReason::NoPushToken)) => Err(ErrorCode::CalleeUnreachable.into()),
        (CallStatus::Failed, Some(CallEndReason::PushFailed)) => Err(ApiError::new(ErrorCode::PushFailed).with_field("push", push_outcomes).into()),
        // Still initiated (its request died mid-way) or over since: where it is.
        _ => Err(ApiError::new(ErrorCode::InvalidTransition)
            .with_field("status", call.status.as_str())
            .with_field("call", call.json)
            .into()),
    }
}

/// The call changed state while we pushed: answer with where it is now.
async fn moved_on(connection: &Connection, call_id: Uuid) -> Failure {
    match calls::load(connection, call_id).await {
        Ok(Some(CallRow { status, json, .. })) => ApiError::new(ErrorCode::InvalidTransition)
            .with_field("status", status.as_str())
            .with_field("call", json)
            .into(),
        Ok(None) => Failure::internal("the call vanished"),
        Err(failure) => failure,
    }
}
