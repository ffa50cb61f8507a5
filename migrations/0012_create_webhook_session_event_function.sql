-- livekit-webhook's work for an event of a live session's room, as one
-- statement. It used to be seven (BEGIN, the dedupe insert, the session lock,
-- the presence upsert, two updates, COMMIT), each sent as text, so each parsed,
-- planned and, on Spin, prepared in its own round trip. A function call is one
-- statement and so one transaction: an error leaves nothing, the dedupe row
-- included, and LiveKit's retry is processed.
--
-- The component decides what the event means (crates/domain): p_present,
-- p_rank and p_left_reason describe the participant's presence change and
-- p_host_status the session status it gives a host; all four are NULL when
-- the event changes no presence. Returns the outcome the answer reports (and webhook_events.outcome keeps).
-- Upserts a participant's presence in a room unless a newer event (or a join
-- at the same second) was already applied; returns whether this one was.
-- Both session and call rooms record presence through it.
CREATE FUNCTION webhook_record_presence(
    p_room text, p_identity text, p_present boolean, p_created_at double precision,
    p_rank smallint, p_left_reason text
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO room_participants AS p (room_name, identity, present, event_at, event_rank, left_reason)
    VALUES (p_room, p_identity, p_present, to_timestamp(p_created_at), p_rank, p_left_reason)
    ON CONFLICT (room_name, identity) DO UPDATE
    SET present = EXCLUDED.present, event_at = EXCLUDED.event_at, event_rank = EXCLUDED.event_rank,
        left_reason = EXCLUDED.left_reason, updated_at = now()
    WHERE (p.event_at, p.event_rank) < (EXCLUDED.event_at, EXCLUDED.event_rank);
    RETURN FOUND;
END $$;

CREATE FUNCTION webhook_session_event(
    p_id text, p_event text, p_room text, p_identity text, p_created_at double precision,
    p_grace_seconds double precision, p_room_finished boolean,
    p_present boolean, p_rank smallint, p_left_reason text, p_host_status text
) RETURNS text
LANGUAGE plpgsql AS $$
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
        IF current_status IN ('host_disconnected', 'paused') THEN
            UPDATE live_sessions SET status = 'ended', ended_at = now(), end_reason = 'host_timeout', updated_at = now()
            WHERE id = session_id AND host_left_at <= now() - make_interval(secs => p_grace_seconds);
            IF FOUND THEN
                current_status := 'ended';
            END IF;
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
