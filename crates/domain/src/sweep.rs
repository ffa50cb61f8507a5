//! The scheduled sweep: its limits, and the decisions it takes from what
//! LiveKit reports. The SQL that finds due rows lives with the component; the
//! rules for what an answer means live here.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

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
}

impl Default for SweepLimits {
    /// The seed's values: 5 s, 30 s, 30 s, 5 min, 4 h, 30 s, 30 min; batches of 500.
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
        }
    }
}

impl SweepLimits {
    /// The variable names, in a fixed order.
    pub const VARIABLES: [&'static str; 8] = [
        "initiate_timeout_seconds",
        "ring_timeout_seconds",
        "join_timeout_seconds",
        "call_idle_warning_seconds",
        "call_max_seconds",
        "host_grace_seconds",
        "orphan_stale_seconds",
        "sweep_batch_size",
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
        })
    }
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
        assert_eq!(SweepLimits::VARIABLES.len(), 8);
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
