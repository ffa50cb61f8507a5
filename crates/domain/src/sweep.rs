//! The scheduled sweep: its limits, and the decisions it takes from what
//! LiveKit reports. The SQL that finds due rows lives with the component; the
//! rules for what an answer means live here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::roomservice::RetrySchedule;

/// Every deadline of the seed, in seconds, and the batch size. Each is a variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepLimits {
    pub initiate_timeout_seconds: u64,
    pub ring_timeout_seconds: u64,
    pub join_timeout_seconds: u64,
    pub call_idle_warning_seconds: u64,
    pub call_max_seconds: u64,
    pub host_grace_seconds: u64,
    pub orphan_stale_seconds: u64,
    pub sweep_batch_size: u64,
    /// `webhook_events`, presence rows of ended rooms, `push_log` and sent
    /// `push_outbox` rows older than this are purged.
    pub webhook_event_retention_days: u64,
    /// Terminal calls (`busy` rows included) ended longer ago are purged.
    pub call_retention_days: u64,
    /// A run does no new work after this many seconds, and every outbound
    /// call's timeout is cut to the time left.
    pub sweep_deadline_seconds: u64,
}

impl Default for SweepLimits {
    /// The seed's values: 5 s, 30 s, 30 s, 5 min, 4 h, 30 s, 30 min; batches
    /// of 500; events kept 7 days, calls 90; a run stops after 20 s.
    fn default() -> Self {
        Self {
            initiate_timeout_seconds: 5,
            ring_timeout_seconds: 30,
            join_timeout_seconds: 30,
            call_idle_warning_seconds: 300,
            call_max_seconds: 14_400,
            host_grace_seconds: 30,
            orphan_stale_seconds: 1_800,
            sweep_batch_size: 500,
            webhook_event_retention_days: 7,
            call_retention_days: 90,
            sweep_deadline_seconds: 20,
        }
    }
}

impl SweepLimits {
    /// The variable names, in a fixed order.
    pub const VARIABLES: [&'static str; 11] = [
        "initiate_timeout_seconds",
        "ring_timeout_seconds",
        "join_timeout_seconds",
        "call_idle_warning_seconds",
        "call_max_seconds",
        "host_grace_seconds",
        "orphan_stale_seconds",
        "sweep_batch_size",
        "webhook_event_retention_days",
        "call_retention_days",
        "sweep_deadline_seconds",
    ];

    /// Limits from variable values (`None` or empty = the default). A value
    /// that is not a positive integer is an error naming the variable.
    pub fn from_variables(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults = Self::default();
        let read = |name: &str, default: u64| -> Result<u64, String> {
            match get(name).filter(|v| !v.trim().is_empty()) {
                None => Ok(default),
                Some(text) => match text.trim().parse::<u64>() {
                    Ok(value) if value > 0 && value <= 10_000_000 => Ok(value),
                    _ => Err(format!("variable {name} must be a positive integer, got {text:?}")),
                },
            }
        };
        Ok(Self {
            initiate_timeout_seconds: read("initiate_timeout_seconds", defaults.initiate_timeout_seconds)?,
            ring_timeout_seconds: read("ring_timeout_seconds", defaults.ring_timeout_seconds)?,
            join_timeout_seconds: read("join_timeout_seconds", defaults.join_timeout_seconds)?,
            call_idle_warning_seconds: read("call_idle_warning_seconds", defaults.call_idle_warning_seconds)?,
            call_max_seconds: read("call_max_seconds", defaults.call_max_seconds)?,
            host_grace_seconds: read("host_grace_seconds", defaults.host_grace_seconds)?,
            orphan_stale_seconds: read("orphan_stale_seconds", defaults.orphan_stale_seconds)?,
            sweep_batch_size: read("sweep_batch_size", defaults.sweep_batch_size)?,
            webhook_event_retention_days: read("webhook_event_retention_days", defaults.webhook_event_retention_days)?,
            call_retention_days: read("call_retention_days", defaults.call_retention_days)?,
            sweep_deadline_seconds: read("sweep_deadline_seconds", defaults.sweep_deadline_seconds)?,
        })
    }

