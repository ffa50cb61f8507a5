//! `POST /call-initiate`: start a 1-1 call, ring the callee, answer with the
//! caller's LiveKit token.
//!
//! The busy check and the insert are one statement: a trigger claims both
//! parties in `active_call_parties`, whose primary key refuses a second
//! active call for either of them, however many requests race. The same
//! statement makes the caller a `users` row (`component_kit::users`).

use component_kit::calls::{self, CallRow};
use component_kit::{auth, db, push, serve, tokens, upsert_cte, users, Failure, Incoming, Reply};
use domain::access::admit_to_call;
use domain::call::{transition, CallEvent};
use domain::errors::{ApiError, ErrorCode};
use domain::ids::UserId;
use domain::push::{IncomingCall, PushOutcome};
use domain::requests::InitiateCall;
use serde_json::{json, Map};
use spin_sdk::http::{IntoResponse, Method, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::{Connection, ParameterValue};
use uuid::Uuid;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    serve("call-initiate", &[Method::POST], request, initiate).await
}

async fn initiate(incoming: Incoming) -> Result<Reply, Failure> {
    let signed_in = auth::signed_in(&incoming).await?;
    let caller = signed_in.id;
    let request = InitiateCall::parse(&incoming.body)?;
    if request.callee_id == caller.0 {
        return Err(ErrorCode::CannotCallSelf.into());
    }
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
    ];
    let rows = match db::query(&connection, INSERT_CALL, params.clone()).await {
        Ok(rows) => rows,
        Err(failure) if failure.sqlstate() == Some("23505") => {
            record_busy(&connection, params).await;
            return Err(ApiError::new(ErrorCode::Busy).with_field("status", "BUSY").into());
        }
        Err(failure) => return Err(failure.into()),
    };
    let row = rows.first().ok_or_else(|| Failure::internal("call insert returned no row"))?;
    if !db::get::<bool>(row, "inserted")? {
        return Err(ErrorCode::UserNotFound.into());
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
            return Err(Failure::from(error).with_detail(format!("push: {reason}")));
        }
    };
    let admission = admit_to_call(caller, Some(&call.facts()))?;
    let now = component_kit::clock::now_unix();
    let mut body = json!({ "success": true, "call": call.json, "push": ring.providers });
    tokens::merge(&mut body, tokens::participant_token(caller, &caller_name, &admission, now).await?);
    Ok(Reply::new(StatusCode::CREATED, body))
}

/// Makes the caller a `users` row and inserts the call as `initiated` when
/// the callee has one; the trigger's claim on `active_call_parties` raises
/// 23505 when either party is busy (and so undoes the caller's row too).
/// Also loads the callee's devices (`kind:token` words, the newest 20: every
/// phone, tablet and browser a person plausibly has) and the caller's name: the
/// token's, else the stored one, else the id.
const INSERT_CALL: &str = concat!("
WITH ", upsert_cte!("$2", "$6"), ",
callee AS (SELECT id FROM users WHERE id = $3),
new_call AS (
    INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name)
    SELECT $1, $2, callee.id, $4, 'initiated', $5 FROM callee
    RETURNING id
)
SELECT EXISTS (SELECT 1 FROM new_call) AS inserted,
       COALESCE((SELECT string_agg(kind || ':' || token, ' ') FROM (
                     SELECT kind, token FROM push_tokens WHERE user_id = $3 ORDER BY updated_at DESC LIMIT 20) newest), '') AS tokens,
       COALESCE($6::text, (SELECT NULLIF(display_name, '') FROM users WHERE id = $2), $2::text) AS caller_name");

/// Keeps the refused attempt for the call history, and makes the caller a
/// `users` row as the failed insert would have.
async fn record_busy(connection: &Connection, params: Vec<ParameterValue>) {
    let recorded = db::execute(
        connection,
        concat!(
            "WITH ",
            upsert_cte!("$2", "$6"),
            "
INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name, ended_at, end_reason)
VALUES ($1, $2, $3, $4, 'busy', $5, now(), 'busy')"
        ),
        params,
    )
    .await;
    if let Err(failure) = recorded {
        let mut fields = Map::new();
        fields.insert("error".into(), format!("{:?}", failure.0).into());
        component_kit::log::line("warn", "call-initiate", "busy call not recorded", fields);
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
