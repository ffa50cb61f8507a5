//! The soak's verdicts: the database, the fakes and the client's journal
//! held against each other once the load has stopped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

use super::client::Attempt;
use super::report::{Check, DownWindow};
use super::scenario::{is_terminal, CallHistory, Journal};

/// A call row as the database holds it at the end.
#[derive(Clone, Debug)]
pub struct CallRow {
    pub status: String,
    pub end_reason: Option<String>,
    pub rang: bool,
    pub accepted: bool,
    pub live: bool,
}

/// Everything the checks read.
pub struct Evidence<'a> {
    pub journal: &'a Journal,
    pub attempts: &'a [Attempt],
    pub down: &'a [DownWindow],
    /// How long after an instance is back a 5xx still counts as its outage.
    pub grace: Duration,
    /// Every push the fake provider received.
    pub pushes: Vec<Push>,
    pub db: DatabaseFacts,
}

/// A push the fake provider received.
#[derive(Clone, Debug)]
pub struct Push {
    /// When it arrived, since the soak started.
    pub at: Duration,
    pub body: Value,
}

/// How close to a kill a sender's last push may have arrived for its lost
/// verdict to be the kill's doing: the kill is timed before the signal is
/// sent, and recording a verdict takes milliseconds, seconds on a loaded
/// machine.
const KILLED_SENDER_SLACK: Duration = Duration::from_secs(2);

/// What the database says at the end.
pub struct DatabaseFacts {
    pub calls: HashMap<Uuid, CallRow>,
    /// `push_outbox`: (call, token) → (sent, claims).
    pub outbox: BTreeMap<(Uuid, String), (bool, i32)>,
    /// Every (call, token) a ring reached and that ring ended.
    pub rings_ended: BTreeSet<(Uuid, String)>,
    /// `webhook_events` ids.
    pub webhook_ids: BTreeSet<String>,
    /// Users in two active calls at the end.
    pub doubled_parties: i64,
    /// Active calls past a deadline after the final sweep.
    pub overdue: i64,
    pub active: i64,
}

/// Loads what the checks need from the database.
pub async fn load(sql: &tokio_postgres::Client, ring_timeout: u64, join_timeout: u64, initiate_timeout: u64) -> anyhow::Result<DatabaseFacts> {
    let mut calls = HashMap::new();
    for row in sql.query("SELECT id, status, end_reason, ringing_at IS NOT NULL, accepted_at IS NOT NULL, live_at IS NOT NULL FROM calls", &[]).await? {
        calls.insert(row.get::<_, Uuid>(0), CallRow { status: row.get(1), end_reason: row.get(2), rang: row.get(3), accepted: row.get(4), live: row.get(5) });
    }
    let mut outbox = BTreeMap::new();
    for row in sql.query("SELECT call_id, token, sent_at IS NOT NULL, attempts FROM push_outbox", &[]).await? {
        outbox.insert((row.get::<_, Uuid>(0), row.get::<_, String>(1)), (row.get::<_, bool>(2), row.get::<_, i32>(3)));
    }
    // A ring ended when the call left `ringing` after reaching it, or ended
    // from `initiated` while its push may have left (migration 0020); it
    // reached the devices recorded then (all of the callee's when none were).
    let mut rings_ended = BTreeSet::new();
    for row in sql
        .query(
            "SELECT c.id, t FROM calls c,
                 unnest(COALESCE(c.rung_tokens, ARRAY(SELECT token FROM push_tokens p WHERE p.user_id = c.callee_id))) AS t
             WHERE (c.ringing_at IS NOT NULL AND c.status <> 'ringing')
                OR (c.ringing_at IS NULL AND c.end_reason IN ('push_failed', 'push_timeout', 'cancelled'))",
            &[],
        )
        .await?
    {
        rings_ended.insert((row.get::<_, Uuid>(0), row.get::<_, String>(1)));
    }
    let webhook_ids = sql.query("SELECT id FROM webhook_events", &[]).await?.iter().map(|row| row.get::<_, String>(0)).collect();
    let doubled_parties: i64 = sql
        .query_one(
            "SELECT count(*) FROM (SELECT party FROM calls, unnest(ARRAY[caller_id, callee_id]) AS party
             WHERE status IN ('initiated', 'ringing', 'accepted', 'live') GROUP BY party HAVING count(*) > 1) doubled",
            &[],
        )
        .await?
        .get(0);
    let overdue: i64 = sql
        .query_one(
            "SELECT count(*) FROM calls WHERE
                 (status = 'initiated' AND created_at < now() - make_interval(secs => $1))
              OR (status = 'ringing' AND ringing_at < now() - make_interval(secs => $2))
              OR (status = 'accepted' AND accepted_at < now() - make_interval(secs => $3))",
            &[&(initiate_timeout as f64), &(ring_timeout as f64), &(join_timeout as f64)],
        )
        .await?
        .get(0);
    let active: i64 = sql.query_one("SELECT count(*) FROM calls WHERE status IN ('initiated', 'ringing', 'accepted', 'live')", &[]).await?.get(0);
    Ok(DatabaseFacts {
        calls,
        outbox,
        rings_ended,
        webhook_ids,
        doubled_parties,
        overdue,
        active,
    })
}