    /// How long a run holds the sweep's lease: its deadline plus time for
    /// the statements of the step it was in. A run that dies keeps the other
    /// instances out no longer than this.
    pub fn lease_seconds(&self) -> u64 {
        self.sweep_deadline_seconds + LEASE_MARGIN_SECONDS
    }
}

/// Time a run's lease outlives its deadline.
const LEASE_MARGIN_SECONDS: u64 = 10;

/// Below this much time left, a run starts no outbound call.
pub const MIN_TIME_FOR_A_CALL: Duration = Duration::from_secs(1);

/// `schedule` with its per-attempt timeout cut to `remaining`, or `None`
/// when less than [`MIN_TIME_FOR_A_CALL`] is left: the work waits for the
/// next run. The caller also bounds the whole call (retries and backoff)
/// by `remaining`.
pub fn schedule_within(schedule: RetrySchedule, remaining: Duration) -> Option<RetrySchedule> {
    (remaining >= MIN_TIME_FOR_A_CALL).then(|| RetrySchedule { timeout: schedule.timeout.min(remaining), ..schedule })
}

/// What LiveKit's participant list says about an answered call whose join
/// deadline passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinVerdict {
    /// Caller and callee are both in the room: the call is live (the
    /// webhook that would have said so was lost).
    BothPresent,
    /// One party or none: the join deadline fails the call.
    NotBoth,
}

/// Reads a `ListParticipants` answer (`{"participants": [{"identity",
/// "state"}]}`) for a call between `caller` and `callee` (their identities,
/// our user ids). A participant LiveKit reports `DISCONNECTED` is leaving and
/// does not count. `None` when the answer is not that shape: the caller
/// treats it like a LiveKit error and ends nothing.
pub fn join_verdict(answer: &Value, caller: &str, callee: &str) -> Option<JoinVerdict> {
    let participants = match answer.get("participants") {
        // protojson leaves out empty lists.
        None | Some(Value::Null) => return Some(JoinVerdict::NotBoth),
        Some(Value::Array(participants)) => participants,
        Some(_) => return None,
    };
    let mut present = Vec::new();
    for participant in participants {
        let identity = participant.get("identity")?.as_str()?;
        // ParticipantInfo.State: JOINING 0 (left out), JOINED 1, ACTIVE 2, DISCONNECTED 3.
        let leaving = match participant.get("state") {
            None | Some(Value::Null) => false,
            Some(Value::String(state)) => state == "DISCONNECTED",
            Some(Value::Number(state)) => state.as_u64() == Some(3),
            Some(_) => return None,
        };
        if !leaving {
            present.push(identity);
        }
    }
    Some(if present.contains(&caller) && present.contains(&callee) { JoinVerdict::BothPresent } else { JoinVerdict::NotBoth })
}

/// Seconds call-initiate may still need after its push deadline: the guarded
/// move to `ringing` (and the connection it runs on) comes after the push.
pub const INITIATE_AFTER_PUSH_SECONDS: u64 = 5;

impl SweepLimits {
    /// How old an `initiated` call must be before the sweep fails it
    /// (`push_timeout`): `initiate_timeout_seconds`, but never before
    /// call-initiate's own push (`push_timeout_seconds`) and the statement
    /// after it can have finished. With equal values the sweep could fail a
    /// call whose push the provider had just accepted.
    pub fn initiate_deadline_seconds(&self, push_timeout_seconds: u64) -> u64 {
        self.initiate_timeout_seconds.max(push_timeout_seconds.saturating_add(INITIATE_AFTER_PUSH_SECONDS))
    }
}

/// What the orphan check concludes about one stale `live` session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrphanVerdict {
    /// The room is gone or empty: end the session (`orphaned_cleanup`).
    End,
    /// Someone is there: the session is alive; touch `updated_at`.
    Alive,
}

