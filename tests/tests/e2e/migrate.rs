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