/// The end reason a status implies when the client saw none.
fn implied_reason(status: &str) -> Option<&'static str> {
    match status {
        "rejected" => Some("rejected"),
        "cancelled" => Some("cancelled"),
        "missed" => Some("no_answer"),
        "ended" => Some("user_ended"),
        "busy" => Some("busy"),
        _ => None,
    }
}

/// Every verdict, in the order the report prints them.
pub fn evaluate(evidence: &Evidence<'_>) -> Vec<Check> {
    vec![
        explained(evidence),
        nothing_lost(evidence),
        nothing_twice(evidence),
        rings(evidence),
        stop_ringing(evidence),
        webhooks(evidence),
        failures(evidence),
        busy(evidence),
        deadlines(evidence),
    ]
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check { name, passed, detail }
}

/// Every call the client started is in the state its answers explain.
fn explained(evidence: &Evidence<'_>) -> Check {
    let histories = &evidence.journal.calls;
    let mut wrong = Vec::new();
    let mut untracked = 0;
    for history in histories {
        let Some(row) = evidence.db.calls.get(&history.id) else {
            wrong.push(format!("{}: no row", history.id));
            continue;
        };
        let (status, reason) = history.believed();
        match status.as_deref() {
            Some(status) if is_terminal(status) => {
                // A failed call's reason is the system's (push, join, network).
                let reason = reason.as_deref().or(implied_reason(status));
                if row.status != status || reason.is_some_and(|reason| row.end_reason.as_deref() != Some(reason)) {
                    wrong.push(format!("{}: client {status}/{reason:?}, database {}/{:?}", history.id, row.status, row.end_reason));
                }
            }
            // The client lost track: only the sweep could have ended it.
            _ => {
                untracked += 1;
                if !is_terminal(&row.status) {
                    wrong.push(format!("{}: lost by the client and still {}", history.id, row.status));
                }
            }
        }
    }
    let foreign = evidence.db.calls.len().saturating_sub(histories.len());
    let allowed_foreign = evidence.journal.wrong_busy + evidence.journal.initiations_unknown;
    if foreign as u64 > allowed_foreign {
        wrong.push(format!("{foreign} calls no answer told the client about"));
    }
    let detail = format!(
        "{} calls, {} as the client was told, {untracked} the client lost track of, {} mismatched{}",
        histories.len(),
        histories.len() - untracked - wrong.len().min(histories.len() - untracked),
        wrong.len(),
        sample(&wrong)
    );
    check("every call in a state its history explains", wrong.is_empty(), detail)
}

/// Every success the client got is in the database: an accept's
/// `accepted_at`, a webhook's `live`, every terminal status.
fn nothing_lost(evidence: &Evidence<'_>) -> Check {
    let mut lost = Vec::new();
    let mut confirmed = 0;
    for history in &evidence.journal.calls {
        let Some(row) = evidence.db.calls.get(&history.id) else { continue };
        for step in history.steps.iter().filter(|step| step.status.is_some_and(|status| (200..300).contains(&status))) {
            let Some(status) = step.call_status.as_deref() else { continue };
            confirmed += 1;
            let kept = match status {
                "ringing" => true,
                "accepted" => row.accepted,
                "live" => row.live,
                terminal => row.status == terminal,
            };
            if !kept {
                lost.push(format!("{} {}: told {status}, database {}", history.id, step.what, row.status));
            }
        }
    }
    check("no transition lost", lost.is_empty(), format!("{confirmed} successful answers checked, {} not reflected{}", lost.len(), sample(&lost)))
}

