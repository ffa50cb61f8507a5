//! `GET /health` of the real spin.toml, through the compiled wasm.

use e2e::db::TestDb;
use e2e::host::{vars, TestHost};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_database() {
    let db = TestDb::migrated().await.unwrap();
    let host = TestHost::start(&e2e::paths::spin_toml(), vars([("database_url", &db.url), ("livekit_api_key", "k"), ("livekit_api_secret", "s")]))
        .await
        .unwrap();
    let response = host.client.get(host.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["database"], "ok");
    assert!(body["version"].is_string());
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_unreachable_and_the_server_stays_up() {
    let host = TestHost::start(
        &e2e::paths::spin_toml(),
        vars([
            ("database_url", "postgres://postgres@127.0.0.1:1/nope"),
            ("database_host", "127.0.0.1:1"),
            ("livekit_api_key", "k"),
            ("livekit_api_secret", "s"),
        ]),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let response = host.client.get(host.url("/health")).send().await.unwrap();
        assert_eq!(response.status(), 503);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["database"], "unreachable");
    }
    host.stop().await;
}
