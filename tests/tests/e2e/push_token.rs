//! `POST /push-token-register` and `POST /push-token-unregister` end to end,
//! the device cap, and the fake Expo push service against the domain's
//! reading of Expo's answers.

use domain::push::{classify_expo_answer, PushOutcome};
use e2e::app::App;
use e2e::fake_push::{FakePush, PushMode};
use e2e::users::{bearer, new_user};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "ExponentPushToken[AbCdEf0123456789xyzXYZ]";

/// Every `push_tokens` row as (token, user, platform, updated after created).
async fn rows(app: &App) -> Vec<(String, Uuid, String, bool)> {
    app.sql()
        .await
        .query("SELECT token, user_id, platform, updated_at > created_at FROM push_tokens ORDER BY token", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
        .collect()
}

fn register_body(token: &str, platform: &str) -> String {
    json!({ "token": token, "platform": platform }).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_registers_and_a_new_sign_in_moves_its_token() {
    let app = App::start().await;
    let first = new_user();
    // The contract is exact: a stray space is a client bug, refused rather than repaired.
    let padded = app.post("/push-token-register", Some(&bearer(first)), &register_body(&format!("  {TOKEN}\n"), "ios")).await;
    assert_eq!((padded.status, padded.body["field"].as_str()), (400, Some("token")), "{:?}", padded.body);
    let answer = app.post("/push-token-register", Some(&bearer(first)), &register_body(TOKEN, "ios")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["success"], true);
    assert_eq!(answer.body["token"]["platform"], "ios");
    let updated_at = answer.body["token"]["updatedAt"].as_str().expect("updatedAt is a string");
    assert!(updated_at.ends_with('Z') && updated_at.len() == 20, "{updated_at}");
    assert!(!answer.body.to_string().contains("AbCdEf"), "the device token is not echoed: {}", answer.body);
    assert_eq!(rows(&app).await, vec![(TOKEN.to_owned(), first, "ios".to_owned(), false)], "stored as sent");

    // The same user again, say after an OS update changed the platform string: one row, updated.
    let again = app.post("/push-token-register", Some(&bearer(first)), &register_body(TOKEN, "android")).await;
    assert_eq!((again.status, again.body["token"]["platform"].as_str()), (200, Some("android")));
    assert_eq!(rows(&app).await, vec![(TOKEN.to_owned(), first, "android".to_owned(), true)]);

    // Another user signs in on that device: the token is theirs now.
    let second = new_user();
    let moved = app.post("/push-token-register", Some(&bearer(second)), &register_body(TOKEN, "web")).await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(rows(&app).await, vec![(TOKEN.to_owned(), second, "web".to_owned(), true)]);

    // A user may have several devices.
    let other_token = "ExponentPushToken[zzzzzzzzzzzzzzzzzzzzzz]";
    let added = app.post("/push-token-register", Some(&bearer(second)), &register_body(other_token, "ios")).await;
    assert_eq!(added.status, 200);
    let owners: Vec<Uuid> = rows(&app).await.into_iter().map(|(_, user, _, _)| user).collect();
    assert_eq!(owners, vec![second, second]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_write_nothing() {
    let app = App::start().await;
    let user = bearer(new_user());
    let long = "x".repeat(600);
    let cases = [
        (r#"{"platform":"ios"}"#.to_owned(), "token"),
        (register_body("", "ios"), "token"),
        (register_body("   ", "ios"), "token"),
        (register_body("Exponent PushToken[abc]", "ios"), "token"),
        (register_body("ExponentPushToken[a\tb]", "ios"), "token"),
        (register_body(&long, "ios"), "token"),
        (r#"{"token":5,"platform":"ios"}"#.to_owned(), "token"),
        (r#"{"token":["ExponentPushToken[a]"],"platform":"ios"}"#.to_owned(), "token"),
        (register_body(TOKEN, "symbian"), "platform"),
        (register_body(TOKEN, "IOS"), "platform"),
        (format!(r#"{{"token":"{TOKEN}"}}"#), "platform"),
        (format!(r#"{{"token":"{TOKEN}","platform":7}}"#), "platform"),
        (format!(r#"{{"token":"{TOKEN}","platform":null}}"#), "platform"),
        ("".to_owned(), "body"),
        ("token=abc&platform=ios".to_owned(), "body"),
        ("{".to_owned(), "body"),
        (format!(r#"["{TOKEN}","ios"]"#), "body"),
        ("null".to_owned(), "body"),
    ];
    for (body, field) in &cases {
        let answer = app.post_with("/push-token-register", Some(&user), body, &[("accept-language", "en")]).await;
        assert_eq!((answer.status, answer.code()), (400, "INVALID_REQUEST"), "{body}");
        assert_eq!(answer.body["field"], *field, "{body}");
        assert_eq!(answer.body["error"], "Invalid request");
    }

    // Authentication comes first: no token, a forged one, a malformed header.
    let forged = format!("{}x", bearer(new_user()));
    for authorization in [None, Some(forged.as_str()), Some("Basic dXNlcjpwYXNz")] {
        let answer = app.post("/push-token-register", authorization, &register_body(TOKEN, "ios")).await;
        assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"), "{authorization:?}");
    }
    assert_eq!(rows(&app).await, vec![], "no request above may write");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_post_is_served() {
    let app = App::start().await;
    let url = app.host.url("/push-token-register");
    let user = bearer(new_user());
    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE, reqwest::Method::PATCH] {
        let response = app
            .host
            .client
            .request(method.clone(), &url)
            .header("authorization", &user)
            .body(register_body(TOKEN, "ios"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 405, "{method}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errorCode"], "METHOD_NOT_ALLOWED", "{method}");
    }
    assert_eq!(rows(&app).await, vec![]);
    app.stop().await;
}

/// The fake answers as Expo does, as far as `classify_expo_answer` reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_push_service_answers_as_expo_does() {
    let push = FakePush::start().await;
    assert!(push.url.starts_with(&format!("http://{}/", push.host())), "{} {}", push.url, push.host());
    assert!(push.url.ends_with("/--/api/v2/push/send"));
    let client = reqwest::Client::new();
    let send = |authorization: Option<&'static str>, body: serde_json::Value| {
        let mut request = client.post(&push.url).header("content-type", "application/json").body(body.to_string());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap().to_vec())
        }
    };
    let two = json!({ "to": ["ExponentPushToken[a]", "ExponentPushToken[b]"], "title": "t", "body": "b" });

    let (status, body) = send(Some("Bearer expo-access"), two.clone()).await;
    assert_eq!(classify_expo_answer(status, &body), PushOutcome::Accepted);
    let tickets: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(tickets["data"].as_array().map(Vec::len), Some(2));

    push.set_mode(PushMode::Refuse);
    let (status, body) = send(None, two.clone()).await;
    let outcome = classify_expo_answer(status, &body);
    assert!(matches!(&outcome, PushOutcome::Refused(reason) if reason.starts_with("DeviceNotRegistered")), "{outcome:?}");
    assert!(!format!("{outcome:?}").contains("ExponentPushToken[a]"), "refusals never carry the token");

    let received = push.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].authorization.as_deref(), Some("Bearer expo-access"));
    assert_eq!(received[1].authorization, None);
    assert_eq!(received[0].body, two);

    // Hang: the request is recorded and never answered.
    push.set_mode(PushMode::Hang);
    let pending = tokio::spawn(send(None, json!({ "to": "ExponentPushToken[c]" })));
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while push.received().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the hanging fake never received the request");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(!pending.is_finished());
    pending.abort();
    assert_eq!(push.received()[2].body["to"], "ExponentPushToken[c]");
}

/// A registered device is what `call-initiate` rings; the `log` provider
/// writes the message to `push_log` instead of calling Expo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_device_rings_through_the_log_provider() {
    let app = App::start_with(&[("push_provider", "log"), ("ring_timeout_seconds", "45")]).await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", None).await;
    let registered = app.post("/push-token-register", Some(&bearer(callee)), &register_body(TOKEN, "android")).await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);

    let body = json!({ "calleeId": callee, "callType": "audio" }).to_string();
    let started = app.post("/call-initiate", Some(&bearer(caller)), &body).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let call_id = started.body["call"]["id"].as_str().expect("a call id").to_owned();

    let logged = app.sql().await.query("SELECT user_id, tokens, message::text FROM push_log", &[]).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].get::<_, Uuid>(0), callee);
    assert_eq!(logged[0].get::<_, Vec<String>>(1), vec![TOKEN.to_owned()]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(logged[0].get(2)).unwrap(),
        json!({
            "to": [TOKEN],
            "title": "Gelen arama",
            "body": "Ali sizi arıyor",
            "data": { "type": "incoming_call", "callId": call_id, "callerId": caller.to_string(), "callerName": "Ali", "callType": "audio" },
            "priority": "high",
            "ttl": 45,
            "sound": "default",
            "channelId": "incoming-calls",
        })
    );
    assert!(app.push.received().is_empty(), "the log provider never calls Expo");
    app.stop().await;
}

fn device(index: usize) -> String {
    format!("ExponentPushToken[device-{index:02}]")
}

/// The user's tokens, newest registration first.
async fn tokens_of(app: &App, user: Uuid) -> Vec<String> {
    let rows = app.sql().await.query("SELECT token FROM push_tokens WHERE user_id = $1 ORDER BY updated_at DESC, token", &[&user]).await.unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// 60 registrations by one user (30 one after another, then 30 at once) leave
/// the 20 most recent. Keep this at 60 requests or fewer: a per-user rate
/// limit on the route may need raising for this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_keeps_at_most_20_devices_even_registering_in_parallel() {
    let app = App::start().await;
    let user = new_user();
    let authorization = bearer(user);
    for index in 0..30 {
        let answer = app.post("/push-token-register", Some(&authorization), &register_body(&device(index), "ios")).await;
        assert_eq!(answer.status, 200, "{index}: {:?}", answer.body);
        assert_eq!(answer.body["token"]["created"], true, "{index}");
        assert_eq!(tokens_of(&app, user).await.len(), (index + 1).min(20), "{index}");
    }
    let expected: Vec<String> = (10..30).rev().map(device).collect();
    assert_eq!(tokens_of(&app, user).await, expected, "the 21st evicts the least recently registered");

    // Registering a known device again evicts nothing: it was one of the 20.
    let again = app.post("/push-token-register", Some(&authorization), &register_body(&device(10), "ios")).await;
    assert_eq!((again.status, again.body["token"]["created"].as_bool()), (200, Some(false)));
    assert_eq!(tokens_of(&app, user).await.len(), 20);

    // 29 more at once: the bound holds under parallel requests.
    let parallel = futures_util::future::join_all((30..59).map(|index| {
        let (app, authorization) = (&app, &authorization);
        async move { app.post("/push-token-register", Some(authorization), &register_body(&device(index), "android")).await }
    }))
    .await;
    assert!(parallel.iter().all(|answer| answer.status == 200), "{:?}", parallel.iter().map(|answer| answer.status).collect::<Vec<_>>());
    let left = tokens_of(&app, user).await;
    assert_eq!(left.len(), 20, "{left:?}");
    assert!(left.iter().all(|token| (30..59).map(device).any(|newer| &newer == token)), "only the newest devices stay: {left:?}");

    // Another user's devices are not theirs to evict.
    let other = new_user();
    let kept = app.post("/push-token-register", Some(&bearer(other)), &register_body("ExponentPushToken[other]", "ios")).await;
    assert_eq!(kept.status, 200);
    assert_eq!(tokens_of(&app, other).await, vec!["ExponentPushToken[other]".to_owned()]);
    assert_eq!(tokens_of(&app, user).await.len(), 20);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_unregisters_only_its_own_token() {
    let app = App::start().await;
    let (owner, stranger) = (new_user(), new_user());
    let registered = app.post("/push-token-register", Some(&bearer(owner)), &register_body(TOKEN, "ios")).await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let unregister = |user: Uuid, body: String| {
        let app = &app;
        async move { app.post("/push-token-unregister", Some(&bearer(user)), &body).await }
    };
    let token_body = json!({ "token": TOKEN }).to_string();

    // Another user's token: the same answer, and nothing is deleted.
    let foreign = unregister(stranger, token_body.clone()).await;
    assert_eq!((foreign.status, &foreign.body), (200, &json!({ "success": true })));
    assert_eq!(tokens_of(&app, owner).await, vec![TOKEN.to_owned()]);

    let own = unregister(owner, token_body.clone()).await;
    assert_eq!((own.status, &own.body), (200, &json!({ "success": true })));
    assert!(!own.body.to_string().contains("AbCdEf"), "the token is not echoed");
    assert_eq!(rows(&app).await, vec![]);

    // Already gone: still 200.
    let again = unregister(owner, token_body.clone()).await;
    assert_eq!((again.status, &again.body), (200, &json!({ "success": true })));

    // The server did not know the device any more: registering again says so.
    let back = app.post("/push-token-register", Some(&bearer(owner)), &register_body(TOKEN, "ios")).await;
    assert_eq!((back.status, back.body["token"]["created"].as_bool()), (200, Some(true)));

    for (body, field) in [(r#"{}"#.to_owned(), "token"), (r#"{"token":""}"#.to_owned(), "token"), (register_body(TOKEN, "ios"), "platform"), ("nope".to_owned(), "body")] {
        let answer = unregister(owner, body.clone()).await;
        assert_eq!((answer.status, answer.code(), answer.body["field"].as_str()), (400, "INVALID_REQUEST", Some(field)), "{body}");
    }
    let anonymous = app.post("/push-token-unregister", None, &token_body).await;
    assert_eq!((anonymous.status, anonymous.code()), (401, "UNAUTHORIZED"));
    assert_eq!(tokens_of(&app, owner).await, vec![TOKEN.to_owned()], "no refused request deleted anything");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_rate_limited_per_user_and_a_refused_one_writes_nothing() {
    // Empty: the component's default, 10 a minute.
    let app = App::start_with(&[("push_register_rate_limit_per_minute", "")]).await;
    let (busy, other) = (new_user(), new_user());
    let token = |index: usize| format!("ExponentPushToken[limit-{index}]");
    for index in 0..10 {
        let answer = app.post("/push-token-register", Some(&bearer(busy)), &register_body(&token(index), "ios")).await;
        assert_eq!(answer.status, 200, "registration {index}: {:?}", answer.body);
    }
    let refused = app.post("/push-token-register", Some(&bearer(busy)), &register_body(&token(10), "ios")).await;
    assert_eq!((refused.status, refused.code()), (429, "RATE_LIMITED"), "{:?}", refused.body);
    assert_eq!(refused.body["retryAfterSeconds"], 5);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert!(!rows(&app).await.iter().any(|(stored, ..)| *stored == token(10)), "the refused token is not stored");

    // Per user: another one registers meanwhile.
    let answer = app.post("/push-token-register", Some(&bearer(other)), &register_body(&token(11), "android")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);

    // The next minute admits the first user again.
    app.sql()
        .await
        .execute("UPDATE route_rate_limits SET window_started_at = now() - interval '61 seconds' WHERE user_id = $1", &[&busy])
        .await
        .unwrap();
    let answer = app.post("/push-token-register", Some(&bearer(busy)), &register_body(&token(10), "ios")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    app.stop().await;
}