/// A transition happens once: at most one `changed: true` per action, and
/// one end per call whichever way it came (an `end` or a webhook's leave).
fn nothing_twice(evidence: &Evidence<'_>) -> Check {
    let mut twice = Vec::new();
    let mut repeats = 0;
    for history in &evidence.journal.calls {
        let mut changes: BTreeMap<&str, usize> = BTreeMap::new();
        for step in &history.steps {
            let action = step.what.rsplit(' ').next().unwrap_or("");
            if step.changed == Some(true) {
                let kind = if action == "end" { "ended" } else { action };
                *changes.entry(kind).or_default() += 1;
            }
            if step.changed == Some(false) {
                repeats += 1;
            }
            if step.outcome.as_deref() == Some("applied: call ended") {
                *changes.entry("ended").or_default() += 1;
            }
        }
        for (kind, count) in changes {
            if count > 1 {
                twice.push(format!("{} {kind} {count} times", history.id));
            }
        }
    }
    check("no transition applied twice", twice.is_empty(), format!("{repeats} repeats answered changed:false, {} applied twice{}", twice.len(), sample(&twice)))
}

/// How the rings went, call by call.
#[derive(Clone, Debug, Default)]
pub struct Rings {
    /// Ring pushes received.
    pub pushes: usize,
    /// Calls rung other than once although their row reached `ringing`
    /// (or rung although it never did, and not stranded).
    pub wrong: usize,
    /// Calls whose instance rang the callee and died before recording
    /// `ringing`: the row never says it rang; ended from `initiated`, their
    /// devices still get a stop-ringing push (checked with the others).
    pub rang_unrecorded: usize,
    pub examples: Vec<String>,
}

/// Tallies the ring pushes against the calls.
pub fn ring_tally(evidence: &Evidence<'_>) -> Rings {
    let mut rings: HashMap<String, usize> = HashMap::new();
    for push in evidence.pushes.iter().map(|push| &push.body) {
        if push["data"]["type"] == "incoming_call" {
            *rings.entry(push["data"]["callId"].as_str().unwrap_or("").to_owned()).or_default() += 1;
        }
    }
    let mut tally = Rings { pushes: rings.values().sum(), ..Rings::default() };
    for history in &evidence.journal.calls {
        let count = rings.get(&history.id.to_string()).copied().unwrap_or(0);
        let recorded = evidence.db.calls.get(&history.id).is_some_and(|row| row.rang);
        match (recorded, count) {
            (true, 1) | (false, 0) => continue,
            (false, 1) if history.plan == super::scenario::Plan::Stranded => {
                tally.rang_unrecorded += 1;
                continue;
            }
            _ => tally.wrong += 1,
        }
        tally.examples.push(format!("call {} rang {count} times, its row {}", history.id, if recorded { "rang" } else { "never rang" }));
    }
    tally
}

/// Each call that reached `ringing` rang its callee's devices once, resends
/// included; one that never did rang nobody.
fn rings(evidence: &Evidence<'_>) -> Check {
    let tally = ring_tally(evidence);
    check(
        "every call rang once",
        tally.wrong == 0,
        format!(
            "{} ring pushes for {} calls; {} rang other than once, {} rang by an instance that died before recording it (stopped from `initiated`){}",
            tally.pushes,
            evidence.journal.calls.len(),
            tally.wrong,
            tally.rang_unrecorded,
            sample(&tally.examples)
        ),
    )
}

/// How the stop-ringing pushes went, device by device.
#[derive(Clone, Debug, Default)]
pub struct StopRinging {
    /// Devices a ring reached whose ring ended.
    pub devices: usize,
    /// `call_ended` pushes received, per device summed.
    pub received: usize,
    /// Devices that got none, or were never queued.
    pub missing: usize,
    /// Devices that got more than one although their row was claimed once:
    /// a real double send.
    pub doubled: usize,
    /// Devices that got more than one because a sender claimed the row and
    /// gave no verdict within its lease, so another sent it again, although
    /// no kill explains it.
    pub resent_after_lost_verdict: usize,
    /// Devices that got a second push because the instance that sent the
    /// first was killed before it could record the provider's answer: no
    /// sender can know whether a push it never recorded went out, so the
    /// row is sent again once its lease ends (the kit handles a repeated
    /// `call_ended` as any other).
    pub resent_after_killed_sender: usize,
    /// Pushes for a ring that did not end, and rows never sent.
    pub stray: usize,
    pub examples: Vec<String>,
}

