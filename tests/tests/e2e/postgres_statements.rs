//! Statements as Spin runs them (the SQL text on every call) and, behind
//! `PostgresSettings::statement_cache`, prepared once per connection: both
//! give the guest the same answers.

use e2e::db::TestDb;
use e2e::host::{vars, TestHost};
use e2e::manifests::{probe_app, TempManifest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_modes_answer_alike() {
    let db = TestDb::empty().await.unwrap();
    db.client().await.unwrap().batch_execute("CREATE TABLE probe_rows (value text)").await.unwrap();
    let manifest = TempManifest::write(&probe_app(&[])).unwrap();
    let mut answers = Vec::new();
    for statement_cache in [false, true] {
        let mut options = e2e::host::options(&manifest.path, vars([("secret_token", "s"), ("db_url", &db.url)]));
        options.postgres.statement_cache = statement_cache;
        let host = TestHost::start_with(options).await.unwrap();
        let mut seen = Vec::new();
        // Twice each: the second run of a statement is the one a cache serves.
        for path in ["/pg/roundtrip", "/pg/roundtrip", "/pg/insert?value=a", "/pg/insert?value=b", "/pg/bad", "/pg/bad"] {
            let body: serde_json::Value = host.client.get(host.url(path)).send().await.unwrap().json().await.unwrap();
            assert!(body.get("unexpected").is_none(), "{path}: {body}");
            seen.push(body);
        }
        assert!(seen[0]["values"].is_array(), "{}", seen[0]);
        assert_eq!(seen[0], seen[1]);
        assert_eq!((seen[2]["inserted"].as_u64(), seen[3]["inserted"].as_u64()), (Some(1), Some(1)));
        assert!(seen[4]["error"].as_str().unwrap().contains("42P01"), "{}", seen[4]);
        answers.push(seen);
        host.stop().await;
    }
    assert_eq!(answers[0], answers[1], "the cache changes no answer");
}
