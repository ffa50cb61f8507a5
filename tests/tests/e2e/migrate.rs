//! The migration runner: once each, in order, all or nothing per file.

use e2e::db::TestDb;

fn dir_with(files: &[(&str, &str)]) -> std::path::PathBuf {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "migrations-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql) in files {
        std::fs::write(dir.join(name), sql).unwrap();
    }
    dir
}

#[tokio::test]
async fn applies_in_order_once() {
    let db = TestDb::empty().await.unwrap();
    let mut client = db.client().await.unwrap();
    let dir = dir_with(&[
        ("0002_add_column.sql", "ALTER TABLE things ADD COLUMN label text;"),
        ("0001_create_things.sql", "CREATE TABLE things (id int PRIMARY KEY);"),
    ]);
    assert_eq!(migrate::apply(&mut client, &dir).await.unwrap(), vec![1, 2]);
    assert_eq!(migrate::apply(&mut client, &dir).await.unwrap(), Vec::<i64>::new());
    let versions: Vec<i64> = client
        .query("SELECT version FROM schema_migrations ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, vec![1, 2]);
}

#[tokio::test]
async fn a_failing_file_leaves_nothing_half_applied() {
    let db = TestDb::empty().await.unwrap();
    let mut client = db.client().await.unwrap();
    let dir = dir_with(&[
        ("0001_create_things.sql", "CREATE TABLE things (id int PRIMARY KEY);"),
        ("0002_broken.sql", "CREATE TABLE half (id int); SELECT * FROM missing_table;"),
    ]);
    let error = migrate::apply(&mut client, &dir).await.unwrap_err();
    assert!(format!("{error:#}").contains("0002_broken.sql"), "{error:#}");
    let half: Option<String> = client
        .query_one("SELECT to_regclass('half')::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(half, None, "the failed file's first statement was rolled back");
    let count: i64 = client.query_one("SELECT count(*) FROM schema_migrations", &[]).await.unwrap().get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn an_applied_file_that_changed_is_refused() {
    let db = TestDb::empty().await.unwrap();
    let mut client = db.client().await.unwrap();
    let dir = dir_with(&[("0001_create_things.sql", "CREATE TABLE things (id int);")]);
    migrate::apply(&mut client, &dir).await.unwrap();
    std::fs::write(dir.join("0001_create_things.sql"), "CREATE TABLE things (id bigint);").unwrap();
    let error = migrate::apply(&mut client, &dir).await.unwrap_err();
    assert!(error.to_string().contains("changed after it was applied"), "{error}");
}

#[tokio::test]
async fn the_repository_migrations_apply_cleanly() {
    let db = TestDb::migrated().await.unwrap();
    let mut client = db.client().await.unwrap();
    let again = migrate::apply(&mut client, &e2e::paths::repo_root().join("migrations")).await.unwrap();
    assert!(again.is_empty());
}

/// The local server (TLS on, with a certificate for `localhost` only) and that certificate.
const SERVER: &str = "127.0.0.1:5432";
const SERVER_ROOT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// What `cargo xtask migrate` does, on a fresh database over verified TLS and
/// in plain text: every file once, in order, then nothing.
#[tokio::test]
async fn run_applies_every_file_over_tls_or_plain_text_as_sslmode_says() {
    let migrations = e2e::paths::repo_root().join("migrations");
    let files: Vec<String> = migrate::read_dir(&migrations).unwrap().iter().map(ToString::to_string).collect();
    assert!(files.first().is_some_and(|file| file.starts_with("0001_")), "{files:?}");
    let root = server_root();
    for (host, sslmode, ca_root, encrypted) in [("localhost:5432", "require", Some(root.as_str()), true), (SERVER, "disable", None, false)] {
        let db = TestDb::empty().await.unwrap();
        let url = format!("postgres://postgres@{host}/{}?sslmode={sslmode}", db.name);
        let applied = migrate::run(&url, ca_root, &migrations).await.unwrap();
        assert_eq!(applied.iter().map(ToString::to_string).collect::<Vec<_>>(), files, "{url}");
        assert!(migrate::run(&url, ca_root, &migrations).await.unwrap().is_empty(), "{url}: a second run applies nothing");
        let client = migrate::connect_with_root(&url, ca_root).await.unwrap();
        let ssl: bool = client
            .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(ssl, encrypted, "{url}");
        let recorded: i64 = client.query_one("SELECT count(*) FROM schema_migrations", &[]).await.unwrap().get(0);
        assert_eq!(recorded, files.len() as i64, "{url}");
    }
}

/// `require` verifies the name too: the certificate is for `localhost`, not 127.0.0.1.
#[tokio::test]
async fn run_refuses_a_server_whose_certificate_does_not_verify() {
    let db = TestDb::empty().await.unwrap();
    let url = format!("postgres://postgres@{SERVER}/{}?sslmode=require", db.name);
    let error = migrate::run(&url, Some(&server_root()), &e2e::paths::repo_root().join("migrations")).await.unwrap_err();
    let error = format!("{error:#}");
    assert!(error.contains("certificate verify failed"), "{error}");
    let client = db.client().await.unwrap();
    let table: Option<String> = client.query_one("SELECT to_regclass('schema_migrations')::text", &[]).await.unwrap().get(0);
    assert_eq!(table, None, "nothing was written");
}

/// Production databases are created by their operator, not by the runner;
/// the error says so, and never shows the password.
#[tokio::test]
async fn run_never_creates_a_missing_database() {
    let name = format!("lkt_missing_{}", std::process::id());
    let url = format!("postgres://postgres:hunter2@{SERVER}/{name}?sslmode=disable");
    let error = migrate::run(&url, None, &e2e::paths::repo_root().join("migrations")).await.unwrap_err();
    let error = format!("{error:#}");
    assert!(error.contains("does not exist") && error.contains("create it first"), "{error}");
    assert!(error.contains("postgres:***@") && !error.contains("hunter2"), "{error}");
    let admin = migrate::connect(&e2e::db::server_url()).await.unwrap();
    let created = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await.unwrap();
    assert!(created.is_none());
}

#[tokio::test]
async fn run_refuses_an_applied_file_that_changed() {
    let db = TestDb::empty().await.unwrap();
    let dir = dir_with(&[("0001_create_things.sql", "CREATE TABLE things (id int);")]);
    assert_eq!(migrate::run(&db.url, None, &dir).await.unwrap().len(), 1);
    std::fs::write(dir.join("0001_create_things.sql"), "CREATE TABLE things (id bigint);").unwrap();
    let error = migrate::run(&db.url, None, &dir).await.unwrap_err();
    assert!(error.to_string().contains("changed after it was applied"), "{error}");
}

fn server_root() -> String {
    std::fs::read_to_string(SERVER_ROOT).unwrap_or_else(|error| panic!("the local server's certificate {SERVER_ROOT}: {error}"))
}

/// Supabase's Data API roles and any other role (`lkt_stranger`, who may
/// read and write every table through `pg_read_all_data` and
/// `pg_write_all_data`): none reaches anything the app keeps.
mod lockdown {
    use std::path::{Path, PathBuf};

    use e2e::db::TestDb;
    use tokio_postgres::error::SqlState;
    use tokio_postgres::Client;

    /// Supabase's roles, `service_role` with BYPASSRLS as there.
    const SUPABASE_ROLES: [&str; 3] = ["anon", "authenticated", "service_role"];
    const STRANGER: &str = "lkt_stranger";

    /// Roles are cluster-wide: created when missing, by tests that may run
    /// at once (the loser of a race gets a duplicate error), and never dropped.
    async fn ensure_roles(client: &Client) {
        client
            .batch_execute(
                "DO $$
                DECLARE
                    role_sql text;
                BEGIN
                    FOREACH role_sql IN ARRAY ARRAY[
                        'CREATE ROLE anon NOLOGIN',
                        'CREATE ROLE authenticated NOLOGIN',
                        'CREATE ROLE service_role NOLOGIN BYPASSRLS',
                        'CREATE ROLE lkt_stranger NOLOGIN IN ROLE pg_read_all_data, pg_write_all_data'
                    ] LOOP
                        BEGIN
                            EXECUTE role_sql;
                        EXCEPTION WHEN duplicate_object OR unique_violation THEN
                            NULL;
                        END;
                    END LOOP;
                END $$",
            )
            .await
            .unwrap();
    }

    /// A database as an older Supabase project has it: every new `public`
    /// table, sequence and function granted to its roles.
    async fn supabase_database() -> TestDb {
        let db = TestDb::empty().await.unwrap();
        let client = db.client().await.unwrap();
        ensure_roles(&client).await;
        client
            .batch_execute(
                "GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
                 ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
                 ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO anon;
                 ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO anon;",
            )
            .await
            .unwrap();
        db
    }

    fn migrations() -> PathBuf {
        e2e::paths::repo_root().join("migrations")
    }

    /// A directory with the repository's migrations before `before` (all when
    /// None) and `extra` files.
    fn copy_of_migrations(before: Option<i64>, extra: &[(&str, &str)]) -> PathBuf {
        let kept: Vec<(String, String)> = migrate::read_dir(&migrations())
            .unwrap()
            .into_iter()
            .filter(|migration| before.is_none_or(|before| migration.version < before))
            .map(|migration| (migration.to_string(), migration.sql))
            .collect();
        let mut files: Vec<(&str, &str)> = kept.iter().map(|(name, sql)| (name.as_str(), sql.as_str())).collect();
        files.extend_from_slice(extra);
        super::dir_with(&files)
    }

    async fn run(db: &TestDb, dir: &Path) {
        migrate::run(&db.url, None, dir).await.unwrap();
    }

    /// Rows to find (or rather, not find) in the tables that matter most.
    async fn seed(client: &Client) {
        client
            .batch_execute(
                "INSERT INTO users (id, display_name) VALUES ('00000000-0000-4000-8000-00000000000a', 'A');
                 INSERT INTO push_tokens (token, user_id, platform) VALUES ('ExponentPushToken[a]', '00000000-0000-4000-8000-00000000000a', 'ios');
                 INSERT INTO calls (caller_id, callee_id, call_type, livekit_room_name)
                 VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', 'audio', 'call-a');
                 INSERT INTO push_credentials VALUES ('apns', 'f', 'secret', now(), now() + interval '1 hour');
                 INSERT INTO subscriptions VALUES ('00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b', now() + interval '1 day');
                 SELECT token_rate_hit('00000000-0000-4000-8000-00000000000a');",
            )
            .await
            .unwrap();
    }

    /// Runs `sql` as `role` in a transaction that is rolled back: the rows
    /// it returned or touched, or the error's SQLSTATE.
    async fn as_role(client: &mut Client, role: &str, sql: &str) -> Result<u64, SqlState> {
        let transaction = client.transaction().await.unwrap();
        transaction.batch_execute(&format!("SET LOCAL ROLE {role}")).await.unwrap();
        let outcome = match transaction.execute(sql, &[]).await {
            Ok(rows) => Ok(rows),
            Err(error) => Err(error.code().cloned().unwrap_or_else(|| panic!("{sql}: {error}"))),
        };
        transaction.rollback().await.unwrap();
        outcome
    }

    /// The app's relations, found in the catalog (so a later migration's are
    /// included): name, kind and one column.
    async fn relations(client: &Client) -> Vec<(String, String, String)> {
        client
            .query(
                "SELECT c.oid::regclass::text, c.relkind::text,
                        (SELECT quote_ident(attname) FROM pg_attribute
                         WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1)
                 FROM pg_class c
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                 ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect()
    }

    /// The app's functions and procedures, each with a call that passes NULLs.
    async fn routines(client: &Client) -> Vec<(String, String)> {
        client
            .query(
                "SELECT p.oid::regprocedure::text,
                        format('%s %s(%s)', CASE p.prokind WHEN 'p' THEN 'CALL' ELSE 'SELECT' END, p.oid::regproc,
                               (SELECT coalesce(string_agg('NULL::' || format_type(t, NULL), ', ' ORDER BY i), '')
                                FROM unnest(p.proargtypes) WITH ORDINALITY AS a (t, i)))
                 FROM pg_proc p
                 WHERE p.pronamespace = 'public'::regnamespace
                 ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// The first column of every row `sql` answers, as text.
    async fn first_column(client: &Client, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Vec<String> {
        client.query(sql, params).await.unwrap().iter().map(|row| row.get(0)).collect()
    }

    /// As every role, for every relation and routine of the app: nothing.
    /// Returns the names checked.
    async fn assert_nothing_reachable(db: &TestDb) -> Vec<String> {
        let mut client = db.client().await.unwrap();
        let relations = relations(&client).await;
        let routines = routines(&client).await;
        assert!(relations.len() >= 17 && routines.len() >= 10, "{relations:?} {routines:?}");
        let denied = Err(SqlState::INSUFFICIENT_PRIVILEGE);
        let mut seen_rows = false;
        for (relation, kind, column) in &relations {
            let sequence = kind == "S";
            let owner_sees: i64 = if sequence {
                0
            } else {
                client.query_one(&format!("SELECT count(*) FROM {relation}"), &[]).await.unwrap().get(0)
            };
            seen_rows |= owner_sees > 0;
            for role in SUPABASE_ROLES.iter().chain(&[STRANGER]) {
                let supabase = *role != STRANGER;
                if sequence {
                    for sql in [format!("SELECT nextval('{relation}')"), format!("SELECT last_value FROM {relation}")] {
                        let outcome = as_role(&mut client, role, &sql).await;
                        // Sequences have no row-level security: pg_read_all_data and
                        // pg_write_all_data may read and advance one, which holds no row.
                        assert!(outcome == denied || !supabase, "{role}: {sql}: {outcome:?}");
                    }
                    continue;
                }
                let read = as_role(&mut client, role, &format!("SELECT * FROM {relation}")).await;
                assert!(read == denied || (!supabase && read == Ok(0)), "{role}: SELECT {relation}: {read:?} (owner sees {owner_sees})");
                let insert = as_role(&mut client, role, &format!("INSERT INTO {relation} DEFAULT VALUES")).await;
                assert_eq!(insert, denied, "{role}: INSERT INTO {relation}");
                for sql in [format!("UPDATE {relation} SET {column} = {column}"), format!("DELETE FROM {relation}")] {
                    let outcome = as_role(&mut client, role, &sql).await;
                    assert!(outcome == denied || (!supabase && outcome == Ok(0)), "{role}: {sql}: {outcome:?}");
                }
                if kind == "r" || kind == "p" {
                    let truncate = as_role(&mut client, role, &format!("TRUNCATE {relation}")).await;
                    assert_eq!(truncate, denied, "{role}: TRUNCATE {relation}");
                }
            }
        }
        assert!(seen_rows, "some table has rows that stayed hidden");
        for (routine, call) in &routines {
            for role in SUPABASE_ROLES.iter().chain(&[STRANGER]) {
                assert_eq!(as_role(&mut client, role, call).await, denied, "{role}: {routine} ({call})");
            }
        }
        // The statements above prove the outcome; the catalog agrees, for
        // every privilege (REFERENCES, TRIGGER, columns) too.
        for role in SUPABASE_ROLES {
            let reachable: Vec<String> = first_column(&client, "SELECT c.oid::regclass::text FROM pg_class c
                     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
                       AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege($1, c.oid, 'USAGE, SELECT, UPDATE')
                           ELSE has_table_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                                OR has_any_column_privilege($1, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES') END
                     UNION ALL
                     SELECT p.oid::regprocedure::text FROM pg_proc p
                     WHERE p.pronamespace = 'public'::regnamespace AND has_function_privilege($1, p.oid, 'EXECUTE')", &[&role]).await;
            assert!(reachable.is_empty(), "{role} reaches {reachable:?}");
        }
        // Row-level security on every table, so a grant made by mistake still shows no row.
        let without_rls: Vec<String> = first_column(&client, "SELECT oid::regclass::text FROM pg_class
                 WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p') AND NOT relrowsecurity", &[]).await;
        assert!(without_rls.is_empty(), "{without_rls:?}");
        // No function resolves a name through its caller's search_path.
        let unpinned: Vec<String> = first_column(&client, "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.pronamespace = 'public'::regnamespace AND l.lanname IN ('sql', 'plpgsql')
                   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) s WHERE s LIKE 'search\\_path=%')", &[]).await;
        assert!(unpinned.is_empty(), "{unpinned:?}");
        // And nothing is left to do: the lockdown is idempotent and cheap.
        assert_eq!(migrate::lock_down(&client).await.unwrap(), Vec::<String>::new());
        relations.into_iter().map(|(name, ..)| name).chain(routines.into_iter().map(|(name, _)| name)).collect()
    }

    /// A database where the roles and Supabase's default grants exist before
    /// the first migration.
    #[tokio::test]
    async fn supabase_roles_reach_nothing_on_a_fresh_database() {
        let db = supabase_database().await;
        run(&db, &migrations()).await;
        seed(&db.client().await.unwrap()).await;
        assert_nothing_reachable(&db).await;
    }

    /// A production database migrated before the lockdown, with its tables
    /// granted to everyone by default and by hand: `cargo xtask migrate`
    /// shuts them out. A grant made by hand later is undone by the next run,
    /// even one with nothing to apply.
    #[tokio::test]
    async fn migrating_an_exposed_database_shuts_every_role_out() {
        let db = supabase_database().await;
        run(&db, &copy_of_migrations(Some(14), &[])).await;
        let client = db.client().await.unwrap();
        seed(&client).await;
        // REVOKE ... FROM PUBLIC alone would leave the grants to anon.
        client
            .batch_execute(
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC, anon, authenticated, service_role;
                 GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO PUBLIC, anon;
                 GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC, anon;
                 GRANT SELECT (token, user_id) ON push_tokens TO anon;
                 GRANT SELECT ON calls TO authenticated WITH GRANT OPTION;
                 SET ROLE authenticated;
                 GRANT SELECT ON calls TO anon;
                 RESET ROLE;",
            )
            .await
            .unwrap();
        let anon_reads: i64 = {
            let mut client = db.client().await.unwrap();
            as_role(&mut client, "anon", "SELECT * FROM push_tokens").await.unwrap() as i64
        };
        assert_eq!(anon_reads, 1, "the database starts exposed");
        run(&db, &migrations()).await;
        assert_nothing_reachable(&db).await;

        client
            .batch_execute(
                "GRANT ALL ON users TO anon; GRANT EXECUTE ON FUNCTION token_rate_hit(uuid) TO PUBLIC;
                 ALTER TABLE push_tokens DISABLE ROW LEVEL SECURITY;",
            )
            .await
            .unwrap();
        assert!(migrate::run(&db.url, None, &migrations()).await.unwrap().is_empty());
        assert_nothing_reachable(&db).await;
    }

    /// A table, view, sequence, function and procedure a later migration adds
    /// are locked down by the runner, before that migration commits.
    #[tokio::test]
    async fn a_later_migrations_objects_are_locked_down_too() {
        let db = supabase_database().await;
        let later = "CREATE TABLE later_things (id bigserial PRIMARY KEY, label text);
            CREATE SEQUENCE later_counter;
            CREATE VIEW later_labels AS SELECT id, label FROM later_things;
            CREATE FUNCTION later_count() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM later_things $$;
            CREATE PROCEDURE later_add(p_label text) LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO later_things (label) VALUES (p_label); END $$;
            INSERT INTO later_things (label) VALUES ('hidden');";
        run(&db, &copy_of_migrations(None, &[("9999_add_later_things.sql", later)])).await;
        seed(&db.client().await.unwrap()).await;
        let checked = assert_nothing_reachable(&db).await;
        for name in ["later_things", "later_things_id_seq", "later_counter", "later_labels", "later_count()", "later_add(text)"] {
            assert!(checked.iter().any(|checked| checked == name), "{name} not in {checked:?}");
        }
        // The owner, as the app, still uses them.
        let client = db.client().await.unwrap();
        client.batch_execute("CALL later_add('again')").await.unwrap();
        let count: i64 = client.query_one("SELECT later_count()", &[]).await.unwrap().get(0);
        assert_eq!(count, 2);
    }
}

/// Every state and reason the database quotes (CHECKs, the active-party and
/// stop-ringing triggers, function bodies, partial indexes) against the
/// domain's tables, and no component quoting one by hand: a copy changed
/// alone fails here, naming it.
mod drift {
    use std::collections::BTreeSet;

    use domain::call::{self, CallEndReason, CallStatus, CallType};
    use domain::session::{self, SessionAccess, SessionEndReason, SessionStatus, SessionType};
    use domain::Stored;
    use e2e::db::TestDb;

    /// The quoted literals of SQL text, without their casts (`'a'::text` → `a`).
    fn literals(sql: &str) -> BTreeSet<String> {
        sql.split('\'').skip(1).step_by(2).map(str::to_owned).collect()
    }

    /// The literals between the first `start` and the next `end` after it.
    fn literals_between(sql: &str, start: &str, end: &str) -> BTreeSet<String> {
        let Some(from) = sql.find(start) else { return BTreeSet::new() };
        let rest = &sql[from + start.len()..];
        literals(&rest[..rest.find(end).unwrap_or(rest.len())])
    }

    fn names<T: Stored>(values: impl IntoIterator<Item = T>) -> BTreeSet<String> {
        values.into_iter().map(|value| value.stored().to_owned()).collect()
    }

    /// What differs between the database's copy and the domain's, if anything.
    fn compare(problems: &mut Vec<String>, what: &str, database: BTreeSet<String>, domain: BTreeSet<String>) {
        if database != domain {
            let only_db: Vec<_> = database.difference(&domain).collect();
            let only_domain: Vec<_> = domain.difference(&database).collect();
            problems.push(format!("{what}: only in the database {only_db:?}, only in the domain {only_domain:?}"));
        }
    }

    async fn one(client: &tokio_postgres::Client, sql: &str, name: &str) -> String {
        client
            .query_opt(sql, &[&name])
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} is not in the migrated database"))
            .get(0)
    }

    async fn constraint(client: &tokio_postgres::Client, name: &str) -> String {
        one(client, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1", name).await
    }

    async fn trigger(client: &tokio_postgres::Client, name: &str) -> String {
        one(client, "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = $1", name).await
    }

    async fn function(client: &tokio_postgres::Client, name: &str) -> String {
        one(client, "SELECT prosrc FROM pg_proc WHERE proname = $1", name).await
    }

    async fn index_predicate(client: &tokio_postgres::Client, name: &str) -> String {
        one(client, "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = to_regclass($1)", name).await
    }

    #[tokio::test]
    async fn the_database_quotes_the_domains_states() {
        let db = TestDb::migrated().await.unwrap();
        let client = db.client().await.unwrap();
        let mut problems = Vec::new();
        let p = &mut problems;

        let terminal = names(CallStatus::ALL.iter().copied().filter(|s| s.is_terminal()));
        let active = names(call::ACTIVE.iter().copied());

        compare(p, "calls status CHECK (calls_status_check) vs CallStatus::ALL", literals(&constraint(&client, "calls_status_check").await), names(CallStatus::ALL.iter().copied()));
        compare(p, "calls call_type CHECK vs CallType::ALL", literals(&constraint(&client, "calls_call_type_check").await), names(CallType::ALL.iter().copied()));
        compare(p, "calls end_reason CHECK (calls_end_reason_known) vs CallEndReason::ALL", literals(&constraint(&client, "calls_end_reason_known").await), names(CallEndReason::ALL.iter().copied()));
        compare(p, "calls ended-iff CHECK (calls_terminal_has_end) vs CallStatus::is_terminal", literals(&constraint(&client, "calls_terminal_has_end").await), terminal);

        compare(p, "trigger calls_release_parties WHEN vs call::ACTIVE", literals(&trigger(&client, "calls_release_parties").await), active.clone());
        compare(p, "function calls_claim_parties (its IF) vs call::ACTIVE", literals_between(&function(&client, "calls_claim_parties").await, "IF NEW.status", "THEN"), active.clone());
        compare(p, "function calls_terminal_is_final (its IF) vs call::ACTIVE", literals_between(&function(&client, "calls_terminal_is_final").await, "IF OLD.status", "THEN"), active.clone());
        compare(p, "index calls_active_by_status predicate vs call::ACTIVE", literals(&index_predicate(&client, "calls_active_by_status").await), active);

        // Its WHEN has one branch per state a ring can stop from: out of
        // ringing by the new status, out of initiated by the end_reason
        // (each of those ends has its own, crates/domain checks).
        let stop_ringing = trigger(&client, "calls_stop_ringing").await;
        let branches: Vec<&str> = stop_ringing.split(" OR ").collect();
        let branch = |from: CallStatus| branches.iter().copied().find(|b| literals_between(b, "old.status", "AND").contains(from.as_str())).unwrap_or("");
        let stopping = |from: CallStatus| call::TRANSITIONS.iter().filter(move |t| call::stops_ringing(from, t));
        let old_states: BTreeSet<String> = branches.iter().flat_map(|b| literals_between(b, "old.status", "AND")).collect();
        compare(p, "trigger calls_stop_ringing WHEN, the old state of each branch", old_states, names([CallStatus::Initiated, CallStatus::Ringing]));
        if branches.len() != 2 {
            p.push(format!("trigger calls_stop_ringing WHEN: expected two branches, found {stop_ringing}"));
        }
        compare(
            p,
            "trigger calls_stop_ringing WHEN, new status out of ringing vs call::stops_ringing",
            literals_between(branch(CallStatus::Ringing), "new.status", ")))"),
            names(stopping(CallStatus::Ringing).map(|t| t.to)),
        );
        compare(
            p,
            "trigger calls_stop_ringing WHEN, end_reason out of initiated vs call::stops_ringing",
            literals_between(branch(CallStatus::Initiated), "new.end_reason", ")))"),
            names(stopping(CallStatus::Initiated).filter_map(|t| t.end_reason)),
        );
        // It copies NEW.status: the list lives in the trigger's WHEN alone.
        compare(p, "function push_outbox_enqueue_stop_ringing quotes no state", literals(&function(&client, "push_outbox_enqueue_stop_ringing").await), BTreeSet::new());

        compare(p, "live_sessions status CHECK vs SessionStatus::ALL", literals(&constraint(&client, "live_sessions_status_check").await), names(SessionStatus::ALL.iter().copied()));
        compare(p, "live_sessions end_reason CHECK vs SessionEndReason::ALL", literals(&constraint(&client, "live_sessions_end_reason_check").await), names(SessionEndReason::ALL.iter().copied()));
        compare(p, "live_sessions type CHECK vs SessionType::ALL", literals(&constraint(&client, "live_sessions_type_check").await), names(SessionType::ALL.iter().copied()));
        compare(p, "live_sessions access CHECK vs SessionAccess::ALL", literals(&constraint(&client, "live_sessions_access_check").await), names(SessionAccess::ALL.iter().copied()));
        compare(p, "live_sessions ended-iff CHECK vs SessionStatus::Ended", literals(&constraint(&client, "live_sessions_ended_has_time_and_reason").await), names([SessionStatus::Ended]));
        compare(p, "index live_sessions_one_open_per_host predicate vs SessionStatus::Ended", literals(&index_predicate(&client, "live_sessions_one_open_per_host").await), names([SessionStatus::Ended]));
        let host_timeout = function(&client, "end_sessions_past_host_grace").await;
        compare(p, "function end_sessions_past_host_grace's grace states vs session::IN_GRACE", literals_between(&host_timeout, "status IN (", ")"), names(session::IN_GRACE.iter().copied()));
        compare(
            p,
            "function end_sessions_past_host_grace quotes the grace states, ended and host_timeout",
            literals(&host_timeout),
            names(session::IN_GRACE.iter().copied()).into_iter().chain(names([SessionStatus::Ended])).chain(names([SessionEndReason::HostTimeout])).collect(),
        );

        assert!(problems.is_empty(), "the database and crates/domain disagree:\n{}", problems.join("\n"));
    }

    /// Components write states and reasons through the domain's names
    /// (`component_kit::sql`), never as a quoted SQL literal.
    #[test]
    fn no_component_quotes_a_state() {
        let quoted: BTreeSet<String> = names(CallStatus::ALL.iter().copied())
            .into_iter()
            .chain(names(CallEndReason::ALL.iter().copied()))
            .chain(names(SessionStatus::ALL.iter().copied()))
            .chain(names(SessionEndReason::ALL.iter().copied()))
            .chain(names(SessionType::ALL.iter().copied()))
            .chain(names(SessionAccess::ALL.iter().copied()))
            .map(|name| format!("'{name}'"))
            .collect();
        let root = e2e::paths::repo_root();
        let mut files = Vec::new();
        rust_files(&root.join("functions"), &mut files);
        rust_files(&root.join("crates/component-kit/src"), &mut files);
        assert!(files.len() > 20, "found only {files:?}");
        let mut found = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            for (number, line) in text.lines().enumerate() {
                for literal in quoted.iter().filter(|literal| line.contains(literal.as_str())) {
                    found.push(format!("{}:{}: {literal}: {}", file.strip_prefix(&root).unwrap_or(file).display(), number + 1, line.trim()));
                }
            }
        }
        assert!(found.is_empty(), "quote it through component_kit::sql and the domain's enums:\n{}", found.join("\n"));
    }

    fn rust_files(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "target") {
                    rust_files(&path, files);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
}
