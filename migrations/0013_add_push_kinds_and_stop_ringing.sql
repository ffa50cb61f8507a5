-- Devices ring through three providers: Expo (the default, as before), Apple's
-- PushKit VoIP pushes (iOS only) and FCM HTTP v1 (Android, web). A device
-- registers one token per kind; tokens of different kinds never collide.
ALTER TABLE push_tokens
    ADD COLUMN kind text NOT NULL DEFAULT 'expo' CHECK (kind IN ('expo', 'apns_voip', 'fcm')),
    ADD CONSTRAINT push_tokens_kind_fits_platform CHECK (
        kind = 'expo'
        OR (kind = 'apns_voip' AND platform = 'ios')
        OR (kind = 'fcm' AND platform IN ('android', 'web')));

-- What each provider said when the call rang: {"expo": {"outcome", ...}, ...}.
ALTER TABLE calls ADD COLUMN push_outcomes jsonb;

-- Provider credentials one instance minted and every instance reuses: the APNs
-- provider JWT (Apple throttles refreshes under 20 minutes) and the FCM OAuth
-- access token. A crash may lose them: the next push mints again.
CREATE UNLOGGED TABLE push_credentials (
    provider    text PRIMARY KEY CHECK (provider IN ('apns', 'fcm')),
    -- Which key minted it: a credential from rotated variables is never reused.
    fingerprint text NOT NULL,
    credential  text NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);

-- Stop-ringing pushes still to send, one row per device of the callee, queued
-- by the same statement that moves a ringing call on (trigger below), so no
-- path that ends a ring can forget them. The action's component sends them
-- after its answer; the sweep sends what is left. UNIQUE: once per device.
CREATE TABLE push_outbox (
    id            bigserial PRIMARY KEY,
    call_id       uuid NOT NULL,
    user_id       uuid NOT NULL,
    token         text NOT NULL,
    kind          text NOT NULL,
    -- The call's new status, which the device is told.
    status        text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- A sender's lease: another sender skips the row until it expires.
    claimed_until timestamptz,
    attempts      integer NOT NULL DEFAULT 0,
    sent_at       timestamptz,
    -- delivered, gone, refused, unauthorized, no_answer, expired.
    outcome       text,
    UNIQUE (call_id, token)
);

CREATE INDEX push_outbox_pending ON push_outbox (created_at) WHERE sent_at IS NULL;

CREATE FUNCTION push_outbox_enqueue_stop_ringing() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO push_outbox (call_id, user_id, token, kind, status)
    SELECT NEW.id, NEW.callee_id, token, kind, NEW.status
    FROM push_tokens WHERE user_id = NEW.callee_id
    ON CONFLICT (call_id, token) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER calls_stop_ringing
    AFTER UPDATE OF status ON calls
    FOR EACH ROW
    WHEN (OLD.status = 'ringing' AND NEW.status IN ('accepted', 'rejected', 'cancelled', 'missed', 'failed'))
    EXECUTE FUNCTION push_outbox_enqueue_stop_ringing();

-- Expo's tickets whose receipts the sweep polls: a receipt reports a device
-- Expo found gone after it took the message.
CREATE TABLE push_receipts (
    ticket_id  text PRIMARY KEY,
    token      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX push_receipts_by_age ON push_receipts (created_at);
