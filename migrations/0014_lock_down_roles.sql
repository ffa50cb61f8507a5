-- Nothing the app keeps is reachable through any role but its own.
--
-- Supabase serves `public` through its Data API as `anon`, `authenticated`
-- and `service_role`; Postgres grants EXECUTE on every new function to
-- PUBLIC, and older Supabase projects grant every new `public` table,
-- sequence and function to those roles by default. The app connects as the
-- role that owns its objects (the one that runs the migrations), so every
-- other role can be shut out entirely, in two independent layers:
--
-- 1. Privileges: every grant on the app's tables, views, sequences, columns
--    and functions to PUBLIC or to any role but the owner is revoked, found
--    from the catalogs' ACLs (so an explicit `GRANT ... TO anon` goes too,
--    which `REVOKE ... FROM PUBLIC` alone would leave). The owner's default
--    privileges stop granting to others, EXECUTE to PUBLIC included.
--    This is the layer that stops roles with BYPASSRLS (`service_role`).
-- 2. Row-level security enabled, with no policy, on every app table: a role
--    that somehow holds a grant (or `pg_read_all_data`) sees no row and can
--    write none. The owner bypasses it, so the app is unaffected. Views run
--    as their invoker (`security_invoker`), so they cannot bypass it.
--
-- And every SQL or PL/pgSQL function without its own `search_path` gets
-- `SET search_path = public, pg_temp`, so no name in it resolves through a
-- caller's path.
--
-- The app's objects: everything in schema `public` owned by the role that
-- runs the migrations, except extension members. Objects a later migration
-- adds are covered because crates/migrate calls app_lock_down() inside every
-- migration's transaction (once this file exists) and once more after every
-- run, even one that applied nothing: `cargo xtask migrate` thus also undoes a
-- grant made by hand since. It changes only what differs from the locked-down
-- state and returns each statement it ran, so a run with nothing to change
-- takes no lock and writes nothing. Keep other Data API tables out of
-- `public` or owned by another role: whatever the owner keeps there is locked.

CREATE FUNCTION app_lock_down() RETURNS SETOF text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner oid := (SELECT oid FROM pg_roles WHERE rolname = current_user);
    app_schema oid := 'public'::regnamespace::oid;
    item record;
    statement text;
