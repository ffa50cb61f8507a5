-- 1-1 calls. The states are the seed's call state machine, stored lowercase;
-- the transition table lives in the domain crate and guarded UPDATEs enforce it.
CREATE TABLE calls (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    caller_id         uuid NOT NULL,
    callee_id         uuid NOT NULL,
    call_type         text NOT NULL CHECK (call_type IN ('audio', 'video')),
    status            text NOT NULL DEFAULT 'initiated'
                      CHECK (status IN ('initiated', 'ringing', 'accepted', 'live', 'ended',
                                        'failed', 'missed', 'rejected', 'busy', 'cancelled')),
    livekit_room_name text NOT NULL UNIQUE,
    end_reason        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    ringing_at        timestamptz,
    accepted_at       timestamptz,
    live_at           timestamptz,
    ended_at          timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT calls_not_to_self CHECK (caller_id <> callee_id)
);

CREATE INDEX calls_by_caller ON calls (caller_id, created_at DESC);
CREATE INDEX calls_by_callee ON calls (callee_id, created_at DESC);
