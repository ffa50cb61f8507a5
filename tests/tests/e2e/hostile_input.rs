//! Every JSON endpoint answers hostile bodies with a 4xx JSON error and
//! leaves the database as it was.

use e2e::app::App;
use e2e::users::{bearer, new_user};

const ENDPOINTS: &[&str] = &[
    "/get-livekit-token",
    "/live-session-start",
    "/live-session-end",
    "/call-initiate",
    "/call-action",
    "/push-token-register",
    "/push-token-unregister",
];

const TABLES: &[&str] = &[
    "users",
    "live_sessions",
    "subscriptions",
    "session_purchases",
    "calls",
    "active_call_parties",
    "token_rate_limits",
    "push_tokens",
    "push_log",
    "webhook_events",
    "room_participants",
    "room_tracks",
];

async fn snapshot(app: &App) -> Vec<(String, i64)> {
    let sql = app.sql().await;
    let mut counts = Vec::new();
    for table in TABLES {
        let count: i64 = sql.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
        counts.push(((*table).to_owned(), count));
    }
    counts
}

fn bodies() -> Vec<(&'static str, Vec<u8>)> {
    let id = uuid::Uuid::new_v4();
    vec![
        ("oversized", format!(r#"{{"sessionId":"{id}","callId":"{id}","calleeId":"{id}","pad":"{}"}}"#, "x".repeat(40_000)).into_bytes()),
        ("truncated", format!(r#"{{"sessionId":"{id}""#).into_bytes()),
        ("array", b"[1,2,3]".to_vec()),
        ("number", b"42".to_vec()),
        ("string", br#""hello""#.to_vec()),
        ("null", b"null".to_vec()),
        ("wrong types", br#"{"sessionId":1,"callId":true,"calleeId":[],"type":{},"action":5,"token":7,"platform":null}"#.to_vec()),
        ("non-utf8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ("empty", Vec::new()),
        ("deep nesting", "[".repeat(100_000).into_bytes()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_refuses_hostile_bodies_without_writing() {
    let app = App::start().await;
    let before = snapshot(&app).await;
    let authorization = bearer(new_user());
    for endpoint in ENDPOINTS {
        for (name, body) in bodies() {
            let answer = app
                .host
                .client
                .post(app.host.url(endpoint))
                .header("authorization", &authorization)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = answer.status().as_u16();
            let text = answer.text().await.unwrap();
            assert!((400..500).contains(&status), "{endpoint} {name}: {status} {text}");
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{endpoint} {name}: not JSON: {text}"));
            assert_eq!(json["success"], false, "{endpoint} {name}");
            assert_eq!(json["errorCode"], "INVALID_REQUEST", "{endpoint} {name}: {json}");
        }
    }
    // Webhooks: validly signed garbage is refused too.
    for (name, body) in bodies() {
        let text = String::from_utf8_lossy(&body).into_owned();
        let answer = app.webhook_signed(&text, Some(&e2e::webhooks::sign(&text))).await;
        assert!((400..500).contains(&answer.status), "webhook {name}: {:?}", answer.body);
    }
    assert_eq!(snapshot(&app).await, before, "no table changed");
    app.stop().await;
}