BEGIN
    -- The owner's default privileges: nothing granted to others, in `public`
    -- or globally (Supabase's `ALTER DEFAULT PRIVILEGES ... GRANT ALL ... TO anon`).
    FOR item IN
        SELECT DISTINCT d.defaclnamespace AS schema, d.defaclobjtype AS kind, a.grantee
        FROM pg_default_acl d, aclexplode(d.defaclacl) a
        WHERE d.defaclrole = owner AND d.defaclnamespace IN (0, app_schema)
          AND d.defaclobjtype IN ('r', 'S', 'f') AND a.grantee <> owner
    LOOP
        statement := format('ALTER DEFAULT PRIVILEGES FOR ROLE %s %s REVOKE ALL ON %s FROM %s',
            owner::regrole::text,
            CASE WHEN item.schema = 0 THEN '' ELSE 'IN SCHEMA public' END,
            CASE item.kind WHEN 'r' THEN 'TABLES' WHEN 'S' THEN 'SEQUENCES' ELSE 'FUNCTIONS' END,
            CASE WHEN item.grantee = 0 THEN 'PUBLIC' ELSE item.grantee::regrole::text END);
        EXECUTE statement;
        RETURN NEXT statement;
    END LOOP;
    -- Postgres's built-in default (EXECUTE to PUBLIC) holds until a global
    -- entry for functions says otherwise.
    IF NOT EXISTS (SELECT 1 FROM pg_default_acl
                   WHERE defaclrole = owner AND defaclnamespace = 0 AND defaclobjtype = 'f') THEN
        statement := format('ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC',
            owner::regrole::text);
        EXECUTE statement;
        RETURN NEXT statement;
    END IF;

    -- Grants on tables, views, sequences and their columns to anyone but the owner.
    FOR item IN
        SELECT DISTINCT c.oid::regclass AS object, c.relkind = 'S' AS is_sequence, a.grantee
        FROM pg_class c
        CROSS JOIN LATERAL (
            SELECT grantee FROM aclexplode(c.relacl)
            UNION ALL
            SELECT e.grantee FROM pg_attribute at, aclexplode(at.attacl) e
            WHERE at.attrelid = c.oid AND at.attacl IS NOT NULL
        ) a
        WHERE c.relnamespace = app_schema AND c.relowner = owner
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND a.grantee <> owner
          AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                          WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
    LOOP
        statement := format('REVOKE ALL ON %s %s FROM %s CASCADE',
            CASE WHEN item.is_sequence THEN 'SEQUENCE' ELSE 'TABLE' END, item.object,
            CASE WHEN item.grantee = 0 THEN 'PUBLIC' ELSE item.grantee::regrole::text END);
        EXECUTE statement;
        RETURN NEXT statement;
    END LOOP;

    -- EXECUTE on functions and procedures; a NULL ACL means Postgres's default,
    -- which grants it to PUBLIC.
    FOR item IN
        SELECT DISTINCT p.oid::regprocedure AS object, a.grantee
        FROM pg_proc p, aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
        WHERE p.pronamespace = app_schema AND p.proowner = owner AND a.grantee <> owner
          AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                          WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e')
    LOOP
        statement := format('REVOKE ALL ON ROUTINE %s FROM %s CASCADE', item.object,
            CASE WHEN item.grantee = 0 THEN 'PUBLIC' ELSE item.grantee::regrole::text END);
        EXECUTE statement;
        RETURN NEXT statement;
    END LOOP;

    -- Row-level security with no policy: only the owner (and BYPASSRLS) sees rows.
    FOR item IN
        SELECT c.oid::regclass AS object
        FROM pg_class c
        WHERE c.relnamespace = app_schema AND c.relowner = owner AND c.relkind IN ('r', 'p')
          AND NOT c.relrowsecurity
          AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                          WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
    LOOP
        statement := format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', item.object);
        EXECUTE statement;
        RETURN NEXT statement;
    END LOOP;

    -- A view reads its tables with its owner's rights, so past their row-level
    -- security; as the invoker's it stays under it (Postgres 15 and later).
    FOR item IN
        SELECT c.oid::regclass AS object
        FROM pg_class c
        WHERE c.relnamespace = app_schema AND c.relowner = owner AND c.relkind = 'v'
          AND current_setting('server_version_num')::int >= 150000
          AND NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) option WHERE option = 'security_invoker=true')
          AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                          WHERE dep.classid = 'pg_class'::regclass AND dep.objid = c.oid AND dep.deptype = 'e')
    LOOP
        statement := format('ALTER VIEW %s SET (security_invoker = true)', item.object);
        EXECUTE statement;
        RETURN NEXT statement;
    END LOOP;

    -- A fixed search_path for every SQL and PL/pgSQL function that has none.
    FOR item IN
        SELECT p.oid::regprocedure AS object
        FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
        WHERE p.pronamespace = app_schema AND p.proowner = owner AND p.prokind IN ('f', 'p')
          AND l.lanname IN ('sql', 'plpgsql')
          AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) setting WHERE setting LIKE 'search\_path=%')
          AND NOT EXISTS (SELECT 1 FROM pg_depend dep
                          WHERE dep.classid = 'pg_proc'::regclass AND dep.objid = p.oid AND dep.deptype = 'e')
    LOOP
        statement := format('ALTER ROUTINE %s SET search_path = public, pg_temp', item.object);
        EXECUTE statement;
        RETURN NEXT statement;
    END LOOP;
END $$;

-- The runner calls it after this file too; calling it here makes this file
-- complete on its own.
SELECT count(*) FROM app_lock_down();
