-- Device push tokens (Expo push tokens), one row per device. A user may have
-- several devices; a token belongs to one user (a re-registration moves it).
CREATE TABLE push_tokens (
    token      text PRIMARY KEY CHECK (length(token) BETWEEN 1 AND 512),
    user_id    uuid NOT NULL,
    platform   text NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX push_tokens_by_user ON push_tokens (user_id, updated_at DESC);

-- What the `log` push provider "sent": local runs and tests read it.
CREATE TABLE push_log (
    id         bigserial PRIMARY KEY,
    user_id    uuid NOT NULL,
    tokens     text[] NOT NULL,
    message    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
