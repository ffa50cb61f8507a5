//! `POST /get-livekit-token` end to end through the wasm, with real Postgres.

use e2e::app::{App, Answer, LIVEKIT_KEY, LIVEKIT_SECRET, LIVEKIT_WS_URL};
use e2e::users::{bearer, new_user};
use livekit_api::access_token::TokenVerifier;
use uuid::Uuid;

const TR_EN: &[(&str, &str, &str)] = &[
    ("UNAUTHORIZED", "Oturum süresi doldu, tekrar giriş yapın", "Your session has expired, please sign in again"),
    ("SESSION_NOT_FOUND", "Yayın bulunamadı", "Broadcast not found"),
    ("SUBSCRIPTION_REQUIRED", "Bu yayın sadece abonelere özel", "This broadcast is for subscribers only"),
    ("RATE_LIMITED", "Çok fazla istek, biraz bekleyin", "Too many requests, please wait a moment"),
    ("INTERNAL_ERROR", "Bir hata oluştu, tekrar deneyin", "Something went wrong, please try again"),
    ("INVALID_REQUEST", "Geçersiz istek", "Invalid request"),
    ("CALL_NOT_FOUND", "Arama bulunamadı", "Call not found"),
    ("FORBIDDEN", "Bu işlem için yetkiniz yok", "You are not allowed to do this"),
    ("SESSION_ENDED", "Yayın sona erdi", "This broadcast has ended"),
    ("CALL_ENDED", "Arama sona erdi", "This call has ended"),
    ("CALL_NOT_ACTIVE", "Arama henüz kabul edilmedi", "This call has not been accepted yet"),
];

/// Inserts a live session and returns its id and room name.
async fn session(app: &App, creator: Uuid, access: &str, price: i32, status: &str) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let room = format!("live_{}", id.simple());
    let (ended_at, reason) = if status == "ended" { ("now()", "'host_ended'") } else { ("NULL", "NULL") };
    app.sql()
        .await
        .execute(
            &format!(
                "INSERT INTO live_sessions (id, creator_id, type, status, access, price_coins, livekit_room_name, ended_at, end_reason)
                 VALUES ($1, $2, 'video_live', $3, $4, $5, $6, {ended_at}, {reason})"
            ),
            &[&id, &creator, &status, &access, &price, &room],
        )
        .await
        .unwrap();
    (id, room)
}

async fn call(app: &App, caller: Uuid, callee: Uuid, call_type: &str, status: &str) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let room = format!("call_{}", id.simple());
    let terminal = !["initiated", "ringing", "accepted", "live"].contains(&status);
    let (ended_at, reason) = if terminal { ("now()", "'user_ended'") } else { ("NULL", "NULL") };
    app.sql()
        .await
        .execute(
            &format!(
                "INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name, ended_at, end_reason)
                 VALUES ($1, $2, $3, $4, $5, $6, {ended_at}, {reason})"
            ),
            &[&id, &caller, &callee, &call_type, &status, &room],
        )
        .await
        .unwrap();
    (id, room)
}

async fn ask(app: &App, user: Uuid, body: serde_json::Value) -> Answer {
    app.post("/get-livekit-token", Some(&bearer(user)), &body.to_string()).await
}

/// Asserts the error contract in both languages.
async fn assert_error(app: &App, authorization: Option<&str>, body: &str, status: u16, code: &str) {
    let (_, tr, en) = TR_EN.iter().find(|(c, _, _)| *c == code).copied().unwrap_or((code, "", ""));
    for (language, text) in [(None, tr), (Some("en-US,en;q=0.9"), en)] {
        let headers: Vec<(&str, &str)> = language.map(|l| vec![("accept-language", l)]).unwrap_or_default();
        let answer = app.post_with("/get-livekit-token", authorization, body, &headers).await;
        assert_eq!((answer.status, answer.code()), (status, code), "{body} -> {:?}", answer.body);
        assert_eq!(answer.body["success"], false);
        if !text.is_empty() {
            assert_eq!(answer.body["error"], text, "{code} {language:?}");
        }
        assert!(answer.body["retryable"].is_boolean());
        assert!(answer.header("x-request-id").is_some());
    }
}

