//! Stop-ringing pushes: a `call_ended` message to every device of the callee
//! once a ring that may have reached them stops (`domain::call::stops_ringing`).
//!
//! The statement that moves the call queues one `push_outbox` row per device
//! (a trigger, so no path can forget). Sending never delays the action that
//! caused it: the component sends after its answer, on the request's
//! connection ([`after_answer`]: `serve` runs it once the answer has left,
//! before the instance returns), and the sweep sends
//! whatever is left ([`send_pending`]): rows whose sender died, or that found
//! no provider answering. A sender claims rows with a lease first, so two
//! senders never push the same row; a row is pushed again only after a
//! sender that claimed it gave no verdict within the lease.

use std::collections::BTreeMap;

use domain::call::CallStatus;
use domain::delivery::DeviceOutcome;
use domain::ids::UserId;
use domain::push::PushKind;
use uuid::Uuid;

use super::{settings::Settings, Device, Message, Sent};
use crate::db::{Connection, ParameterValue};
use crate::{db, Failure};

/// A queued row: its id, the attempts so far, the device.
type Claimed = (i64, i32, Device);
/// Rows of one call's stop push through one provider: (call id, callee,
/// the call's status, the kind).
type GroupKey = (String, String, String, &'static str);

/// Attempts after which a row that never got a verdict is given up.
const MAX_ATTEMPTS: i32 = 3;

/// What one pass sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Rows claimed and pushed (whatever the verdict).
    pub sent: u64,
    /// Of those, devices a provider called gone (their tokens removed).
    pub gone: u64,
    /// Rows left for a later pass (no answer).
    pub retry: u64,
}

/// Sends `call_id`'s queued stop-ringing pushes after the answer has left, on
/// the request's own connection: the caller hands it over once it is done
/// with it, so a request holds one connection and checks out one. The sweep
/// covers a sender cut short.
pub fn after_answer(connection: Connection, call_id: Uuid) {
    crate::after_answer(async move {
        let _ = send_pending(&connection, Some(call_id), 64).await;
    });
}

/// Claims up to `limit` queued rows (of `call_id` only, when given), pushes
/// them, records each verdict and removes dead tokens.
pub async fn send_pending(connection: &Connection, call_id: Option<Uuid>, limit: u32) -> Result<Sweep, Failure> {
    let settings = match Settings::current().await {
        Ok(settings) => settings,
        Err(reason) => return Err(Failure::internal(format!("stop ringing: {reason}"))),
    };
    let lease_seconds = settings.timeout.as_secs_f64() + 5.0;
    let claimed = db::query(
        connection,
        "UPDATE push_outbox o SET claimed_until = now() + make_interval(secs => $3), attempts = o.attempts + 1
         FROM (SELECT id FROM push_outbox
               WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < now())
                 AND ($1::uuid IS NULL OR call_id = $1)
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) due
         WHERE o.id = due.id
         RETURNING o.id, o.call_id::text AS call_id, o.user_id::text AS user_id, o.token, o.kind, o.status, o.attempts",
        vec![
            call_id.map_or(ParameterValue::DbNull, db::uuid),
            ParameterValue::Int64(i64::from(limit)),
            ParameterValue::Floating64(lease_seconds),
        ],
    )
    .await?;
    // One group per call and provider, each recorded as soon as its provider
    // answers: a provider that hangs keeps only its own rows waiting, and an
    // instance stopped meanwhile leaves only those for the sweep.
    let mut groups: BTreeMap<GroupKey, Vec<Claimed>> = BTreeMap::new();
    for row in &claimed {
        let Some(kind) = PushKind::parse(&db::get::<String>(row, "kind")?) else { continue };
        let key = (db::get(row, "call_id")?, db::get(row, "user_id")?, db::get(row, "status")?, kind.as_str());
        let device = Device { token: db::get(row, "token")?, kind };
        groups.entry(key).or_default().push((db::get(row, "id")?, db::get(row, "attempts")?, device));
    }
    let sends = groups.iter().map(|((call, user, status, _), rows)| {
        let settings = &settings;
        async move {
            let devices: Vec<Device> = rows.iter().map(|(_, _, device)| device.clone()).collect();
            let call_id = Uuid::parse_str(call).unwrap_or_default();
            let user = UserId::parse(user).unwrap_or(UserId(Uuid::nil()));
            // The device is told a state its kit knows (`failed` reads as `missed`).
            let status = CallStatus::parse(status).map_or(status.as_str(), |status| status.told_when_ring_stops().as_str());
            let sent = super::deliver(connection, settings, user, &devices, Message::Ended { call_id, status }).await;
            super::record::prune_gone(connection, &devices, &sent).await;
            let results: Vec<(i64, i32, Sent)> = rows.iter().zip(sent).map(|((id, attempts, _), sent)| (*id, *attempts, sent)).collect();
            if let Err(failure) = record(connection, &results).await {
                super::record::warn("stop-ringing verdicts not recorded", failure.sqlstate());
            }
            results
        }
    });
    let results: Vec<(i64, i32, Sent)> = futures::future::join_all(sends).await.into_iter().flatten().collect();
    let mut sweep = Sweep::default();
    for (_, attempts, sent) in &results {
        match verdict(sent, *attempts) {
            Some("gone") => {
                sweep.sent += 1;
                sweep.gone += 1;
            }
            Some(_) => sweep.sent += 1,
            None => sweep.retry += 1,
        }
    }
    Ok(sweep)
}

/// The row's final outcome, or `None` to leave it for a later pass.
fn verdict(sent: &Sent, attempts: i32) -> Option<&'static str> {
    match sent {
        Sent::Outcome(DeviceOutcome::Delivered) => Some("delivered"),
        Sent::Outcome(DeviceOutcome::Gone(_)) => Some("gone"),
        Sent::Outcome(DeviceOutcome::Refused(_) | DeviceOutcome::Unrecognized(_)) => Some("refused"),
        Sent::Denied(_) => Some("refused"),
        Sent::Outcome(DeviceOutcome::Unauthorized(_)) | Sent::NoAnswer(_) if attempts >= MAX_ATTEMPTS => Some("no_answer"),
        Sent::Outcome(DeviceOutcome::Unauthorized(_)) | Sent::NoAnswer(_) => None,
    }
}

/// Marks rows with a verdict sent; rows without one keep their lease, which
/// lets the next pass retry them once it expires.
async fn record(connection: &Connection, results: &[(i64, i32, Sent)]) -> Result<(), db::DbFailure> {
    let (ids, outcomes): (Vec<Option<i64>>, Vec<Option<String>>) = results
        .iter()
        .filter_map(|(id, attempts, sent)| Some((Some(*id), Some(verdict(sent, *attempts)?.to_owned()))))
        .unzip();
    if ids.is_empty() {
        return Ok(());
    }
    db::execute(
        connection,
        "UPDATE push_outbox o SET sent_at = now(), outcome = r.outcome, claimed_until = NULL
         FROM unnest($1::bigint[], $2::text[]) AS r(id, outcome) WHERE o.id = r.id",
        vec![ParameterValue::ArrayInt64(ids), ParameterValue::ArrayStr(outcomes)],
    )
    .await?;
    Ok(())
}
