//! `POST /livekit-webhook` and `GET /live-session-status` end to end.

use e2e::app::{App, LIVEKIT_KEY};
use e2e::users::{bearer, new_user};
use e2e::webhooks::{self, now, participant, room, track};
use serde_json::json;
use uuid::Uuid;

/// Inserts a live session for `host`; returns (id, room name).
async fn live_session(app: &App, host: Uuid) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let room = format!("live_{}", id.simple());
    app.sql()
        .await
        .execute("INSERT INTO live_sessions (id, creator_id, type, livekit_room_name) VALUES ($1, $2, 'video_live', $3)", &[&id, &host, &room])
        .await
        .unwrap();
    (id, room)
}

async fn session_row(app: &App, id: Uuid) -> (String, bool, Option<String>) {
    let row = app.sql().await.query_one("SELECT status, host_left_at IS NOT NULL, end_reason FROM live_sessions WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1), row.get(2))
}

async fn events_recorded(app: &App) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM webhook_events", &[]).await.unwrap().get(0)
}

fn event_id() -> String {
    format!("EV_{}", Uuid::new_v4().simple())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_tampered_webhooks_are_refused_and_write_nothing() {
    let app = App::start().await;
    let host = new_user();
    let (id, room_name) = live_session(&app, host).await;
    let body = participant(&event_id(), "participant_left", &room_name, &host.to_string(), now(), Some("CLIENT_INITIATED"));
    let expired = {
        use base64::Engine as _;
        let digest = base64::engine::general_purpose::STANDARD.encode(hmac_sha256::Hash::hash(body.as_bytes()));
        domain::hs256::sign(&json!({ "iss": LIVEKIT_KEY, "exp": now() - 600, "nbf": now() - 900, "sha256": digest }), b"secret").unwrap()
    };
    let tampered = body.replace("CLIENT_INITIATED", "SIGNAL_CLOSE");
    let cases: Vec<(&str, String, Option<String>)> = vec![
        ("no signature", body.clone(), None),
        ("garbage", body.clone(), Some("garbage".into())),
        ("wrong secret", body.clone(), Some(webhooks::sign_with(&body, LIVEKIT_KEY, "not-the-secret"))),
        ("wrong key", body.clone(), Some(webhooks::sign_with(&body, "otherkey", "secret"))),
        ("expired", body.clone(), Some(expired)),
        ("body tampered after signing", tampered, Some(webhooks::sign(&body))),
    ];
    for (name, payload, authorization) in cases {
        let answer = app.webhook_signed(&payload, authorization.as_deref()).await;
        assert_eq!((answer.status, answer.code()), (401, "INVALID_SIGNATURE"), "{name}: {:?}", answer.body);
    }
    assert_eq!(events_recorded(&app).await, 0);
    assert_eq!(session_row(&app, id).await, ("live".to_owned(), false, None));

    // Valid signature, broken JSON: 400, nothing written.
    let answer = app.webhook("{not json").await;
    assert_eq!((answer.status, answer.code()), (400, "INVALID_REQUEST"));
    // Unknown events and foreign rooms: 200 and ignored.
    let answer = app.webhook(&room(&event_id(), "egress_started", &room_name, now())).await;
    assert_eq!(answer.status, 200);
    let answer = app.webhook(&participant(&event_id(), "participant_joined", "someone-elses-room", "x", now(), None)).await;
    assert_eq!(answer.status, 200);
    assert!(answer.body["outcome"].as_str().unwrap().starts_with("ignored"));
    assert_eq!(session_row(&app, id).await, ("live".to_owned(), false, None));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_disconnection_grace_pause_return_and_timeout() {
    let app = App::start().await;
    let host = new_user();
    let viewer = new_user();
    let (id, room_name) = live_session(&app, host).await;
    let host_id = host.to_string();
    // Event times are "now": host_left_at is the event time and the 30 s grace runs on the wall clock.
    let t = now() - 5;

    // A network drop starts the grace; the viewer-facing status shows it.
    let dropped = participant(&event_id(), "participant_left", &room_name, &host_id, t, Some("SIGNAL_CLOSE"));
    assert_eq!(app.webhook(&dropped).await.status, 200);
    assert_eq!(session_row(&app, id).await, ("host_disconnected".to_owned(), true, None));
    let status = app.host.client.get(app.host.url(&format!("/live-session-status?sessionId={id}"))).header("authorization", bearer(viewer)).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!(status["status"], "host_disconnected");
    assert!(status["hostLeftAt"].is_string() && status["graceEndsAt"].is_string(), "{status}");

    // The same event again changes nothing.
    let again = app.webhook(&dropped).await;
    assert_eq!(again.body["outcome"], "duplicate");
    assert_eq!(events_recorded(&app).await, 1);

    // Back within the grace: live again.
    assert_eq!(app.webhook(&participant(&event_id(), "participant_joined", &room_name, &host_id, t + 10, None)).await.status, 200);
    assert_eq!(session_row(&app, id).await, ("live".to_owned(), false, None));
    // A late `left` older than that join does not disconnect the host.
    let stale = app.webhook(&participant(&event_id(), "participant_left", &room_name, &host_id, t + 5, Some("CONNECTION_TIMEOUT"))).await;
    assert_eq!(stale.body["outcome"], "stale");
    assert_eq!(session_row(&app, id).await.0, "live");
    // Viewers come and go without touching the status.
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &viewer.to_string(), t + 11, None)).await;
    app.webhook(&participant(&event_id(), "participant_left", &room_name, &viewer.to_string(), t + 12, Some("CLIENT_INITIATED"))).await;
    assert_eq!(session_row(&app, id).await.0, "live");

    // A clean close pauses at once.
    app.webhook(&participant(&event_id(), "participant_left", &room_name, &host_id, t + 20, Some("CLIENT_INITIATED"))).await;
    assert_eq!(session_row(&app, id).await, ("paused".to_owned(), true, None));
    // An aborted connection is a drop.
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &host_id, t + 21, None)).await;
    app.webhook(&participant(&event_id(), "participant_connection_aborted", &room_name, &host_id, t + 22, None)).await;
    assert_eq!(session_row(&app, id).await.0, "host_disconnected");

    // No return within the grace: the next webhook for the room ends it.
    app.sql().await.execute("UPDATE live_sessions SET host_left_at = now() - interval '31 seconds' WHERE id = $1", &[&id]).await.unwrap();
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &viewer.to_string(), t + 30, None)).await;
    assert_eq!(session_row(&app, id).await, ("ended".to_owned(), true, Some("host_timeout".to_owned())));
    // Even a host who comes back now finds it ended.
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &host_id, t + 31, None)).await;
    assert_eq!(session_row(&app, id).await.0, "ended");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_endpoint_enforces_an_overdue_grace_and_room_finished_ends() {
    let app = App::start_with(&[("host_grace_seconds", "5")]).await;
    let host = new_user();
    let (id, room_name) = live_session(&app, host).await;
    app.webhook(&participant(&event_id(), "participant_left", &room_name, &host.to_string(), now(), Some("MEDIA_FAILURE"))).await;
    app.sql().await.execute("UPDATE live_sessions SET host_left_at = now() - interval '6 seconds' WHERE id = $1", &[&id]).await.unwrap();
    let status: serde_json::Value = app
        .host
        .client
        .get(app.host.url(&format!("/live-session-status?sessionId={id}")))
        .header("authorization", bearer(new_user()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!((status["status"].as_str(), status["endReason"].as_str()), (Some("ended"), Some("host_timeout")), "{status}");
    assert!(status["graceEndsAt"].is_null());
    let unknown = app.host.client.get(app.host.url(&format!("/live-session-status?sessionId={}", Uuid::new_v4()))).header("authorization", bearer(host)).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let bad = app.host.client.get(app.host.url("/live-session-status?sessionId=nope")).header("authorization", bearer(host)).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let anonymous = app.host.client.get(app.host.url(&format!("/live-session-status?sessionId={id}"))).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let (other, other_room) = live_session(&app, new_user()).await;
    app.webhook(&room(&event_id(), "room_finished", &other_room, now())).await;
    assert_eq!(session_row(&app, other).await, ("ended".to_owned(), false, Some("room_finished".to_owned())));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_live_end_and_count_tracks() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let started = app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee }).to_string()).await;
    let call = started.body["call"]["id"].as_str().unwrap().to_owned();
    let room_name = started.body["roomName"].as_str().unwrap().to_owned();
    app.post("/call-action", Some(&bearer(callee)), &json!({ "callId": call, "action": "accept" }).to_string()).await;
    let call_id: Uuid = call.parse().unwrap();
    let sql = app.sql().await;
    let call_row = |_: &App| {
        let sql = &sql;
        async move {
            let row = sql.query_one("SELECT status, end_reason, published_tracks FROM calls WHERE id = $1", &[&call_id]).await.unwrap();
            (row.get::<_, String>(0), row.get::<_, Option<String>>(1), row.get::<_, i32>(2))
        }
    };
    let t = now() - 50;
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &caller.to_string(), t, None)).await;
    assert_eq!(call_row(&app).await.0, "accepted", "one party is not enough");
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &callee.to_string(), t + 1, None)).await;
    assert_eq!(call_row(&app).await.0, "live");

    app.webhook(&track(&event_id(), "track_published", &room_name, &caller.to_string(), "TR_a", "AUDIO", t + 2)).await;
    app.webhook(&track(&event_id(), "track_published", &room_name, &callee.to_string(), "TR_b", "AUDIO", t + 3)).await;
    assert_eq!(call_row(&app).await.2, 2);
    app.webhook(&track(&event_id(), "track_unpublished", &room_name, &callee.to_string(), "TR_b", "AUDIO", t + 4)).await;
    assert_eq!(call_row(&app).await.2, 1);

    // A network drop keeps the call live (the sweep judges the grace).
    app.webhook(&participant(&event_id(), "participant_left", &room_name, &callee.to_string(), t + 5, Some("SIGNAL_CLOSE"))).await;
    assert_eq!(call_row(&app).await.0, "live");
    app.webhook(&participant(&event_id(), "participant_joined", &room_name, &callee.to_string(), t + 6, None)).await;
    // A clean leave ends it.
    app.webhook(&participant(&event_id(), "participant_left", &room_name, &caller.to_string(), t + 7, Some("CLIENT_INITIATED"))).await;
    assert_eq!(call_row(&app).await, ("ended".to_owned(), Some("user_ended".to_owned()), 1));
    app.stop().await;
}