fn verify(answer: &Answer) -> livekit_api::access_token::Claims {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    TokenVerifier::with_api_key(LIVEKIT_KEY, LIVEKIT_SECRET)
        .verify(answer.body["token"].as_str().unwrap())
        .expect("livekit-api accepts the token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_viewers_get_the_right_grants() {
    let app = App::start().await;
    let host = new_user();
    let viewer = new_user();
    app.sql().await.execute("INSERT INTO users (id, display_name) VALUES ($1, 'Ayşe')", &[&host]).await.unwrap();
    let (id, room) = session(&app, host, "public", 0, "live").await;

    let answer = ask(&app, host, serde_json::json!({ "sessionId": id })).await;
    let claims = verify(&answer);
    assert_eq!(claims.sub, host.to_string());
    assert_eq!(claims.name, "Ayşe");
    assert_eq!(claims.video.room, room);
    assert!(claims.video.room_join && claims.video.can_publish && claims.video.can_subscribe && claims.video.can_publish_data);
    assert_eq!(claims.metadata, r#"{"role":"host"}"#);
    assert!(!claims.video.hidden, "the viewers see the host");
    assert_eq!(answer.body["wsUrl"], LIVEKIT_WS_URL);
    assert_eq!(answer.body["roomName"], room.as_str());
    assert_eq!(answer.body["identity"], host.to_string());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((claims.exp as i64 - now - 21_600).abs() <= 5, "default TTL is six hours");
    assert_eq!(answer.body["expiresAt"], domain::time::rfc3339(claims.exp as u64));

    let answer = ask(&app, viewer, serde_json::json!({ "sessionId": id })).await;
    let claims = verify(&answer);
    assert_eq!(claims.sub, viewer.to_string());
    assert_eq!(claims.name, viewer.to_string(), "no users row: the id is the name");
    assert!(claims.video.room_join && !claims.video.can_publish && !claims.video.can_publish_data && claims.video.can_subscribe);
    assert_eq!(claims.metadata, r#"{"role":"viewer"}"#);
    assert!(claims.video.hidden, "a viewer is hidden: no viewer learns another's id or name");

    // Viewers may wait through a host disconnection.
    for status in ["host_disconnected", "paused"] {
        app.sql().await.execute("UPDATE live_sessions SET status = $2 WHERE id = $1", &[&id, &status]).await.unwrap();
        assert_eq!(ask(&app, viewer, serde_json::json!({ "sessionId": id })).await.status, 200, "{status}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entitlements_subscribers_and_paid() {
    let app = App::start_with(&[("token_ttl_seconds", "600")]).await;
    let host = new_user();
    let fan = new_user();
    let stranger = new_user();
    let (subscribers_only, _) = session(&app, host, "subscribers", 0, "live").await;
    let body = serde_json::json!({ "sessionId": subscribers_only }).to_string();
    assert_error(&app, Some(&bearer(fan)), &body, 403, "SUBSCRIPTION_REQUIRED").await;
    let sql = app.sql().await;
    sql.execute("INSERT INTO subscriptions (subscriber_id, creator_id, expires_at) VALUES ($1, $2, now() - interval '1 second')", &[&fan, &host])
        .await
        .unwrap();
    assert_error(&app, Some(&bearer(fan)), &body, 403, "SUBSCRIPTION_REQUIRED").await;
    sql.execute("UPDATE subscriptions SET expires_at = now() + interval '1 day' WHERE subscriber_id = $1", &[&fan]).await.unwrap();
    let claims = verify(&ask(&app, fan, serde_json::json!({ "sessionId": subscribers_only })).await);
    assert!(!claims.video.can_publish);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((claims.exp as i64 - now - 600).abs() <= 5, "token_ttl_seconds is honoured");
    assert_error(&app, Some(&bearer(stranger)), &body, 403, "SUBSCRIPTION_REQUIRED").await;

    let other_host = new_user();
    let (paid, _) = session(&app, other_host, "paid", 150, "live").await;
    let body = serde_json::json!({ "sessionId": paid }).to_string();
    for (language, text) in [(None, "Bu yayını izlemek için 150 coin gerekli"), (Some("en"), "You need 150 coins to watch this broadcast")] {
        let headers: Vec<(&str, &str)> = language.map(|l| vec![("accept-language", l)]).unwrap_or_default();
        let answer = app.post_with("/get-livekit-token", Some(&bearer(fan)), &body, &headers).await;
        assert_eq!((answer.status, answer.code()), (402, "PAYMENT_REQUIRED"));
        assert_eq!(answer.body["error"], text);
        assert_eq!(answer.body["priceCoins"], 150);
        assert_eq!(answer.body["retryable"], false);
    }
    sql.execute("INSERT INTO session_purchases (session_id, user_id, price_coins) VALUES ($1, $2, 150)", &[&paid, &fan]).await.unwrap();
    verify(&ask(&app, fan, serde_json::json!({ "sessionId": paid })).await);

    let (ended, _) = session(&app, new_user(), "public", 0, "ended").await;
    assert_error(&app, Some(&bearer(fan)), &serde_json::json!({ "sessionId": ended }).to_string(), 410, "SESSION_ENDED").await;
    assert_error(&app, Some(&bearer(fan)), &serde_json::json!({ "sessionId": Uuid::new_v4() }).to_string(), 404, "SESSION_NOT_FOUND").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_tokens_only_for_the_parties_in_joinable_states() {
    let app = App::start().await;
    let caller = new_user();
    let callee = new_user();
    let (audio, room) = call(&app, caller, callee, "audio", "accepted").await;
    let claims = verify(&ask(&app, callee, serde_json::json!({ "callId": audio })).await);
    assert_eq!(claims.video.room, room);
    assert_eq!(claims.video.can_publish_sources, vec!["microphone".to_owned()]);
    assert_eq!(claims.metadata, r#"{"role":"callee"}"#);
    assert!(!claims.video.hidden, "call parties see each other");
    // One active call per user: each active call below has its own pair.
    let (video_caller, video_callee) = (new_user(), new_user());
    let (video, _) = call(&app, video_caller, video_callee, "video", "live").await;
    let claims = verify(&ask(&app, video_caller, serde_json::json!({ "callId": video })).await);
    assert_eq!(claims.video.can_publish_sources, vec!["camera".to_owned(), "microphone".to_owned()]);
    assert!(!claims.video.hidden);

    let body = |id: Uuid| serde_json::json!({ "callId": id }).to_string();
    assert_error(&app, Some(&bearer(new_user())), &body(audio), 403, "FORBIDDEN").await;
    assert_error(&app, Some(&bearer(caller)), &body(Uuid::new_v4()), 404, "CALL_NOT_FOUND").await;
    let (ringing_caller, ringing_callee) = (new_user(), new_user());
    let (ringing, _) = call(&app, ringing_caller, ringing_callee, "audio", "ringing").await;
    verify(&ask(&app, ringing_caller, serde_json::json!({ "callId": ringing })).await);
    assert_error(&app, Some(&bearer(ringing_callee)), &body(ringing), 409, "CALL_NOT_ACTIVE").await;
    for status in ["ended", "missed", "rejected", "cancelled", "failed", "busy"] {
        let (over, _) = call(&app, caller, callee, "video", status).await;
        assert_error(&app, Some(&bearer(caller)), &body(over), 410, "CALL_ENDED").await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_change_nothing() {
    let app = App::start().await;
    let user = bearer(new_user());
    let id = Uuid::new_v4();
    for body in [
        String::new(),
        "{".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        "{}".to_owned(),
        r#"{"sessionId": 42}"#.to_owned(),
        r#"{"sessionId": "nope"}"#.to_owned(),
        r#"{"callId": {"$ne": null}}"#.to_owned(),
        format!(r#"{{"sessionId": "{id}", "callId": "{id}"}}"#),
        format!(r#"{{"sessionId": "{id}", "pad": "{}"}}"#, "x".repeat(20_000)),
        "\u{feff}{}".to_owned(),
    ] {
        assert_error(&app, Some(&user), &body, 400, "INVALID_REQUEST").await;
    }
    // Non-UTF-8 bytes.
    let answer = app.host.client.post(app.host.url("/get-livekit-token")).header("authorization", &user).body(vec![0xff, 0xfe, 0x00]).send().await.unwrap();
    assert_eq!(answer.status(), 400);
    // Wrong method.
    let answer = app.host.client.get(app.host.url("/get-livekit-token")).send().await.unwrap();
    assert_eq!(answer.status(), 405);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["errorCode"], "METHOD_NOT_ALLOWED");
    // Nothing was counted or written: validation precedes every statement.
    let rows = app.sql().await.query_one("SELECT count(*) FROM token_rate_limits", &[]).await.unwrap();
    assert_eq!(rows.get::<_, i64>(0), 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_admits_exactly_the_limit_under_parallel_load() {
    let app = App::start().await;
    let user = new_user();
    let (id, _) = session(&app, new_user(), "public", 0, "live").await;
    let body = serde_json::json!({ "sessionId": id }).to_string();
    let authorization = bearer(user);
    let requests = (0..50).map(|_| {
        let request = app
            .host
            .client
            .post(app.host.url("/get-livekit-token"))
            .header("authorization", &authorization)
            .body(body.clone());
        tokio::spawn(async move { request.send().await.map(|r| (r.status().as_u16(), r.headers().get("retry-after").cloned())) })
    });
    let mut ok = 0;
    let mut limited = 0;
    for handle in requests.collect::<Vec<_>>() {
        match handle.await.unwrap().unwrap() {
            (200, _) => ok += 1,
            (429, retry_after) => {
                assert_eq!(retry_after.unwrap().to_str().unwrap(), "5");
                limited += 1;
            }
            (other, _) => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, limited), (30, 20));
    let answer = app.post_with("/get-livekit-token", Some(&authorization), &body, &[("accept-language", "en")]).await;
    assert_eq!((answer.status, answer.code()), (429, "RATE_LIMITED"));
    assert_eq!(answer.body["retryAfterSeconds"], 5);
    assert_eq!(answer.body["retryable"], true);
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert_error(&app, Some(&authorization), &body, 429, "RATE_LIMITED").await;
    // Other users have their own budget; an expired window starts again.
    assert_eq!(ask(&app, new_user(), serde_json::json!({ "sessionId": id })).await.status, 200);
    app.sql()
        .await
        .execute("UPDATE token_rate_limits SET window_started_at = now() - interval '61 seconds' WHERE user_id = $1", &[&user])
        .await
        .unwrap();
    assert_eq!(ask(&app, user, serde_json::json!({ "sessionId": id })).await.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_and_unavailable_errors_are_json() {
    // A broken deployment: the TTL variable is not a number.
    let app = App::start_with(&[("token_ttl_seconds", "six hours")]).await;
    let (id, _) = session(&app, new_user(), "public", 0, "live").await;
    let body = serde_json::json!({ "sessionId": id }).to_string();
    assert_error(&app, Some(&bearer(new_user())), &body, 500, "INTERNAL_ERROR").await;
    let answer = app.post("/get-livekit-token", Some(&bearer(new_user())), &body).await;
    assert_eq!(answer.body["retryable"], true);
    app.stop().await;

    let app = App::start_with(&[("database_url", "postgres://postgres@127.0.0.1:1/none"), ("database_host", "127.0.0.1:1")]).await;
    let answer = app.post("/get-livekit-token", Some(&bearer(new_user())), &body).await;
    assert_eq!((answer.status, answer.code()), (503, "SERVICE_UNAVAILABLE"));
    assert_eq!(answer.body["retryable"], true);
    assert_eq!(answer.header("retry-after"), Some("5"));
    app.stop().await;
}
