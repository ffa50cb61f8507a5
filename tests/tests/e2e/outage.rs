//! A database outage, staged with a proxy that cuts every connection: every
//! endpoint answers 503 SERVICE_UNAVAILABLE (retryable, `Retry-After`) within
//! a bounded time, nothing is half-written, and the service recovers on its
//! own once the database is back.

use std::time::{Duration, Instant};

use e2e::app::{Answer, App};
use e2e::tcp_proxy::TcpProxy;
use e2e::users::{bearer, new_user};
use serde_json::json;
use uuid::Uuid;

/// (method, path, body) for every route that touches the database.
fn requests(session: Uuid, call: Uuid, callee: Uuid) -> Vec<(&'static str, String, String)> {
    vec![
        ("POST", "/get-livekit-token".into(), json!({ "sessionId": session }).to_string()),
        ("POST", "/live-session-start".into(), json!({ "type": "video_live" }).to_string()),
        ("POST", "/live-session-end".into(), json!({ "sessionId": session }).to_string()),
        ("GET", format!("/live-session-status?sessionId={session}"), String::new()),
        ("POST", "/call-initiate".into(), json!({ "calleeId": callee }).to_string()),
        ("POST", "/call-action".into(), json!({ "callId": call, "action": "cancel" }).to_string()),
        ("POST", "/push-token-register".into(), json!({ "token": "ExponentPushToken[x]", "platform": "ios" }).to_string()),
        ("POST", "/push-token-unregister".into(), json!({ "token": "ExponentPushToken[x]" }).to_string()),
        ("POST", "/cleanup-orphans".into(), String::new()),
    ]
}

async fn send(app: &App, user: Uuid, method: &str, path: &str, body: &str) -> (u16, serde_json::Value, Option<String>) {
    let authorization = if path == "/cleanup-orphans" { "Bearer outage-secret-of-at-least-32-bytes".to_owned() } else { bearer(user) };
    let request = match method {
        "GET" => app.host.client.get(app.host.url(path)),
        _ => app.host.client.post(app.host.url(path)).body(body.to_owned()),
    };
    let response = request.header("authorization", authorization).send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, response.json().await.unwrap_or(serde_json::Value::Null), retry_after)
}

async fn counts(app: &App) -> Vec<i64> {
    let sql = app.sql().await;
    let mut counts = Vec::new();
    for table in ["live_sessions", "calls", "push_tokens", "token_rate_limits", "webhook_events"] {
        counts.push(sql.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0));
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_is_503_while_the_database_is_gone_and_recovers() {
    let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let proxied = proxy.addr.to_string();
    let app = App::start_reaching_database(&[("database_host", &proxied), ("cron_secret", "outage-secret-of-at-least-32-bytes")], |url| {
        url.replace("127.0.0.1:5432", &proxied)
    })
    .await;
    let host = new_user();
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let session = Uuid::new_v4();
    app.sql()
        .await
        .execute("INSERT INTO live_sessions (id, creator_id, type, livekit_room_name) VALUES ($1, $2, 'video_live', $3)", &[&session, &host, &format!("live_{}", session.simple())])
        .await
        .unwrap();
    let call: Uuid = app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee }).to_string()).await.body["call"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Warm the pool through the proxy.
    assert_eq!(send(&app, host, "POST", "/get-livekit-token", &json!({ "sessionId": session }).to_string()).await.0, 200);
    let before = counts(&app).await;

    proxy.cut().await;
    let other = new_user();
    for (method, path, body) in requests(session, call, other) {
        let began = Instant::now();
        let (status, body, retry_after) = send(&app, caller, method, &path, &body).await;
        assert!(began.elapsed() < Duration::from_secs(10), "{path} answered after {:?}", began.elapsed());
        assert_eq!((status, body["errorCode"].as_str()), (503, Some("SERVICE_UNAVAILABLE")), "{path}: {body}");
        assert_eq!(body["retryable"], true, "{path}");
        assert_eq!(retry_after.as_deref(), Some("5"), "{path}");
    }
    let webhook_body = e2e::webhooks::participant("EV_outage", "participant_joined", &format!("live_{}", session.simple()), "viewer", e2e::webhooks::now(), None);
    let webhook: Answer = app.webhook(&webhook_body).await;
    assert_eq!((webhook.status, webhook.code()), (503, "SERVICE_UNAVAILABLE"), "LiveKit will retry");
    let health = app.host.client.get(app.host.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    assert_eq!(counts(&app).await, before, "nothing was half-written");

    proxy.restore();
    // Recovers without a restart: within a few attempts every endpoint works again.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _, _) = send(&app, host, "POST", "/get-livekit-token", &json!({ "sessionId": session }).to_string()).await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.webhook(&webhook_body).await.status, 200, "the retried webhook is applied");
    let (status, body, _) = send(&app, callee, "POST", "/call-action", &json!({ "callId": call, "action": "accept" }).to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.host.client.get(app.host.url("/health")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_outage_leaves_tokens_working_ends_rows_and_the_sweep_deletes_the_rooms_later() {
    let app = App::start_with(&[("livekit_timeout_seconds", "1"), ("cron_secret", "outage-secret-of-at-least-32-bytes")]).await;
    app.livekit.set_mode(e2e::fake_livekit::Mode::Hang);
    let host = new_user();
    let started = app.post("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#).await;
    assert_eq!(started.status, 201);
    let session: Uuid = started.body["session"]["id"].as_str().unwrap().parse().unwrap();
    // Minting never waits on LiveKit.
    let began = Instant::now();
    assert_eq!(app.post("/get-livekit-token", Some(&bearer(new_user())), &json!({ "sessionId": session }).to_string()).await.status, 200);
    assert!(began.elapsed() < Duration::from_secs(1));

    let ended = app.post("/live-session-end", Some(&bearer(host)), &json!({ "sessionId": session }).to_string()).await;
    assert_eq!((ended.status, ended.body["roomDeletion"].as_str()), (200, Some("pending")));
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let call = app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee }).to_string()).await.body["call"]["id"].as_str().unwrap().to_owned();
    app.post("/call-action", Some(&bearer(callee)), &json!({ "callId": call, "action": "accept" }).to_string()).await;
    let call_end = app.post("/call-action", Some(&bearer(caller)), &json!({ "callId": call, "action": "end" }).to_string()).await;
    assert_eq!((call_end.status, call_end.body["call"]["status"].as_str(), call_end.body["roomDeletion"].as_str()), (200, Some("ended"), Some("pending")));
    assert_eq!(pending_deletions(&app).await, 2);

    // LiveKit is back: the next sweep deletes both rooms.
    app.livekit.set_mode(e2e::fake_livekit::Mode::Normal);
    let (status, body, _) = send(&app, host, "POST", "/cleanup-orphans", "").await;
    assert_eq!(status, 200);
    assert_eq!(body["summary"]["steps"]["roomsDeleted"], 2, "{body}");
    assert_eq!(pending_deletions(&app).await, 0);
    app.stop().await;
}

async fn pending_deletions(app: &App) -> i64 {
    app.sql()
        .await
        .query_one(
            "SELECT (SELECT count(*) FROM live_sessions WHERE status = 'ended' AND livekit_room_deleted_at IS NULL)
                  + (SELECT count(*) FROM calls WHERE status = 'ended' AND livekit_room_deleted_at IS NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}
