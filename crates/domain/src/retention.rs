//! What the sweep purges, and when: one batched DELETE per table, each
//! walking an index on the row's age (migration 0017) so a purge reads only
//! the rows it deletes. `tests/tests/sweep.rs` proves each is an index scan
//! with `EXPLAIN`.
//!
//! Every statement takes `$1`, the age in seconds past which a row goes,
//! and `$2`, the batch size. `FOR UPDATE SKIP LOCKED`: a row another writer
//! holds is left for the next run instead of waited for.

use crate::call::{CallStatus, ACTIVE};
use crate::session::SessionStatus;
use crate::sweep::SweepLimits;

/// Which retention variable a purge follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// `webhook_event_retention_days`: audit and bookkeeping rows.
    Events,
    /// `call_retention_days`: the call history.
    Calls,
}

/// One purge: the summary step it counts in, its table and its statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Purge {
    pub step: &'static str,
    pub table: &'static str,
    pub kept: Kept,
    pub statement: String,
}

impl Kept {
    /// The age in seconds past which a row goes.
    pub fn seconds(self, limits: &SweepLimits) -> u64 {
        let days = match self {
            Self::Events => limits.webhook_event_retention_days,
            Self::Calls => limits.call_retention_days,
        };
        days.saturating_mul(86_400)
    }
}

/// Every purge, in the order the sweep runs them.
pub fn purges() -> Vec<Purge> {
    let active_calls = sql_list(ACTIVE.iter().map(|status| status.as_str()));
    let terminal_calls = sql_list(CallStatus::ALL.iter().filter(|status| status.is_terminal()).map(|status| status.as_str()));
    let ended = SessionStatus::Ended.as_str();
    // A room's presence rows go only once nothing open uses the room: a
    // live call's reconnect grace and a session's host reads them.
    let room_closed = format!(
        "NOT EXISTS (SELECT 1 FROM calls c WHERE c.livekit_room_name = r.room_name AND c.status IN ({active_calls}))
         AND NOT EXISTS (SELECT 1 FROM live_sessions s WHERE s.livekit_room_name = r.room_name AND s.status <> '{ended}')"
    );
    let batched = |table: &str, key: &str, age: &str, extra: &str, also: &str| {
        let join = key.split(", ").map(|column| format!("t.{column} = due.{column}")).collect::<Vec<_>>().join(" AND ");
        format!(
            "WITH due AS (
                 SELECT {key} FROM {table} r
                 WHERE {age} < now() - make_interval(secs => $1){extra}
                 ORDER BY {age} LIMIT $2 FOR UPDATE SKIP LOCKED
             ){also}
             DELETE FROM {table} t USING due WHERE {join}"
        )
    };
    vec![
        Purge { step: "webhookEventsPurged", table: "webhook_events", kept: Kept::Events, statement: batched("webhook_events", "id", "received_at", "", "") },
        Purge {
            step: "roomParticipantsPurged",
            table: "room_participants",
            kept: Kept::Events,
            statement: batched("room_participants", "room_name, identity", "updated_at", &format!(" AND {room_closed}"), ""),
        },
        Purge {
            step: "roomTracksPurged",
            table: "room_tracks",
            kept: Kept::Events,
            statement: batched("room_tracks", "room_name, track_sid", "event_at", &format!(" AND {room_closed}"), ""),
        },
        Purge { step: "pushLogPurged", table: "push_log", kept: Kept::Events, statement: batched("push_log", "id", "created_at", "", "") },
        Purge { step: "pushOutboxPurged", table: "push_outbox", kept: Kept::Events, statement: batched("push_outbox", "id", "sent_at", "", "") },
        // A call goes with its stop-ringing rows (push_outbox has no foreign
        // key); active_call_parties rows go by ON DELETE CASCADE, though a
        // terminal call has none.
        Purge {
            step: "callsPurged",
            table: "calls",
            kept: Kept::Calls,
            statement: batched(
                "calls",
                "id",
                "ended_at",
                &format!(" AND status IN ({terminal_calls})"),
                ", outbox AS (DELETE FROM push_outbox o USING due WHERE o.call_id = due.id)",
            ),
        },
    ]
}

fn sql_list<'a>(values: impl Iterator<Item = &'a str>) -> String {
    values.map(|value| format!("'{value}'")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_the_issue_names_is_purged_once() {
        let tables: Vec<&str> = purges().iter().map(|purge| purge.table).collect();
        assert_eq!(tables, ["webhook_events", "room_participants", "room_tracks", "push_log", "push_outbox", "calls"]);
    }

    #[test]
    fn statements_are_batched_and_keep_what_is_open() {
        for purge in purges() {
            let statement = &purge.statement;
            assert!(statement.contains("LIMIT $2 FOR UPDATE SKIP LOCKED"), "{statement}");
            assert!(statement.contains("make_interval(secs => $1)"), "{statement}");
            assert!(statement.trim_end().starts_with("WITH due AS") && statement.contains(&format!("DELETE FROM {} t USING due", purge.table)));
        }
        let calls = purges().into_iter().find(|purge| purge.table == "calls").unwrap().statement;
        assert!(calls.contains("'busy'") && calls.contains("'ended'") && !calls.contains("'live'"), "{calls}");
        assert!(calls.contains("DELETE FROM push_outbox"));
        let presence = purges().into_iter().find(|purge| purge.table == "room_participants").unwrap().statement;
        assert!(presence.contains("'initiated', 'ringing', 'accepted', 'live'") && presence.contains("s.status <> 'ended'"), "{presence}");
        assert!(presence.contains("t.room_name = due.room_name AND t.identity = due.identity"));
    }

    #[test]
    fn ages_follow_their_variables() {
        let limits = SweepLimits { webhook_event_retention_days: 7, call_retention_days: 90, ..SweepLimits::default() };
        assert_eq!(Kept::Events.seconds(&limits), 604_800);
        assert_eq!(Kept::Calls.seconds(&limits), 7_776_000);
    }
}
