//! `POST /call-action`: accept, reject, cancel or end a 1-1 call.
//!
//! The domain decides from the call's current state (read with deadlines
//! applied); the change is a guarded UPDATE. When a racing request moved the
//! call first, the UPDATE changes nothing and the decision is made again on
//! the new state, so the loser gets the true final state.

use component_kit::calls::{self, CallRow};
use component_kit::db::Connection;
use component_kit::{auth, config, db, livekit, push, serve, tokens, Failure, Incoming, Method, Reply};
use domain::access::admit_to_call;
use domain::call::{decide, stops_ringing, ActionDecision, CallAction, Party};
use domain::errors::{ApiError, ErrorCode};
use domain::ids::UserId;
use domain::requests::ActOnCall;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use uuid::Uuid;

/// Re-reads after a lost race; two are enough (a call moves at most a few times).
const ATTEMPTS: usize = 3;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("call-action", &[Method::POST], request, response_out, act).await
}

async fn act(incoming: Incoming) -> Result<Reply, Failure> {
    let user = auth::user(&incoming).await?;
    let ActOnCall { call_id, action } = ActOnCall::parse(&incoming.body)?;
    let ring_timeout = config::positive_integer("ring_timeout_seconds", 30).await?;
    let connection = db::connect().await?;
    let mut stop_ringing = false;
    let answered = act_on(&connection, user, call_id, action, ring_timeout, &mut stop_ringing).await;
    if stop_ringing {
        // The call stopped a ring (`call::stops_ringing`), which queued a
        // stop-ringing push per rung device; they leave after this answer,
        // on this connection.
        push::stop_ringing::after_answer(connection, call_id);
    }
    answered
}

/// Decides and applies `action`; sets `stop_ringing` when this request
/// stopped a ring (by acting, or by finding the call expired).
async fn act_on(connection: &Connection, user: UserId, call_id: Uuid, action: CallAction, ring_timeout: u64, stop_ringing: &mut bool) -> Result<Reply, Failure> {
    for _ in 0..ATTEMPTS {
        let (call, expired_now) = calls::load_expiring(connection, call_id, ring_timeout).await?.ok_or(ErrorCode::CallNotFound)?;
        let party = if user == call.caller_id {
            Party::Caller
        } else if user == call.callee_id {
            Party::Callee
        } else {
            return Err(ErrorCode::Forbidden.into());
        };
        // This read made the call missed, which queued its stop-ringing pushes.
        *stop_ringing |= expired_now;
        let decision = if expired_now && action == CallAction::Accept { ActionDecision::Expired } else { decide(action, party, call.status) };
        match decision {
            ActionDecision::NotYours => return Err(ErrorCode::Forbidden.into()),
            ActionDecision::Expired => return Err(with_call(ApiError::new(ErrorCode::CallExpired), &call).into()),
            ActionDecision::Invalid => return Err(with_call(ApiError::new(ErrorCode::InvalidTransition), &call).into()),
            ActionDecision::AlreadyDone => return answer(connection, call_id, user, action, call, false).await,
            ActionDecision::Apply(transition) => {
                if let Some(moved) = calls::apply(connection, call_id, transition).await? {
                    *stop_ringing |= stops_ringing(call.status, transition);
                    return answer(connection, call_id, user, action, moved, true).await;
                }
            }
        }
    }
    Err(Failure::internal("the call kept changing under us"))
}

/// 200 with the call; `accept` adds the callee's token, `end` deletes the room.
async fn answer(connection: &Connection, call_id: Uuid, user: UserId, action: CallAction, call: CallRow, changed: bool) -> Result<Reply, Failure> {
    let mut body = json!({ "success": true, "changed": changed, "call": call.json });
    match action {
        CallAction::Accept => {
            let admission = admit_to_call(user, Some(&call.facts()))?;
            let name = display_name(connection, user).await?;
            tokens::merge(&mut body, tokens::participant_token(user, &name, &admission, component_kit::clock::now_unix()).await?);
        }
        CallAction::End => {
            let deletion = if call.room_deleted { "done" } else { livekit::delete_room_after_end(connection, "call-action", livekit::RoomOwner::Call(call_id), &call.room_name).await };
            tokens::merge(&mut body, json!({ "roomDeletion": deletion }));
        }
        CallAction::Reject | CallAction::Cancel => {}
    }
    Ok(Reply::ok(body))
}

fn with_call(error: ApiError, call: &CallRow) -> ApiError {
    error.with_field("status", call.status.as_str()).with_field("call", call.json.clone())
}

async fn display_name(connection: &Connection, user: UserId) -> Result<String, Failure> {
    let row = db::query_one(connection, "SELECT user_display_name($1) AS name", vec![db::uuid(user.0)]).await?;
    db::get(&row, "name")
}
