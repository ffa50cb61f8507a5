-- get-livekit-token's one statement, as functions. Spin sends the SQL text of
-- every statement and Postgres parses and plans it anew each time: for the
-- upsert-and-join this took about 0.45 ms of server time per request
-- (pgbench, extended protocol: 0.66 ms as text against 0.24 ms as a call). A
-- PL/pgSQL function plans its queries once per connection and keeps them, and
-- Spin's clean on checkout (no DISCARD PLANS) leaves those plans in place.

-- Counts one token request in the user's window (60 s from the window's first
-- request) and returns the count. The upsert's row lock makes parallel
-- requests count one by one; the table is unlogged, so no WAL flush waits.
CREATE FUNCTION token_rate_hit(p_user uuid) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    counted integer;
BEGIN
    INSERT INTO token_rate_limits AS r (user_id, window_started_at, hits)
    VALUES (p_user, now(), 1)
    ON CONFLICT (user_id) DO UPDATE SET
        window_started_at = CASE WHEN r.window_started_at > now() - interval '60 seconds'
                                 THEN r.window_started_at ELSE now() END,
        hits = CASE WHEN r.window_started_at > now() - interval '60 seconds'
                    THEN LEAST(r.hits + 1, 1000000) ELSE 1 END
    RETURNING r.hits INTO counted;
    RETURN counted;
END $$;

-- The request counted, the user's display name (their id when they have
-- none) and every fact admission to a live session needs; the session's
-- columns are NULL when there is no such session.
CREATE FUNCTION token_session_facts(p_user uuid, p_session uuid)
RETURNS TABLE (hits bigint, display_name text, creator_id text, status text, type text,
               access text, price_coins bigint, livekit_room_name text,
               subscribed boolean, purchased boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT token_rate_hit(p_user),
           COALESCE(NULLIF(u.display_name, ''), p_user::text),
           s.creator_id::text, s.status, s.type, s.access, s.price_coins::bigint, s.livekit_room_name,
           EXISTS (SELECT 1 FROM subscriptions sub
                   WHERE sub.subscriber_id = p_user AND sub.creator_id = s.creator_id
                     AND sub.expires_at > now()),
           EXISTS (SELECT 1 FROM session_purchases sp
                   WHERE sp.session_id = s.id AND sp.user_id = p_user)
    FROM (SELECT 1) AS one
    LEFT JOIN users u ON u.id = p_user
    LEFT JOIN live_sessions s ON s.id = p_session;
END $$;

-- The same for a 1-1 call; the call's columns are NULL when there is no such call.
CREATE FUNCTION token_call_facts(p_user uuid, p_call uuid)
RETURNS TABLE (hits bigint, display_name text, caller_id text, callee_id text, status text,
               call_type text, livekit_room_name text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT token_rate_hit(p_user),
           COALESCE(NULLIF(u.display_name, ''), p_user::text),
           c.caller_id::text, c.callee_id::text, c.status, c.call_type, c.livekit_room_name
    FROM (SELECT 1) AS one
    LEFT JOIN users u ON u.id = p_user
    LEFT JOIN calls c ON c.id = p_call;
END $$;
