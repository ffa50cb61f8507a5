//! `POST /get-livekit-token`: a LiveKit token for a live session or a 1-1 call.
//!
//! One database round trip: the statement counts the request against the
//! user's rate limit and loads every fact admission needs.

use component_kit::db::Row;
use component_kit::{auth, config, db, serve, tokens, Failure, Incoming, Method, Reply};
use domain::access::{admit_to_call, admit_to_session, CallFacts, SessionFacts};
use domain::call::{CallStatus, CallType};
use domain::errors::ErrorCode;
use domain::requests::TokenTarget;
use domain::session::{SessionAccess, SessionStatus, SessionType};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// Requests per user per minute when `token_rate_limit_per_minute` is unset.
const DEFAULT_RATE_LIMIT: u64 = 30;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("get-livekit-token", &[Method::POST], request, response_out, get_token).await
}

async fn get_token(incoming: Incoming) -> Result<Reply, Failure> {
    let user = auth::user(&incoming).await?;
    let target = TokenTarget::parse(&incoming.body)?;
    let limit = config::positive_integer("token_rate_limit_per_minute", DEFAULT_RATE_LIMIT).await?;
    let now = component_kit::clock::now_unix();
    let connection = db::connect().await?;
    let id = match target {
        TokenTarget::Session(id) | TokenTarget::Call(id) => id,
    };
    // One row by its shape: the functions select `FROM (SELECT 1) LEFT JOIN`.
    let row = &db::query_one(&connection, statement(target), vec![db::uuid(user.0), db::uuid(id)]).await?;
    if db::get::<i64>(row, "hits")? > i64::try_from(limit).unwrap_or(i64::MAX) {
        return Err(ErrorCode::RateLimited.into());
    }
    let display_name: String = db::get(row, "display_name")?;
    let admission = match target {
        TokenTarget::Session(_) => admit_to_session(user, session_facts(row)?.as_ref())?,
        TokenTarget::Call(_) => admit_to_call(user, call_facts(row)?.as_ref())?,
    };
    let mut body = serde_json::json!({ "success": true });
    tokens::merge(&mut body, tokens::participant_token(user, &display_name, &admission, now).await?);
    Ok(Reply::ok(body))
}

/// Counts this request against the user's rate limit and loads the display
/// name and every fact admission needs, in one call of a PL/pgSQL function
/// (migration 0011): Spin sends each statement's text and Postgres plans it
/// anew, while a function's plans are kept per connection.
fn statement(target: TokenTarget) -> &'static str {
    match target {
        TokenTarget::Session(_) => "SELECT * FROM token_session_facts($1, $2)",
        TokenTarget::Call(_) => "SELECT * FROM token_call_facts($1, $2)",
    }
}

fn session_facts(row: &Row) -> Result<Option<SessionFacts>, Failure> {
    if db::get_optional::<String>(row, "creator_id")?.is_none() {
        return Ok(None);
    };
    Ok(Some(SessionFacts {
        creator_id: db::user_id(row, "creator_id")?,
        status: db::enum_value(row, "status", SessionStatus::parse)?,
        session_type: db::enum_value(row, "type", SessionType::parse)?,
        access: db::enum_value(row, "access", SessionAccess::parse)?,
        price_coins: db::get(row, "price_coins")?,
        room_name: db::get(row, "livekit_room_name")?,
        subscribed: db::get(row, "subscribed")?,
        purchased: db::get(row, "purchased")?,
    }))
}

fn call_facts(row: &Row) -> Result<Option<CallFacts>, Failure> {
    if db::get_optional::<String>(row, "caller_id")?.is_none() {
        return Ok(None);
    };
    Ok(Some(CallFacts {
        caller_id: db::user_id(row, "caller_id")?,
        callee_id: db::user_id(row, "callee_id")?,
        status: db::enum_value(row, "status", CallStatus::parse)?,
        call_type: db::enum_value(row, "call_type", CallType::parse)?,
        room_name: db::get(row, "livekit_room_name")?,
    }))
}
