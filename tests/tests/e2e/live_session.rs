//! `POST /live-session-start` and `POST /live-session-end` end to end.

use e2e::app::{App, LIVEKIT_KEY, LIVEKIT_SECRET};
use e2e::fake_livekit::Mode;
use e2e::users::{bearer, new_user};
use livekit_api::access_token::TokenVerifier;
use serde_json::json;
use uuid::Uuid;

async fn status_of(app: &App, id: Uuid) -> (String, Option<String>, bool, bool) {
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT status, end_reason, ended_at IS NOT NULL, livekit_room_deleted_at IS NOT NULL FROM live_sessions WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_starts_once_and_gets_a_publisher_token() {
    let app = App::start().await;
    let host = new_user();
    let answer = app
        .post("/live-session-start", Some(&bearer(host)), r#"{"type":"audio_live","access":"paid","priceCoins":75,"title":" Gece sohbeti "}"#)
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let session = &answer.body["session"];
    assert_eq!(session["status"], "live");
    assert_eq!(session["type"], "audio_live");
    assert_eq!(session["access"], "paid");
    assert_eq!(session["priceCoins"], 75);
    assert_eq!(session["title"], "Gece sohbeti");
    assert_eq!(session["creatorId"], host.to_string());
    let id: Uuid = session["id"].as_str().unwrap().parse().unwrap();
    let claims = TokenVerifier::with_api_key(LIVEKIT_KEY, LIVEKIT_SECRET).verify(answer.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.sub, host.to_string());
    assert_eq!(claims.video.room, session["roomName"].as_str().unwrap());
    assert!(claims.video.can_publish && claims.video.can_publish_data && claims.video.can_subscribe);
    assert_eq!(claims.video.can_publish_sources, vec!["microphone".to_owned()], "an audio broadcast publishes only the microphone");
    assert_eq!(claims.metadata, r#"{"role":"host"}"#);
    let row = app.sql().await.query_one("SELECT creator_id, price_coins, livekit_room_name FROM live_sessions WHERE id = $1", &[&id]).await.unwrap();
    assert_eq!(row.get::<_, Uuid>(0), host);
    assert_eq!(row.get::<_, i32>(1), 75);
    assert_eq!(row.get::<_, String>(2), session["roomName"].as_str().unwrap());

    // A second start while the first is open: 409 naming the open one.
    let again = app.post_with("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#, &[("accept-language", "en")]).await;
    assert_eq!((again.status, again.code()), (409, "ALREADY_LIVE"));
    assert_eq!(again.body["sessionId"], id.to_string());
    assert_eq!(again.body["error"], "You already have a broadcast in progress");
    let count = app.sql().await.query_one("SELECT count(*) FROM live_sessions", &[]).await.unwrap();
    assert_eq!(count.get::<_, i64>(0), 1);

    // Parallel starts by one host: exactly one wins.
    let other = new_user();
    let authorization = bearer(other);
    let starts = (0..8).map(|_| {
        let request = app.host.client.post(app.host.url("/live-session-start")).header("authorization", &authorization).body(r#"{"type":"video_live"}"#);
        tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
    });
    let mut statuses = Vec::new();
    for start in starts.collect::<Vec<_>>() {
        statuses.push(start.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409, 409, 409]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_validates_everything_and_writes_nothing_on_error() {
    let app = App::start().await;
    let host = bearer(new_user());
    for body in [
        "",
        "{",
        "{}",
        r#"{"type":"radio"}"#,
        r#"{"type":"video_live","access":"friends"}"#,
        r#"{"type":"video_live","access":"paid"}"#,
        r#"{"type":"video_live","access":"paid","priceCoins":-5}"#,
        r#"{"type":"video_live","access":"public","priceCoins":5}"#,
        r#"{"type":"video_live","title":["x"]}"#,
    ] {
        let answer = app.post("/live-session-start", Some(&host), body).await;
        assert_eq!((answer.status, answer.code()), (400, "INVALID_REQUEST"), "{body}");
        assert_eq!(answer.body["error"], "Geçersiz istek");
    }
    let answer = app.post("/live-session-start", None, r#"{"type":"video_live"}"#).await;
    assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"));
    let count = app.sql().await.query_one("SELECT count(*) FROM live_sessions", &[]).await.unwrap();
    assert_eq!(count.get::<_, i64>(0), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_ends_the_session_and_the_room_is_deleted() {
    let app = App::start().await;
    let host = new_user();
    let started = app.post("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#).await;
    let id: Uuid = started.body["session"]["id"].as_str().unwrap().parse().unwrap();
    let room = started.body["roomName"].as_str().unwrap().to_owned();
    let body = json!({ "sessionId": id }).to_string();

    // Strangers and unknown sessions change nothing.
    let stranger = app.post("/live-session-end", Some(&bearer(new_user())), &body).await;
    assert_eq!((stranger.status, stranger.code()), (403, "FORBIDDEN"));
    let unknown = app.post("/live-session-end", Some(&bearer(host)), &json!({ "sessionId": Uuid::new_v4() }).to_string()).await;
    assert_eq!((unknown.status, unknown.code()), (404, "SESSION_NOT_FOUND"));
    assert_eq!(status_of(&app, id).await, ("live".to_owned(), None, false, false));
    assert!(app.livekit.received().is_empty());

    let ended = app.post("/live-session-end", Some(&bearer(host)), &body).await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(ended.body["session"]["status"], "ended");
    assert_eq!(ended.body["session"]["endReason"], "host_ended");
    assert_eq!(ended.body["endedNow"], true);
    assert_eq!(ended.body["roomDeletion"], "done");
    assert_eq!(status_of(&app, id).await, ("ended".to_owned(), Some("host_ended".to_owned()), true, true));
    let received = app.livekit.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "DeleteRoom");
    assert_eq!(received[0].body, json!({ "room": room }));
    let claims = received[0].claims.as_ref().expect("the fake verified the server token");
    assert!(claims.video.room_create);

    // Repeating is harmless: same answer, no second deletion.
    let again = app.post("/live-session-end", Some(&bearer(host)), &body).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["endedNow"], false);
    assert_eq!(again.body["session"]["endedAt"], ended.body["session"]["endedAt"]);
    assert_eq!(app.livekit.received().len(), 1);

    // An ended session gives no more tokens.
    let token = app.post("/get-livekit-token", Some(&bearer(host)), &body).await;
    assert_eq!((token.status, token.code()), (410, "SESSION_ENDED"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_outage_does_not_undo_the_end() {
    let app = App::start_with(&[("livekit_timeout_seconds", "1")]).await;
    for mode in [Mode::Fail, Mode::Hang] {
        let host = new_user();
        let started = app.post("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#).await;
        let id: Uuid = started.body["session"]["id"].as_str().unwrap().parse().unwrap();
        app.livekit.set_mode(mode);
        let began = std::time::Instant::now();
        let ended = app.post("/live-session-end", Some(&bearer(host)), &json!({ "sessionId": id }).to_string()).await;
        assert_eq!(ended.status, 200, "{mode:?}: {:?}", ended.body);
        assert_eq!(ended.body["roomDeletion"], "pending", "{mode:?}");
        assert!(began.elapsed() < std::time::Duration::from_secs(10), "{mode:?}: bounded by the timeout and retries");
        assert_eq!(status_of(&app, id).await, ("ended".to_owned(), Some("host_ended".to_owned()), true, false));
        // The next end request retries the deletion once LiveKit is back.
        app.livekit.set_mode(Mode::Normal);
        let again = app.post("/live-session-end", Some(&bearer(host)), &json!({ "sessionId": id }).to_string()).await;
        assert_eq!(again.body["roomDeletion"], "done");
        assert!(status_of(&app, id).await.3);
    }
    app.stop().await;
}
