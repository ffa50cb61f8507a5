-- One copy of each rule the database carries. The states and reasons quoted
-- here are checked against crates/domain by the drift test
-- (tests/tests/e2e/migrate.rs, `drift`).

-- The host-timeout end of a session: a host away (host_disconnected or paused)
-- longer than the grace ends it with host_timeout. Called by the webhook
-- (below), live-session-status and the sweep. With p_session, that session
-- alone, waiting for its lock; without, a batch of the longest away, skipping
-- rows another transaction holds. Returns the sessions it ended.
CREATE FUNCTION end_sessions_past_host_grace(p_session uuid, p_grace_seconds double precision, p_limit integer)
RETURNS SETOF uuid
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
BEGIN
    IF p_session IS NOT NULL THEN
        RETURN QUERY
        UPDATE live_sessions SET status = 'ended', ended_at = now(), end_reason = 'host_timeout', updated_at = now()
        WHERE id = p_session AND status IN ('host_disconnected', 'paused')
          AND host_left_at <= now() - make_interval(secs => p_grace_seconds)
        RETURNING id;
        RETURN;
    END IF;
    RETURN QUERY
    WITH due AS (
        SELECT id FROM live_sessions
        WHERE status IN ('host_disconnected', 'paused') AND host_left_at <= now() - make_interval(secs => p_grace_seconds)
        ORDER BY host_left_at LIMIT p_limit FOR UPDATE SKIP LOCKED
    )
    UPDATE live_sessions s SET status = 'ended', ended_at = now(), end_reason = 'host_timeout', updated_at = now()
    FROM due WHERE s.id = due.id AND s.status IN ('host_disconnected', 'paused')
    RETURNING s.id;
END
$$;

-- A user's name for others (LiveKit's participant name, the ring): the
-- stored display name, else the id. STABLE: it reads the statement's snapshot,
-- so inside a statement that upserts the user it sees the name as it was.
CREATE FUNCTION user_display_name(p_user uuid) RETURNS text
LANGUAGE sql STABLE
SET search_path = public, pg_temp
AS $$
    SELECT COALESCE((SELECT NULLIF(display_name, '') FROM users WHERE id = p_user), p_user::text)
$$;

-- 0011's token functions with the name from user_display_name; otherwise unchanged.
CREATE OR REPLACE FUNCTION token_session_facts(p_user uuid, p_session uuid)
RETURNS TABLE (hits bigint, display_name text, creator_id text, status text, type text,
               access text, price_coins bigint, livekit_room_name text,
               subscribed boolean, purchased boolean)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT token_rate_hit(p_user),
           user_display_name(p_user),
           s.creator_id::text, s.status, s.type, s.access, s.price_coins::bigint, s.livekit_room_name,
           EXISTS (SELECT 1 FROM subscriptions sub
                   WHERE sub.subscriber_id = p_user AND sub.creator_id = s.creator_id
                     AND sub.expires_at > now()),
           EXISTS (SELECT 1 FROM session_purchases sp
                   WHERE sp.session_id = s.id AND sp.user_id = p_user)
    FROM (SELECT 1) AS one
    LEFT JOIN live_sessions s ON s.id = p_session;
END $$;

CREATE OR REPLACE FUNCTION token_call_facts(p_user uuid, p_call uuid)
RETURNS TABLE (hits bigint, display_name text, caller_id text, callee_id text, status text,
               call_type text, livekit_room_name text)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT token_rate_hit(p_user),
           user_display_name(p_user),
           c.caller_id::text, c.callee_id::text, c.status, c.call_type, c.livekit_room_name
    FROM (SELECT 1) AS one
    LEFT JOIN calls c ON c.id = p_call;
END $$;

-- 0012's webhook_session_event with the host-timeout end from
-- end_sessions_past_host_grace; otherwise unchanged.
CREATE OR REPLACE FUNCTION webhook_session_event(
    p_id text, p_event text, p_room text, p_identity text, p_created_at double precision,
    p_grace_seconds double precision, p_room_finished boolean,
    p_present boolean, p_rank smallint, p_left_reason text, p_host_status text
) RETURNS text
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
DECLARE
    session_id uuid;
    creator text;
    current_status text;
    applied text := 'applied';
BEGIN
    INSERT INTO webhook_events (id, event, room_name, participant_identity, event_created_at, outcome)
    VALUES (p_id, p_event, p_room, p_identity, to_timestamp(p_created_at), 'pending')
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;

    -- Lock the session (all events of a room in turn) and enforce an overdue
    -- host grace first: a host who comes back after it finds the session ended.
    SELECT s.id, s.creator_id::text, s.status INTO session_id, creator, current_status
    FROM live_sessions s WHERE s.livekit_room_name = p_room FOR UPDATE;
    IF NOT FOUND THEN
        applied := 'ignored: unknown room';
    ELSE
        IF EXISTS (SELECT 1 FROM end_sessions_past_host_grace(session_id, p_grace_seconds, 1)) THEN
            current_status := 'ended';
        END IF;

        IF current_status = 'ended' THEN
            applied := 'ignored: session ended';
        ELSIF p_room_finished THEN
            UPDATE live_sessions SET status = 'ended', ended_at = now(), end_reason = 'room_finished', updated_at = now()
            WHERE id = session_id AND status <> 'ended';
            applied := 'applied: room finished';
        ELSE
            IF p_present IS NOT NULL AND p_identity IS NOT NULL THEN
                IF NOT webhook_record_presence(p_room, p_identity, p_present, p_created_at, p_rank, p_left_reason) THEN
                    applied := 'stale';
                ELSIF p_identity = creator THEN
                    UPDATE live_sessions
                    SET status = p_host_status,
                        host_left_at = CASE WHEN p_host_status = 'live' THEN NULL ELSE to_timestamp(p_created_at) END,
                        updated_at = now()
                    WHERE id = session_id AND status <> 'ended';
                    applied := 'applied: host ' || p_host_status;
                END IF;
            END IF;
            IF applied <> 'stale' THEN
                -- The orphan cleanup reads updated_at as "last activity".
                UPDATE live_sessions SET updated_at = now() WHERE id = session_id;
            END IF;
        END IF;
    END IF;

    UPDATE webhook_events SET outcome = applied WHERE id = p_id;
    RETURN applied;
END $$;

-- Stop ringing when a ringing call moves on: to exactly the states the call
-- state machine reaches from ringing. 0013 also listed failed, which no
-- transition reaches from ringing.
DROP TRIGGER calls_stop_ringing ON calls;
CREATE TRIGGER calls_stop_ringing
    AFTER UPDATE OF status ON calls
    FOR EACH ROW
    WHEN (OLD.status = 'ringing' AND NEW.status IN ('accepted', 'rejected', 'cancelled', 'missed'))
    EXECUTE FUNCTION push_outbox_enqueue_stop_ringing();
