-- The sweep purges old rows (crates/domain/src/retention.rs), checks answered
-- calls with LiveKit before failing them, and runs once at a time across
-- instances.

-- Each purge walks an index on the row's age, batch by batch. webhook_events
-- has one already (0009).
CREATE INDEX room_participants_by_updated_at ON room_participants (updated_at);
CREATE INDEX room_tracks_by_event_at ON room_tracks (event_at);
CREATE INDEX push_log_by_created_at ON push_log (created_at);
CREATE INDEX push_outbox_sent ON push_outbox (sent_at) WHERE sent_at IS NOT NULL;
-- A call is terminal exactly when ended_at is set (CHECK calls_terminal_has_end).
CREATE INDEX calls_ended ON calls (ended_at) WHERE ended_at IS NOT NULL;

-- An answered call past its join deadline is checked with LiveKit's
-- ListParticipants; a run claims it first so an overlapping run skips it.
-- A crashed run's claim expires with its lease.
ALTER TABLE calls ADD COLUMN join_check_started_at timestamptz;

-- One lease per sweep: the run holding it works, a run that finds it held
-- returns at once. A run bounds itself (sweep_deadline_seconds) and the lease
-- outlives that a little, so a run that dies blocks the others no longer.
-- Unlogged: a crash that loses it only lets the next run start sooner.
CREATE UNLOGGED TABLE sweep_leases (
    name        text PRIMARY KEY,
    holder      uuid NOT NULL,
    lease_until timestamptz NOT NULL
);
-- Reachable only by its owner, the app (no policy: RLS denies every other role).
ALTER TABLE sweep_leases ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON sweep_leases FROM PUBLIC;
