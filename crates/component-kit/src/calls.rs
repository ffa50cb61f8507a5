//! Reading and moving 1-1 calls in Postgres, for every component that does.

use std::sync::LazyLock;

use domain::call::{transition, CallEvent, CallStatus, CallType, Transition};
use domain::ids::UserId;
use serde_json::Value;
use uuid::Uuid;

use crate::db::{Connection, ParameterValue, Row};
use crate::{db, Failure};

/// A call as stored, plus its JSON for answers.
#[derive(Clone, Debug)]
pub struct CallRow {
    pub caller_id: UserId,
    pub callee_id: UserId,
    pub status: CallStatus,
    pub call_type: CallType,
    pub room_name: String,
    pub room_deleted: bool,
    /// `{"id", "callerId", "calleeId", "callType", "status", "roomName", "createdAt", ...}`.
    pub json: Value,
}

/// The columns every call query selects (alias `c`).
pub const CALL_COLUMNS: &str = "c.caller_id::text AS caller_id, c.callee_id::text AS callee_id, c.status, c.call_type,
    c.livekit_room_name, c.livekit_room_deleted_at IS NOT NULL AS room_deleted,
    json_build_object('id', c.id, 'callerId', c.caller_id, 'calleeId', c.callee_id, 'callType', c.call_type,
        'status', c.status, 'roomName', c.livekit_room_name, 'createdAt', c.created_at, 'ringingAt', c.ringing_at,
        'acceptedAt', c.accepted_at, 'liveAt', c.live_at, 'endedAt', c.ended_at, 'endReason', c.end_reason)::text AS call";

/// Loads a call as it is.
pub async fn load(connection: &Connection, call_id: Uuid) -> Result<Option<CallRow>, Failure> {
    let statement = format!("SELECT {CALL_COLUMNS} FROM calls c WHERE c.id = $1");
    let rows = db::query(connection, &statement, vec![db::uuid(call_id)]).await?;
    rows.first().map(call_row).transpose()
}

/// Loads a call, first moving it by its ring deadline (the call state
/// machine's `RingTimeout` row, through the same guarded UPDATE as [`apply`])
/// when it has rung longer than `ring_timeout_seconds`: every action sees
/// deadlines as of now, not as of the last sweep. Returns the call and
/// whether this read expired it.
pub async fn load_expiring(connection: &Connection, call_id: Uuid, ring_timeout_seconds: u64) -> Result<Option<(CallRow, bool)>, Failure> {
    // Every call-action runs it: the text is built once per instance.
    static STATEMENT: LazyLock<String> = LazyLock::new(|| {
        let ring_timeout = transition(CallEvent::RingTimeout);
        let since = ring_timeout.from.first().map_or("ringing_at", |from| from.timestamp_column());
        format!(
            "WITH expired AS (
                 {update} AND c.{since} <= now() - make_interval(secs => $5)
                 RETURNING c.*
             )
             SELECT {CALL_COLUMNS}, false AS expired_now FROM calls c WHERE c.id = $1 AND NOT EXISTS (SELECT 1 FROM expired)
             UNION ALL
             SELECT {CALL_COLUMNS}, true AS expired_now FROM expired c",
            update = guarded_update(ring_timeout, "", ""),
        )
    });
    let mut params = transition_params(call_id, transition(CallEvent::RingTimeout));
    params.push(ParameterValue::Floating64(ring_timeout_seconds as f64));
    let rows = db::query(connection, &STATEMENT, params).await?;
    match rows.first() {
        None => Ok(None),
        Some(row) => Ok(Some((call_row(row)?, db::get(row, "expired_now")?))),
    }
}

/// Applies `transition` to the call if it is still in one of `transition.from`
/// (a guarded UPDATE: a late or repeated writer changes nothing). `None` when
/// the call had moved on. A transition whose commit may be lost
/// ([`Transition::commit_may_be_lost`]) commits without waiting for the WAL
/// flush.
pub async fn apply(connection: &Connection, call_id: Uuid, transition: &Transition) -> Result<Option<CallRow>, Failure> {
    apply_recording(connection, call_id, transition, None).await
}

/// [`apply`], storing what each push provider said in `calls.push_outcomes`.
pub async fn apply_recording(connection: &Connection, call_id: Uuid, transition: &Transition, push_outcomes: Option<&Value>) -> Result<Option<CallRow>, Failure> {
    let statement = format!(
        "{update} RETURNING {CALL_COLUMNS}",
        update = guarded_update(
            transition,
            ", push_outcomes = COALESCE($6::jsonb, c.push_outcomes)",
            " FROM (SELECT set_config('synchronous_commit', COALESCE($5, current_setting('synchronous_commit')), true)) AS commit_mode",
        ),
    );
    let mut params = transition_params(call_id, transition);
    // Local to this statement's transaction; NULL keeps the server's setting.
    params.push(if transition.commit_may_be_lost() { ParameterValue::Str("off".to_owned()) } else { ParameterValue::DbNull });
    params.push(push_outcomes.map_or(ParameterValue::DbNull, |outcomes| ParameterValue::Jsonb(outcomes.to_string().into_bytes())));
    let rows = db::query(connection, &statement, params).await?;
    rows.first().map(call_row).transpose()
}

/// The one guarded UPDATE of a call by a transition (alias `c`): `$1` the
/// call, `$2..$4` the transition ([`transition_params`]); `set` and `from`
/// add columns and a FROM item.
fn guarded_update(transition: &Transition, set: &str, from: &str) -> String {
    format!(
        "UPDATE calls c SET status = $2, {stamp} = now(), end_reason = $3, updated_at = now(){set}{from}
         WHERE c.id = $1 AND c.status = ANY($4)",
        stamp = transition.to.timestamp_column(),
    )
}

/// `$1..$4` of [`guarded_update`].
fn transition_params(call_id: Uuid, transition: &Transition) -> Vec<ParameterValue> {
    vec![
        db::uuid(call_id),
        ParameterValue::Str(transition.to.as_str().to_owned()),
        transition.end_reason.map_or(ParameterValue::DbNull, |r| ParameterValue::Str(r.as_str().to_owned())),
        ParameterValue::ArrayStr(transition.from.iter().map(|s| Some(s.as_str().to_owned())).collect()),
    ]
}

/// A row selected with [`CALL_COLUMNS`].
pub fn call_row(row: &Row) -> Result<CallRow, Failure> {
    let json_text: String = db::get(row, "call")?;
    Ok(CallRow {
        caller_id: db::user_id(row, "caller_id")?,
        callee_id: db::user_id(row, "callee_id")?,
        status: db::enum_value(row, "status", CallStatus::parse)?,
        call_type: db::enum_value(row, "call_type", CallType::parse)?,
        room_name: db::get(row, "livekit_room_name")?,
        room_deleted: db::get(row, "room_deleted")?,
        json: serde_json::from_str(&json_text).map_err(|e| Failure::internal(format!("call json: {e}")))?,
    })
}

impl CallRow {
    /// The facts admission needs.
    pub fn facts(&self) -> domain::access::CallFacts {
        domain::access::CallFacts {
            caller_id: self.caller_id,
            callee_id: self.callee_id,
            status: self.status,
            call_type: self.call_type,
            room_name: self.room_name.clone(),
        }
    }
}
