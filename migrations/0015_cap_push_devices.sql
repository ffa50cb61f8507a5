-- Bounds on what one account can make the push providers do.

-- At most 20 devices per user: a registration (or a token moving to a user)
-- evicts that user's least recently registered tokens beyond 20, in the same
-- statement. The advisory lock serializes one user's registrations: without
-- it, parallel registrations each see 19 others and all keep theirs. The
-- lock is taken before the DELETE, whose fresh snapshot (READ COMMITTED)
-- then sees every registration that committed before it.
CREATE FUNCTION push_tokens_evict_beyond_cap() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('push_tokens:' || NEW.user_id::text, 0));
    -- The token just registered is never the one evicted.
    DELETE FROM push_tokens
    WHERE token IN (
        SELECT token FROM push_tokens
        WHERE user_id = NEW.user_id AND token <> NEW.token
        ORDER BY updated_at DESC, token
        OFFSET 19);
    RETURN NULL;
END
$$;

CREATE TRIGGER push_tokens_cap
    AFTER INSERT OR UPDATE OF user_id ON push_tokens
    FOR EACH ROW
    EXECUTE FUNCTION push_tokens_evict_beyond_cap();

-- The devices a ring went to (at most 20, newest first, as call-initiate
-- picks them), recorded as the call is inserted: stopping the ring pushes to
-- these and no others, however many tokens the callee has meanwhile.
ALTER TABLE calls ADD COLUMN rung_tokens text[] CHECK (cardinality(rung_tokens) <= 20);

CREATE FUNCTION calls_record_rung_devices() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    NEW.rung_tokens := ARRAY(
        SELECT token FROM push_tokens WHERE user_id = NEW.callee_id
        ORDER BY updated_at DESC, token LIMIT 20);
    RETURN NEW;
END
$$;

CREATE TRIGGER calls_rung_devices
    BEFORE INSERT ON calls
    FOR EACH ROW
    WHEN (NEW.status = 'initiated')
    EXECUTE FUNCTION calls_record_rung_devices();

-- Stop ringing on the rung devices that still belong to the callee. A call
-- from before this migration has no record: its newest 20 devices.
CREATE OR REPLACE FUNCTION push_outbox_enqueue_stop_ringing() RETURNS trigger
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    INSERT INTO push_outbox (call_id, user_id, token, kind, status)
    SELECT NEW.id, NEW.callee_id, token, kind, NEW.status
    FROM push_tokens
    WHERE user_id = NEW.callee_id AND (NEW.rung_tokens IS NULL OR token = ANY (NEW.rung_tokens))
    ORDER BY updated_at DESC, token LIMIT 20
    ON CONFLICT (call_id, token) DO NOTHING;
    RETURN NULL;
END
$$;

-- Trigger functions run as triggers only; nobody needs to call them.
REVOKE EXECUTE ON FUNCTION push_tokens_evict_beyond_cap(), calls_record_rung_devices() FROM PUBLIC;
