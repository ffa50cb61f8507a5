-- Per-user, per-route request counters for the write routes that can amplify
-- (push-token-register, call-initiate). get-livekit-token keeps its own table
-- and function (0006, 0011) unchanged. UNLOGGED for the same reason: a crash
-- may lose the counts (the limit restarts, which is harmless) and an upsert
-- writes no WAL, so the hot path never waits for a disk flush.
CREATE UNLOGGED TABLE route_rate_limits (
    user_id           uuid NOT NULL,
    route             text NOT NULL,
    window_started_at timestamptz NOT NULL,
    hits              integer NOT NULL CHECK (hits >= 0),
    PRIMARY KEY (user_id, route)
);
ALTER TABLE route_rate_limits ENABLE ROW LEVEL SECURITY;

-- Counts one request of `p_route` in the user's window (60 s from the
-- window's first request) and returns the count, as token_rate_hit does.
CREATE FUNCTION route_rate_hit(p_user uuid, p_route text) RETURNS bigint
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    counted integer;
BEGIN
    INSERT INTO route_rate_limits AS r (user_id, route, window_started_at, hits)
    VALUES (p_user, p_route, now(), 1)
    ON CONFLICT (user_id, route) DO UPDATE SET
        window_started_at = CASE WHEN r.window_started_at > now() - interval '60 seconds'
                                 THEN r.window_started_at ELSE now() END,
        hits = CASE WHEN r.window_started_at > now() - interval '60 seconds'
                    THEN LEAST(r.hits + 1, 1000000) ELSE 1 END
    RETURNING r.hits INTO counted;
    RETURN counted;
END $$;
REVOKE ALL ON FUNCTION route_rate_hit(uuid, text) FROM PUBLIC;

-- call-initiate's Idempotency-Key: the first request with a key claims it in
-- the statement that inserts its call, so a resend (or a parallel duplicate)
-- finds the call instead of ringing again. A key counts for 10 minutes; the
-- sweep deletes older ones (the index makes that an index scan). No foreign
-- key: the row is written in the same statement as the call, and a key
-- outlives nothing it needs.
CREATE TABLE call_initiate_keys (
    caller_id  uuid NOT NULL,
    key        uuid NOT NULL,
    call_id    uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller_id, key)
);
CREATE INDEX call_initiate_keys_by_age ON call_initiate_keys (created_at);
ALTER TABLE call_initiate_keys ENABLE ROW LEVEL SECURITY;