/// Tallies the stop-ringing pushes against the rings that ended.
pub fn stop_ringing_tally(evidence: &Evidence<'_>) -> StopRinging {
    // When each copy arrived, per device.
    let mut received: BTreeMap<(Uuid, String), Vec<Duration>> = BTreeMap::new();
    for push in evidence.pushes.iter().filter(|push| push.body["data"]["type"] == "call_ended") {
        let Some(call) = push.body["data"]["callId"].as_str().and_then(|id| id.parse::<Uuid>().ok()) else { continue };
        let tokens: Vec<String> = match &push.body["to"] {
            Value::String(token) => vec![token.clone()],
            Value::Array(tokens) => tokens.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        };
        for token in tokens {
            received.entry((call, token)).or_default().push(push.at);
        }
    }
    let near_a_kill = |at: Duration| {
        evidence.down.iter().any(|window| at + KILLED_SENDER_SLACK >= window.killed_at && at <= window.killed_at + KILLED_SENDER_SLACK)
    };
    let mut tally = StopRinging { devices: evidence.db.rings_ended.len(), received: received.values().map(Vec::len).sum(), ..StopRinging::default() };
    for device in &evidence.db.rings_ended {
        let copies = received.get(device).map_or(&[][..], Vec::as_slice);
        let count = copies.len();
        let claims = evidence.db.outbox.get(device).map_or(0, |row| row.1);
        if count == 0 || claims == 0 {
            tally.missing += 1;
        } else if count == 2 && claims == 2 && near_a_kill(copies[0]) {
            tally.resent_after_killed_sender += 1;
        } else if count > 1 && claims > 1 {
            tally.resent_after_lost_verdict += 1;
        } else if count > 1 {
            tally.doubled += 1;
        } else {
            continue;
        }
        let arrivals: Vec<String> = copies.iter().map(|at| format!("{:.2} s", at.as_secs_f64())).collect();
        tally.examples.push(format!("call {} {} got {count} (at {}), claimed {claims} times", device.0, device.1, arrivals.join(", ")));
    }
    tally.stray = received.keys().filter(|device| !evidence.db.rings_ended.contains(device)).count()
        + evidence.db.outbox.values().filter(|(sent, _)| !*sent).count();
    tally
}

/// Every device a ring reached got exactly one stop-ringing push once the ring ended.
fn stop_ringing(evidence: &Evidence<'_>) -> Check {
    let tally = stop_ringing_tally(evidence);
    let passed = tally.missing + tally.doubled + tally.resent_after_lost_verdict + tally.stray == 0;
    check(
        "every stop-ringing push sent once",
        passed,
        format!(
            "{} devices whose ring ended, {} pushes; {} missing, {} sent twice by one claim, {} sent again after a sender lost its verdict (lease) with no kill to explain it, {} sent again because their sender was killed before recording the provider's answer (allowed), {} stray{}",
            tally.devices,
            tally.received,
            tally.missing,
            tally.doubled,
            tally.resent_after_lost_verdict,
            tally.resent_after_killed_sender,
            tally.stray,
            sample(&tally.examples)
        ),
    )
}

/// Each webhook the app acknowledged is recorded once; a second delivery
/// of an event already acknowledged is a duplicate.
fn webhooks(evidence: &Evidence<'_>) -> Check {
    let mut wrong = Vec::new();
    let mut acknowledged = BTreeSet::new();
    let mut repeats = 0;
    for delivery in &evidence.journal.deliveries {
        let ok = delivery.status == Some(200);
        if delivery.repeat && ok {
            repeats += 1;
            if acknowledged.contains(&delivery.event_id) && delivery.outcome.as_deref() != Some("duplicate") {
                wrong.push(format!("{} applied again: {:?}", delivery.event_id, delivery.outcome));
            }
        }
        if ok {
            acknowledged.insert(delivery.event_id.clone());
        }
    }
    for id in &acknowledged {
        if !evidence.db.webhook_ids.contains(id) {
            wrong.push(format!("{id} acknowledged but not recorded"));
        }
    }
    let unacknowledged = evidence.journal.deliveries.iter().map(|d| &d.event_id).collect::<BTreeSet<_>>().len() - acknowledged.len();
    check(
        "every webhook applied once",
        wrong.is_empty() && unacknowledged == 0,
        format!("{} events acknowledged, {} recorded, {repeats} repeated deliveries, {unacknowledged} never acknowledged{}", acknowledged.len(), evidence.db.webhook_ids.len(), sample(&wrong)),
    )
}

