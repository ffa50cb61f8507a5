-- A viewer's purchase of one paid session.
CREATE TABLE session_purchases (
    session_id  uuid NOT NULL REFERENCES live_sessions (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    price_coins integer NOT NULL CHECK (price_coins >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, user_id)
);
