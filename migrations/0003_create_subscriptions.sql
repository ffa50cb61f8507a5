-- A viewer's subscription to a creator; it admits them to `subscribers` sessions until it expires.
CREATE TABLE subscriptions (
    subscriber_id uuid NOT NULL,
    creator_id    uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscriber_id, creator_id)
);
