-- LiveKit webhooks are delivered at least once and out of order.

-- Every event id seen once, and what became of it (dedupe and audit).
CREATE TABLE webhook_events (
    id                   text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
    event                text NOT NULL,
    room_name            text,
    participant_identity text,
    event_created_at     timestamptz NOT NULL,
    received_at          timestamptz NOT NULL DEFAULT now(),
    outcome              text NOT NULL
);
CREATE INDEX webhook_events_by_received_at ON webhook_events (received_at);

-- The newest presence event applied per participant and room: an older event
-- for the same participant never undoes a newer one. At equal times a join
-- outranks a leave (a reconnect inside one second leaves them present).
CREATE TABLE room_participants (
    room_name     text NOT NULL,
    identity      text NOT NULL,
    present       boolean NOT NULL,
    event_at      timestamptz NOT NULL,
    event_rank    smallint NOT NULL,
    left_reason   text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_name, identity)
);

-- Published audio/video tracks per room, by track id, with the same ordering rule.
CREATE TABLE room_tracks (
    room_name  text NOT NULL,
    track_sid  text NOT NULL,
    published  boolean NOT NULL,
    event_at   timestamptz NOT NULL,
    PRIMARY KEY (room_name, track_sid)
);

-- Media activity of calls, for the idle warning.
ALTER TABLE calls
    ADD COLUMN published_tracks   integer NOT NULL DEFAULT 0 CHECK (published_tracks >= 0),
    ADD COLUMN media_last_seen_at timestamptz,
    ADD COLUMN idle_warned_at     timestamptz;
