-- Exactly-once busy check: every party of an active call holds a row here,
-- keyed by user, so a second active call for the same user fails on the
-- primary key inside the INSERT that creates it. Triggers keep the rows in
-- step with calls.status whoever writes it (components, webhooks, sweeps).
CREATE TABLE active_call_parties (
    user_id uuid PRIMARY KEY,
    call_id uuid NOT NULL REFERENCES calls (id) ON DELETE CASCADE
);
CREATE INDEX active_call_parties_by_call ON active_call_parties (call_id);

CREATE FUNCTION calls_claim_parties() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IN ('initiated', 'ringing', 'accepted', 'live') THEN
        -- Sorted, so two calls between the same users lock in the same order
        -- and cannot deadlock: the later one waits, then sees the key taken.
        INSERT INTO active_call_parties (user_id, call_id)
        SELECT party, NEW.id FROM unnest(ARRAY[NEW.caller_id, NEW.callee_id]) AS party ORDER BY party;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER calls_claim_parties AFTER INSERT ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_claim_parties();

CREATE FUNCTION calls_release_parties() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM active_call_parties WHERE call_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER calls_release_parties AFTER UPDATE OF status ON calls
    FOR EACH ROW
    WHEN (OLD.status IN ('initiated', 'ringing', 'accepted', 'live')
          AND NEW.status NOT IN ('initiated', 'ringing', 'accepted', 'live'))
    EXECUTE FUNCTION calls_release_parties();

-- A terminal call never changes state again, whatever a late writer does.
CREATE FUNCTION calls_terminal_is_final() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status NOT IN ('initiated', 'ringing', 'accepted', 'live') AND NEW.status <> OLD.status THEN
        RAISE EXCEPTION 'call % is % and cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER calls_terminal_is_final BEFORE UPDATE OF status ON calls
    FOR EACH ROW EXECUTE FUNCTION calls_terminal_is_final();

ALTER TABLE calls
    ADD COLUMN livekit_room_deleted_at timestamptz,
    ADD CONSTRAINT calls_terminal_has_end
        CHECK ((status IN ('ended', 'failed', 'missed', 'rejected', 'busy', 'cancelled'))
               = (ended_at IS NOT NULL AND end_reason IS NOT NULL)),
    ADD CONSTRAINT calls_end_reason_known
        CHECK (end_reason IN ('user_ended', 'push_failed', 'no_push_token', 'push_timeout', 'no_answer',
                              'join_timeout', 'max_duration', 'network_failure', 'rejected', 'cancelled', 'busy'));
