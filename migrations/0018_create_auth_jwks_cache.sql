-- The user-JWT signing keys fetched from `auth_jwks_url`, shared by every
-- instance: one row per URL (a changed URL never reuses another's keys).
-- `jwks` is the last good document and is only ever replaced by a good one;
-- a failed fetch only records why. Logged: the last good set must survive a
-- crash that happens while the URL is down.
CREATE TABLE auth_jwks_cache (
    url          text PRIMARY KEY,
    jwks         text,
    -- +1 for every good document stored; instances compare it with their copy.
    version      bigint NOT NULL DEFAULT 0,
    fetched_at   timestamptz,
    -- The last claimed fetch, good or not: at most one a minute (below).
    attempted_at timestamptz NOT NULL DEFAULT '-infinity',
    last_failure text CHECK (last_failure IN ('unreachable', 'misconfigured')),
    last_error   text,
    CHECK ((jwks IS NULL) = (fetched_at IS NULL))
);

-- The shared set for `p_url` (NULL when none was ever fetched), and whether
-- the caller has just claimed the right to fetch it. The guarded UPDATE lets
-- one caller per `p_refetch_seconds` through, across instances (a racing
-- caller waits for the row lock, then sees the new `attempted_at`), when
-- there is no set yet, when it is older than `p_max_age_seconds`, or when the
-- caller holds version `p_known_version` and met a token whose `kid` it does
-- not have (a newer version is answered instead, without a claim).
CREATE FUNCTION auth_jwks_claim(p_url text, p_known_version bigint, p_kid_unknown boolean,
                                p_refetch_seconds integer, p_max_age_seconds integer)
RETURNS TABLE (jwks text, version bigint, claimed boolean, last_failure text)
LANGUAGE plpgsql
SET search_path = public, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO auth_jwks_cache (url) VALUES (p_url) ON CONFLICT (url) DO NOTHING;
    RETURN QUERY
    WITH claim AS (
        UPDATE auth_jwks_cache c SET attempted_at = now()
        WHERE c.url = p_url
          AND c.attempted_at <= now() - make_interval(secs => p_refetch_seconds)
          AND (c.jwks IS NULL
               OR c.fetched_at <= now() - make_interval(secs => p_max_age_seconds)
               OR (p_kid_unknown AND c.version = p_known_version))
        RETURNING c.jwks, c.version, c.last_failure
    )
    SELECT claim.jwks, claim.version, true, claim.last_failure FROM claim
    UNION ALL
    SELECT c.jwks, c.version, false, c.last_failure FROM auth_jwks_cache c
    WHERE c.url = p_url AND NOT EXISTS (SELECT 1 FROM claim);
END $$;
