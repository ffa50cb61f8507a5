-- Per-user request counters for get-livekit-token. UNLOGGED: a crash may lose
-- them (the limit then restarts, which is harmless) and in exchange an upsert
-- writes no WAL, so the hot path never waits for a disk flush.
CREATE UNLOGGED TABLE token_rate_limits (
    user_id           uuid PRIMARY KEY,
    window_started_at timestamptz NOT NULL,
    hits              integer NOT NULL CHECK (hits >= 0)
);