/// Reads a `ListRooms` answer (`{"rooms": [{"name", "numParticipants"}]}`)
/// into participant counts by room name. `None` when the answer is not that
/// shape: the caller treats it like a LiveKit error and ends nothing.
pub fn room_participants(answer: &Value) -> Option<BTreeMap<String, u64>> {
    let rooms = match answer.get("rooms") {
        // protojson leaves out empty lists.
        None | Some(Value::Null) => return Some(BTreeMap::new()),
        Some(Value::Array(rooms)) => rooms,
        Some(_) => return None,
    };
    let mut counts = BTreeMap::new();
    for room in rooms {
        let name = room.get("name")?.as_str()?.to_owned();
        let participants = match room.get("numParticipants").or_else(|| room.get("num_participants")) {
            None | Some(Value::Null) => 0,
            Some(Value::Number(n)) => n.as_u64()?,
            Some(Value::String(s)) => s.parse().ok()?,
            Some(_) => return None,
        };
        counts.insert(name, participants);
    }
    Some(counts)
}

/// The verdict for `room` given the counts LiveKit reported for the batch.
pub fn orphan_verdict(room: &str, counts: &BTreeMap<String, u64>) -> OrphanVerdict {
    match counts.get(room) {
        Some(&participants) if participants > 0 => OrphanVerdict::Alive,
        _ => OrphanVerdict::End,
    }
}

/// The data message a live call gets when nobody has published media for a while.
pub fn idle_warning(call_id: &str, idle_seconds: u64) -> Vec<u8> {
    serde_json::json!({ "type": "idle_warning", "callId": call_id, "idleSeconds": idle_seconds }).to_string().into_bytes()
}

/// The topic of system messages to a room.
pub const SYSTEM_TOPIC: &str = "system";

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepSummary {
    /// Rows changed per step.
    pub steps: BTreeMap<&'static str, u64>,
    /// LiveKit calls that failed (nothing was ended because of them).
    pub livekit_errors: u64,
    /// Per step that filled its batch: due rows left for the next run.
    pub left_for_next_run: BTreeMap<&'static str, u64>,
    pub duration_ms: u64,
    /// The run met `sweep_deadline_seconds` and left work for the next one.
    #[serde(skip_serializing_if = "is_false")]
    pub deadline_reached: bool,
    /// Why the run did nothing: another run holds the sweep's lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
}

/// [`SweepSummary::skipped`] when another run holds the lease.
pub const SKIPPED_LEASE_HELD: &str = "another run holds the sweep lease";

fn is_false(value: &bool) -> bool {
    !*value
}