/// 5xx (and silence) only while an instance was down, each retried to a definite answer.
fn failures(evidence: &Evidence<'_>) -> Check {
    let during = |attempt: &Attempt| {
        let at = attempt.finished_at();
        evidence.down.iter().any(|window| at >= window.killed_at && at <= window.back_at + evidence.grace)
    };
    let failed: Vec<&Attempt> = evidence.attempts.iter().filter(|attempt| attempt.failed_on_our_side()).collect();
    let outside: Vec<String> = failed
        .iter()
        .filter(|attempt| !during(attempt))
        .map(|attempt| format!("{} {:?} {} at {:.1} s", attempt.route.path(), attempt.status, attempt.code, attempt.finished_at().as_secs_f64()))
        .collect();
    // The last attempt of each exchange that ever failed.
    let mut last: HashMap<u64, &Attempt> = HashMap::new();
    for attempt in evidence.attempts {
        let entry = last.entry(attempt.exchange).or_insert(attempt);
        if attempt.number > entry.number {
            *entry = attempt;
        }
    }
    let failed_exchanges: BTreeSet<u64> = failed.iter().map(|attempt| attempt.exchange).collect();
    let given_up: Vec<String> = failed_exchanges
        .iter()
        .filter_map(|exchange| last.get(exchange))
        .filter(|attempt| attempt.failed_on_our_side())
        .map(|attempt| format!("{} gave up after {} attempts: {}", attempt.route.path(), attempt.number, attempt.code))
        .collect();
    let mut by_code: BTreeMap<String, usize> = BTreeMap::new();
    for attempt in &failed {
        *by_code.entry(attempt.status.map_or("none".to_owned(), |status| status.to_string())).or_default() += 1;
    }
    let stranded_outside: Vec<String> = evidence
        .journal
        .stranded
        .iter()
        .filter(|(at, _)| !evidence.down.iter().any(|window| *at >= window.killed_at && *at <= window.back_at + evidence.grace))
        .map(|(at, call)| format!("call-initiate stranded {call} at {:.1} s", at.as_secs_f64()))
        .collect();
    let mut problems = outside.clone();
    problems.extend(given_up.iter().cloned());
    problems.extend(stranded_outside.iter().cloned());
    check(
        "no 5xx outside the down window, each retried",
        problems.is_empty(),
        format!(
            "{} failed attempts ({by_code:?}), {} outside the window, {} requests retried to an answer, {} gave up; {} call-initiates answered 409 with a call that never rang (first request died with the instance), {} outside the window{}",
            failed.len(),
            outside.len(),
            failed_exchanges.len() - given_up.len(),
            given_up.len(),
            evidence.journal.stranded.len(),
            stranded_outside.len(),
            sample(&problems)
        ),
    )
}

/// Nobody in two active calls, and no BUSY between users the client knew idle.
fn busy(evidence: &Evidence<'_>) -> Check {
    check(
        "nobody in two calls, no wrong BUSY",
        evidence.db.doubled_parties == 0 && evidence.journal.wrong_busy == 0,
        format!("{} users in two active calls, {} BUSY between idle users", evidence.db.doubled_parties, evidence.journal.wrong_busy),
    )
}

/// After the final sweep nothing is past a deadline; the client left no call open.
fn deadlines(evidence: &Evidence<'_>) -> Check {
    let unexpected = &evidence.journal.unexpected;
    check(
        "no call past its deadlines, no unexpected answer",
        evidence.db.overdue == 0 && unexpected.is_empty(),
        format!(
            "{} active calls at the end, {} past a deadline, {} unexpected answers, {} initiations unanswered, {} users set aside{}",
            evidence.db.active,
            evidence.db.overdue,
            unexpected.len(),
            evidence.journal.initiations_unknown,
            evidence.journal.quarantined,
            sample(unexpected)
        ),
    )
}

/// The first few items, for a failure's detail.
fn sample(items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
    format!(" (e.g. {})", shown.join("; "))
}

/// Calls by plan, for the report.
pub fn plans(histories: &[CallHistory]) -> Vec<(String, usize)> {
    super::scenario::tally(histories.iter().map(|history| format!("{:?}", history.plan).to_lowercase())).into_iter().collect()
}
