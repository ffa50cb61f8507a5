-- The orphan check asks LiveKit about a batch of sessions; a run claims the
-- batch first so that an overlapping run skips it. A crashed run's claim
-- simply expires.
ALTER TABLE live_sessions ADD COLUMN orphan_check_started_at timestamptz;

-- The sweeps scan calls by status and age.
CREATE INDEX calls_active_by_status ON calls (status, updated_at)
    WHERE status IN ('initiated', 'ringing', 'accepted', 'live');
-- Rooms still to delete after an end whose DeleteRoom failed.
CREATE INDEX live_sessions_room_deletion_pending ON live_sessions (ended_at)
    WHERE status = 'ended' AND livekit_room_deleted_at IS NULL;
CREATE INDEX calls_room_deletion_pending ON calls (ended_at)
    WHERE accepted_at IS NOT NULL AND ended_at IS NOT NULL AND livekit_room_deleted_at IS NULL;