impl SweepSummary {
    /// Adds `count` to `step`.
    pub fn add(&mut self, step: &'static str, count: u64) {
        *self.steps.entry(step).or_default() += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initiate_deadline_outlasts_the_push() {
        let limits = |initiate| SweepLimits { initiate_timeout_seconds: initiate, ..SweepLimits::default() };
        for (initiate, push, expected) in [(5, 5, 10), (5, 1, 6), (30, 5, 30), (10, 5, 10), (1, 20, 25), (5, u64::MAX, u64::MAX)] {
            assert_eq!(limits(initiate).initiate_deadline_seconds(push), expected, "initiate {initiate}, push {push}");
        }
    }
    use serde_json::json;

    #[test]
    fn limits_from_variables() {
        assert_eq!(SweepLimits::from_variables(|_| None), Ok(SweepLimits::default()));
        let limits = SweepLimits::from_variables(|name| (name == "ring_timeout_seconds").then(|| "45".to_owned())).unwrap();
        assert_eq!(limits.ring_timeout_seconds, 45);
        for bad in ["0", "-1", "ten", "1.5"] {
            assert!(SweepLimits::from_variables(|name| (name == "sweep_batch_size").then(|| bad.to_owned())).unwrap_err().contains("sweep_batch_size"));
        }
        assert_eq!(SweepLimits::VARIABLES.len(), 11);
        let limits = SweepLimits::from_variables(|name| (name == "call_retention_days").then(|| "30".to_owned())).unwrap();
        assert_eq!((limits.call_retention_days, limits.webhook_event_retention_days), (30, 7));
        assert_eq!(SweepLimits::default().lease_seconds(), 30);
    }

    #[test]
    fn outbound_calls_fit_in_the_time_left() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule_within(schedule, Duration::from_secs(60)), Some(schedule));
        let cut = schedule_within(schedule, Duration::from_millis(2_500)).unwrap();
        assert_eq!((cut.timeout, cut.attempts), (Duration::from_millis(2_500), schedule.attempts));
        assert_eq!(schedule_within(schedule, Duration::from_millis(999)), None);
        assert_eq!(schedule_within(schedule, Duration::ZERO), None);
    }

    #[test]
    fn join_verdicts() {
        use JoinVerdict::*;
        let check = |answer: Value| join_verdict(&answer, "caller", "callee");
        let one = |identity: &str, state: Value| json!({"sid": "PA_1", "identity": identity, "state": state});
        assert_eq!(check(json!({"participants": [one("caller", json!("ACTIVE")), one("callee", json!("JOINED"))]})), Some(BothPresent));
        assert_eq!(check(json!({"participants": [one("callee", Value::Null), {"identity": "caller"}]})), Some(BothPresent), "JOINING is left out by protojson");
        assert_eq!(check(json!({"participants": [one("caller", json!(2)), one("callee", json!(1))]})), Some(BothPresent));
        assert_eq!(check(json!({"participants": [one("caller", json!("ACTIVE"))]})), Some(NotBoth));
        assert_eq!(check(json!({"participants": [one("caller", json!("ACTIVE")), one("callee", json!("DISCONNECTED"))]})), Some(NotBoth));
        assert_eq!(check(json!({"participants": [one("caller", json!("ACTIVE")), one("callee", json!(3))]})), Some(NotBoth));
        assert_eq!(check(json!({"participants": [one("caller", json!("ACTIVE")), one("someone", json!("ACTIVE"))]})), Some(NotBoth));
        assert_eq!(check(json!({})), Some(NotBoth), "protojson omits an empty list");
        assert_eq!(check(json!({"participants": "x"})), None);
        assert_eq!(check(json!({"participants": [{"state": "ACTIVE"}]})), None);
        assert_eq!(check(json!({"participants": [one("caller", json!(true))]})), None);
    }

    #[test]
    fn summary_says_skipped_and_deadline_only_when_so() {
        let quiet = serde_json::to_value(SweepSummary::default()).unwrap();
        assert!(quiet.get("skipped").is_none() && quiet.get("deadlineReached").is_none());
        let skipped = SweepSummary { skipped: Some(SKIPPED_LEASE_HELD), deadline_reached: true, ..SweepSummary::default() };
        let skipped = serde_json::to_value(skipped).unwrap();
        assert_eq!((skipped["skipped"].as_str(), skipped["deadlineReached"].as_bool()), (Some(SKIPPED_LEASE_HELD), Some(true)));
    }

    #[test]
    fn orphan_verdicts() {
        let counts = room_participants(&json!({"rooms": [
            {"sid": "RM_1", "name": "live_a", "numParticipants": 2},
            {"sid": "RM_2", "name": "live_b"},
            {"sid": "RM_3", "name": "live_c", "numParticipants": "1"},
        ]}))
        .unwrap();
        assert_eq!(orphan_verdict("live_a", &counts), OrphanVerdict::Alive);
        assert_eq!(orphan_verdict("live_b", &counts), OrphanVerdict::End, "protojson omits a zero count");
        assert_eq!(orphan_verdict("live_c", &counts), OrphanVerdict::Alive);
        assert_eq!(orphan_verdict("live_gone", &counts), OrphanVerdict::End);
        assert_eq!(room_participants(&json!({})), Some(BTreeMap::new()));
        assert_eq!(room_participants(&json!({"rooms": 5})), None);
        assert_eq!(room_participants(&json!({"rooms": [{"numParticipants": 1}]})), None);
        assert_eq!(room_participants(&json!({"rooms": [{"name": "x", "numParticipants": -1}]})), None);
    }

    #[test]
    fn idle_warning_shape() {
        let message: Value = serde_json::from_slice(&idle_warning("c1", 300)).unwrap();
        assert_eq!(message, json!({"type": "idle_warning", "callId": "c1", "idleSeconds": 300}));
    }
}
