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
