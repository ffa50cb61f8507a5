//! Answered calls past `join_timeout_seconds`: LiveKit's participant list
//! decides, not the webhook alone. Webhooks can be lost (an outage, a key
//! mismatch) while both people talk; failing the call would delete their
//! room. Both parties in the room → `live` (the webhook's own transition);
//! one or none → `failed` (`join_timeout`); LiveKit not answering → nothing
//! changes and the next run asks again. A call LiveKit never confirms is
//! failed once `call_max_seconds` passed since the answer, by the deadline step.

use component_kit::db::{Connection, ParameterValue};
use component_kit::{calls, db, sql, Failure};
use domain::call::{transition, CallEvent};
use domain::sweep::{self, JoinVerdict, SweepLimits, SweepSummary};
use uuid::Uuid;

use crate::livekit_run::{Called, LiveKitRun};

/// ListParticipants calls per run: one HTTP call each.
const MAX_CHECKS_PER_RUN: u64 = 50;

pub async fn check(connection: &Connection, livekit: &mut LiveKitRun, limits: &SweepLimits, now: u64, summary: &mut SweepSummary) -> Result<(), Failure> {
    // Claim first, so an overlapping run skips these; a crashed run's claim
    // expires with its lease.
    let claimed = db::query(
        connection,
        &format!(
            "WITH due AS (
             SELECT id FROM calls
             WHERE status IN ({from}) AND accepted_at <= now() - make_interval(secs => $1)
               AND (join_check_started_at IS NULL OR join_check_started_at <= now() - make_interval(secs => $3))
             ORDER BY accepted_at LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         UPDATE calls c SET join_check_started_at = now() FROM due WHERE c.id = due.id
         RETURNING c.id::text AS id, c.livekit_room_name, c.caller_id::text AS caller_id, c.callee_id::text AS callee_id",
            // The calls either verdict may move (both transitions leave `accepted`).
            from = sql::list(transition(CallEvent::JoinTimeout).from),
        ),
        vec![
            ParameterValue::Floating64(limits.join_timeout_seconds as f64),
            ParameterValue::Int64(limits.sweep_batch_size.min(MAX_CHECKS_PER_RUN) as i64),
            ParameterValue::Floating64(limits.lease_seconds() as f64),
        ],
    )
    .await?;
    let (mut live, mut failed) = (0, 0);
    let mut undecided = Vec::new();
    for row in &claimed {
        let id: String = db::get(row, "id")?;
        let room: String = db::get(row, "livekit_room_name")?;
        let call_id: Uuid = id.parse().map_err(|_| Failure::internal(format!("call id {id:?}")))?;
        let request = livekit.service.list_participants_request(&room, now);
        let verdict = match livekit.call("ListParticipants", request).await {
            Called::Answered(answer) => {
                let verdict = sweep::join_verdict(&answer, &db::get::<String>(row, "caller_id")?, &db::get::<String>(row, "callee_id")?);
                if verdict.is_none() {
                    livekit.error("ListParticipants", "the answer is not understood");
                }
                verdict
            }
            Called::Refused | Called::Unreachable | Called::NotSent => None,
        };
        // The same guarded transitions the webhook and the deadline use: a
        // webhook or an action that got there first wins.
        match verdict {
            Some(JoinVerdict::BothPresent) => live += u64::from(calls::apply(connection, call_id, transition(CallEvent::BothJoined)).await?.is_some()),
            Some(JoinVerdict::NotBoth) => failed += u64::from(calls::apply(connection, call_id, transition(CallEvent::JoinTimeout)).await?.is_some()),
            None => undecided.push(Some(id)),
        }
    }
    summary.add("callsLiveFromLiveKit", live);
    summary.add("callsJoinTimeout", failed);
    if !undecided.is_empty() {
        summary.left_for_next_run.insert("callsJoinCheck", undecided.len() as u64);
        db::execute(
            connection,
            "UPDATE calls SET join_check_started_at = NULL WHERE id = ANY(CAST($1 AS text[])::uuid[])",
            vec![ParameterValue::ArrayStr(undecided)],
        )
        .await?;
    }
    Ok(())
}
