-- Live broadcasts. `status` follows the seed's host-disconnection states; the
-- viewer-facing app reads it to show the waiting overlay.
CREATE TABLE live_sessions (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    creator_id        uuid NOT NULL,
    type              text NOT NULL CHECK (type IN ('video_live', 'audio_live')),
    status            text NOT NULL DEFAULT 'live'
                      CHECK (status IN ('live', 'host_disconnected', 'paused', 'ended')),
    access            text NOT NULL DEFAULT 'public' CHECK (access IN ('public', 'subscribers', 'paid')),
    price_coins       integer NOT NULL DEFAULT 0 CHECK (price_coins >= 0),
    title             text CHECK (length(title) <= 200),
    livekit_room_name text NOT NULL UNIQUE,
    host_left_at      timestamptz,
    ended_at          timestamptz,
    end_reason        text CHECK (end_reason IN ('host_ended', 'host_timeout', 'room_finished', 'orphaned_cleanup')),
    -- Set once LiveKit confirmed the room is gone; NULL on an ended session
    -- means the deletion is still pending (a sweep retries it).
    livekit_room_deleted_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- A paid session has a price; a free one has none.
    CONSTRAINT live_sessions_price_matches_access CHECK ((access = 'paid') = (price_coins > 0)),
    -- Ended exactly when it has an end time and a reason.
    CONSTRAINT live_sessions_ended_has_time_and_reason
        CHECK ((status = 'ended') = (ended_at IS NOT NULL AND end_reason IS NOT NULL))
);

-- A host has at most one broadcast that has not ended.
CREATE UNIQUE INDEX live_sessions_one_open_per_host ON live_sessions (creator_id) WHERE status <> 'ended';
-- The sweeps scan open sessions by status and age.
CREATE INDEX live_sessions_open_by_status ON live_sessions (status, updated_at) WHERE status <> 'ended';
