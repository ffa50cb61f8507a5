//! `POST /call-initiate` and `POST /call-action` end to end: the call state
//! machine, the atomic busy check, the push deadline, races.

use std::time::{Duration, Instant};

use e2e::app::{Answer, App, LIVEKIT_KEY, LIVEKIT_SECRET, PUSH_ACCESS_TOKEN};
use e2e::fake_livekit::Mode;
use e2e::fake_push::PushMode;
use e2e::users::{bearer, new_user};
use livekit_api::access_token::TokenVerifier;
use serde_json::json;
use uuid::Uuid;

async fn initiate(app: &App, caller: Uuid, callee: Uuid, call_type: &str) -> Answer {
    app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee, "callType": call_type }).to_string()).await
}

async fn act(app: &App, user: Uuid, call: &str, action: &str) -> Answer {
    app.post("/call-action", Some(&bearer(user)), &json!({ "callId": call, "action": action }).to_string()).await
}

async fn row(app: &App, call: &str) -> (String, Option<String>) {
    let id: Uuid = call.parse().unwrap();
    let row = app.sql().await.query_one("SELECT status, end_reason FROM calls WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1))
}

async fn active_parties(app: &App) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM active_call_parties", &[]).await.unwrap().get(0)
}

fn call_id(answer: &Answer) -> String {
    answer.body["call"]["id"].as_str().unwrap_or_else(|| panic!("no call in {:?}", answer.body)).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_happy_path_rings_accepts_and_ends() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli-phone]")).await;

    let started = initiate(&app, caller, callee, "video").await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let id = call_id(&started);
    assert_eq!(started.body["call"]["status"], "ringing");
    assert_eq!(started.body["call"]["callType"], "video");
    assert!(started.body["call"]["ringingAt"].is_string());
    let claims = TokenVerifier::with_api_key(LIVEKIT_KEY, LIVEKIT_SECRET).verify(started.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.sub, caller.to_string());
    assert_eq!(claims.name, "Ali");
    assert_eq!(claims.video.room, started.body["roomName"].as_str().unwrap());
    assert_eq!(claims.video.can_publish_sources, vec!["camera".to_owned(), "microphone".to_owned()]);

    let pushes = app.push.received();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].authorization.as_deref(), Some(format!("Bearer {PUSH_ACCESS_TOKEN}").as_str()));
    let message = &pushes[0].body;
    assert_eq!(message["to"], json!(["ExponentPushToken[veli-phone]"]));
    assert_eq!(message["priority"], "high");
    assert_eq!(message["data"], json!({ "type": "incoming_call", "callId": id, "callerId": caller.to_string(), "callerName": "Ali", "callType": "video" }));
    assert_eq!(started.body["push"], json!({ "expo": { "outcome": "accepted", "devices": 1, "delivered": 1, "gone": 0 } }));
    assert!(message["body"].as_str().unwrap().contains("Ali"));

    let accepted = act(&app, callee, &id, "accept").await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(accepted.body["call"]["status"], "accepted");
    let claims = TokenVerifier::with_api_key(LIVEKIT_KEY, LIVEKIT_SECRET).verify(accepted.body["token"].as_str().unwrap()).unwrap();
    assert_eq!((claims.sub.as_str(), claims.name.as_str()), (callee.to_string().as_str(), "Veli"));
    assert_eq!(claims.metadata, r#"{"role":"callee"}"#);
    assert_eq!(active_parties(&app).await, 2);

    // Both joined (the webhook's job, simulated here), then the callee hangs up.
    app.sql().await.execute("UPDATE calls SET status = 'live', live_at = now() WHERE id = $1", &[&id.parse::<Uuid>().unwrap()]).await.unwrap();
    let ended = act(&app, callee, &id, "end").await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(ended.body["call"]["status"], "ended");
    assert_eq!(ended.body["call"]["endReason"], "user_ended");
    assert_eq!(ended.body["roomDeletion"], "done");
    assert_eq!(row(&app, &id).await, ("ended".to_owned(), Some("user_ended".to_owned())));
    let deletions = app.livekit.received();
    assert_eq!(deletions.len(), 1);
    assert_eq!(deletions[0].body["room"], started.body["roomName"]);
    assert_eq!(active_parties(&app).await, 0, "ending releases both parties");

    // They can call again.
    assert_eq!(initiate(&app, callee, caller, "audio").await.status, 409, "the caller has no device: unreachable");
    assert_eq!(initiate(&app, caller, callee, "audio").await.status, 201);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initiate_errors() {
    let app = App::start().await;
    let caller = app.user("Ali", Some("ExponentPushToken[ali]")).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let deviceless = app.user("Ayşe", None).await;

    let own = initiate(&app, caller, caller, "audio").await;
    assert_eq!((own.status, own.code()), (400, "CANNOT_CALL_SELF"));
    let unknown = initiate(&app, caller, new_user(), "audio").await;
    assert_eq!((unknown.status, unknown.code()), (404, "USER_NOT_FOUND"));
    let unreachable = app.post_with("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": deviceless }).to_string(), &[("accept-language", "en")]).await;
    assert_eq!((unreachable.status, unreachable.code()), (409, "CALLEE_UNREACHABLE"));
    assert_eq!(unreachable.body["error"], "This user cannot be reached right now");
    let failed: (String, String) = {
        let r = app.sql().await.query_one("SELECT status, end_reason FROM calls WHERE callee_id = $1", &[&deviceless]).await.unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(failed, ("failed".to_owned(), "no_push_token".to_owned()));
    for body in ["", "{}", r#"{"calleeId": "x"}"#, r#"{"calleeId": 5}"#, &format!(r#"{{"calleeId": "{callee}", "callType": "fax"}}"#)] {
        let answer = app.post("/call-initiate", Some(&bearer(caller)), body).await;
        assert_eq!((answer.status, answer.code()), (400, "INVALID_REQUEST"), "{body}");
    }
    assert_eq!(app.post("/call-initiate", None, &json!({ "calleeId": callee }).to_string()).await.code(), "UNAUTHORIZED");

    // Busy, both ways, with the refusal recorded for history.
    let first = initiate(&app, caller, callee, "audio").await;
    assert_eq!(first.status, 201);
    let third = app.user("Can", Some("ExponentPushToken[can]")).await;
    for (from, to) in [(third, callee), (third, caller), (callee, third)] {
        let busy = initiate(&app, from, to, "audio").await;
        assert_eq!((busy.status, busy.code()), (409, "BUSY"), "{:?}", busy.body);
        assert_eq!(busy.body["status"], "BUSY");
        assert_eq!(busy.body["error"], "Kullanıcı şu anda başka bir görüşmede");
    }
    let recorded: i64 = app.sql().await.query_one("SELECT count(*) FROM calls WHERE status = 'busy' AND end_reason = 'busy'", &[]).await.unwrap().get(0);
    assert_eq!(recorded, 3);
    assert_eq!(active_parties(&app).await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_hanging_push_fails_the_call_within_the_deadline() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    for (mode, callee_device) in [(PushMode::Refuse, "ExponentPushToken[gone]"), (PushMode::Hang, "ExponentPushToken[slow]")] {
        let callee = app.user("Veli", Some(callee_device)).await;
        app.push.set_mode(mode);
        let began = Instant::now();
        let answer = initiate(&app, caller, callee, "audio").await;
        let took = began.elapsed();
        assert_eq!((answer.status, answer.code()), (502, "PUSH_FAILED"), "{mode:?}: {:?}", answer.body);
        assert_eq!(answer.body["retryable"], true);
        assert!(took < Duration::from_secs(6), "{mode:?} answered after {took:?}");
        let r = app.sql().await.query_one("SELECT status, end_reason FROM calls WHERE callee_id = $1", &[&callee]).await.unwrap();
        assert_eq!((r.get::<_, String>(0), r.get::<_, String>(1)), ("failed".to_owned(), "push_failed".to_owned()), "{mode:?}");
        assert_eq!(active_parties(&app).await, 0, "{mode:?}: a failed call releases the parties");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_repeat_idempotently_and_refuse_the_impossible() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let id = call_id(&initiate(&app, caller, callee, "audio").await);

    let stranger = act(&app, new_user(), &id, "end").await;
    assert_eq!((stranger.status, stranger.code()), (403, "FORBIDDEN"));
    let own_accept = act(&app, caller, &id, "accept").await;
    assert_eq!((own_accept.status, own_accept.code()), (403, "FORBIDDEN"));
    let missing = act(&app, caller, &Uuid::new_v4().to_string(), "cancel").await;
    assert_eq!((missing.status, missing.code()), (404, "CALL_NOT_FOUND"));
    let early_end = act(&app, caller, &id, "end").await;
    assert_eq!((early_end.status, early_end.code()), (409, "INVALID_TRANSITION"));
    assert_eq!(early_end.body["status"], "ringing");

    let first = act(&app, callee, &id, "accept").await;
    let second = act(&app, callee, &id, "accept").await;
    assert_eq!((first.status, first.body["changed"].clone()), (200, json!(true)));
    assert_eq!((second.status, second.body["changed"].clone()), (200, json!(false)), "a retried accept gets its token again");
    assert!(second.body["token"].is_string());
    let late_reject = act(&app, callee, &id, "reject").await;
    assert_eq!((late_reject.status, late_reject.code()), (409, "INVALID_TRANSITION"));
    assert_eq!(late_reject.body["status"], "accepted");
    let late_cancel = act(&app, caller, &id, "cancel").await;
    assert_eq!(late_cancel.body["status"], "accepted");

    assert_eq!(act(&app, caller, &id, "end").await.body["changed"], true);
    let again = act(&app, callee, &id, "end").await;
    assert_eq!((again.status, again.body["changed"].clone()), (200, json!(false)));
    assert_eq!(app.livekit.received().len(), 1, "the room is deleted once");

    // Reject and cancel, each twice.
    let id = call_id(&initiate(&app, caller, callee, "audio").await);
    assert_eq!(act(&app, callee, &id, "reject").await.body["changed"], true);
    assert_eq!(act(&app, callee, &id, "reject").await.body["changed"], false);
    assert_eq!(row(&app, &id).await, ("rejected".to_owned(), Some("rejected".to_owned())));
    let id = call_id(&initiate(&app, caller, callee, "audio").await);
    assert_eq!(act(&app, caller, &id, "cancel").await.body["changed"], true);
    assert_eq!(act(&app, caller, &id, "cancel").await.body["changed"], false);
    let too_late = act(&app, callee, &id, "accept").await;
    assert_eq!((too_late.status, too_late.code(), too_late.body["status"].clone()), (409, "INVALID_TRANSITION", json!("cancelled")));
    for body in ["{}", r#"{"callId": "nope", "action": "end"}"#, &format!(r#"{{"callId": "{id}", "action": "hold"}}"#)] {
        assert_eq!(app.post("/call-action", Some(&bearer(caller)), body).await.code(), "INVALID_REQUEST", "{body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepting_after_the_ring_deadline_finds_the_call_missed() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let id = call_id(&initiate(&app, caller, callee, "audio").await);
    app.sql()
        .await
        .execute("UPDATE calls SET ringing_at = now() - interval '31 seconds' WHERE id = $1", &[&id.parse::<Uuid>().unwrap()])
        .await
        .unwrap();
    for language in ["tr", "en"] {
        let answer = app
            .post_with("/call-action", Some(&bearer(callee)), &json!({ "callId": id, "action": "accept" }).to_string(), &[("accept-language", language)])
            .await;
        assert_eq!((answer.status, answer.code()), (410, "CALL_EXPIRED"), "{:?}", answer.body);
        assert_eq!(answer.body["status"], "missed");
        assert_eq!(answer.body["error"], if language == "tr" { "Arama zaman aşımına uğradı" } else { "The call has expired" });
    }
    assert_eq!(row(&app, &id).await, ("missed".to_owned(), Some("no_answer".to_owned())));
    assert_eq!(active_parties(&app).await, 0);
    // A variable shortens the deadline without touching rows.
    app.stop().await;
    let app = App::start_with(&[("ring_timeout_seconds", "1")]).await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let id = call_id(&initiate(&app, caller, callee, "audio").await);
    app.sql()
        .await
        .execute("UPDATE calls SET ringing_at = now() - interval '2 seconds' WHERE id = $1", &[&id.parse::<Uuid>().unwrap()])
        .await
        .unwrap();
    assert_eq!(act(&app, callee, &id, "accept").await.code(), "CALL_EXPIRED");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossed_accept_and_cancel_have_exactly_one_winner() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    for round in 0..15 {
        let id = call_id(&initiate(&app, caller, callee, "audio").await);
        let accept = app.host.client.post(app.host.url("/call-action")).header("authorization", bearer(callee)).body(json!({ "callId": id, "action": "accept" }).to_string());
        let cancel = app.host.client.post(app.host.url("/call-action")).header("authorization", bearer(caller)).body(json!({ "callId": id, "action": "cancel" }).to_string());
        let (accepted, cancelled) = tokio::join!(accept.send(), cancel.send());
        let accepted: serde_json::Value = accepted.unwrap().json().await.unwrap();
        let cancelled: serde_json::Value = cancelled.unwrap().json().await.unwrap();
        let (final_status, _) = row(&app, &id).await;
        let winners = [&accepted, &cancelled].iter().filter(|a| a["success"] == true).count();
        assert_eq!(winners, 1, "round {round}: {accepted} / {cancelled}");
        let loser = if accepted["success"] == true { &cancelled } else { &accepted };
        assert_eq!(loser["errorCode"], "INVALID_TRANSITION", "round {round}");
        assert_eq!(loser["status"], final_status.as_str(), "round {round}: the loser sees the true final state");
        if final_status == "accepted" {
            act(&app, caller, &id, "end").await;
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_initiates_never_put_a_user_in_two_active_calls() {
    let app = App::start().await;
    let mut users = Vec::new();
    for index in 0..40 {
        users.push(app.user(&format!("user {index}"), Some(&format!("ExponentPushToken[u{index}]"))).await);
    }
    // 200 requests between pseudo-random pairs, all at once.
    let mut seed: u64 = 42;
    let mut random = move || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut requests = Vec::new();
    for _ in 0..200 {
        let caller = users[random() % users.len()];
        let mut callee = users[random() % users.len()];
        if callee == caller {
            callee = users[(users.iter().position(|u| *u == caller).unwrap() + 1) % users.len()];
        }
        let request = app
            .host
            .client
            .post(app.host.url("/call-initiate"))
            .header("authorization", bearer(caller))
            .body(json!({ "calleeId": callee, "callType": "audio" }).to_string());
        requests.push(tokio::spawn(async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }));
    }
    let mut created = 0;
    let mut busy = 0;
    for request in requests {
        let body = request.await.unwrap();
        match body["errorCode"].as_str() {
            None if body["success"] == true => created += 1,
            Some("BUSY") => busy += 1,
            other => panic!("unexpected answer {other:?}: {body}"),
        }
    }
    assert_eq!(created + busy, 200);
    assert!((1..=20).contains(&created), "at most 20 disjoint pairs among 40 users, got {created}");
    let overlapping: i64 = app
        .sql()
        .await
        .query_one(
            "SELECT count(*) FROM (
                 SELECT party FROM calls, unnest(ARRAY[caller_id, callee_id]) AS party
                 WHERE status IN ('initiated', 'ringing', 'accepted', 'live')
                 GROUP BY party HAVING count(*) > 1) doubled",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(overlapping, 0, "no user is in two active calls");
    let active_calls: i64 = app.sql().await.query_one("SELECT count(*) FROM calls WHERE status = 'ringing'", &[]).await.unwrap().get(0);
    assert_eq!(active_calls, created);
    assert_eq!(active_parties(&app).await, 2 * created);
    let _ = Mode::Normal;
    app.stop().await;
}

/// Starts a call from `caller` with `Idempotency-Key: key`.
async fn initiate_with_key(app: &App, caller: Uuid, callee: Uuid, key: &str) -> Answer {
    let body = json!({ "calleeId": callee, "callType": "audio" }).to_string();
    app.post_with("/call-initiate", Some(&bearer(caller)), &body, &[("idempotency-key", key)]).await
}

/// The incoming-call pushes (rings) the fake Expo received for `callee_device`.
fn rings_of(app: &App, callee_device: &str) -> usize {
    app.push
        .received()
        .iter()
        .filter(|push| push.body["data"]["type"] == "incoming_call" && push.body["to"].to_string().contains(callee_device))
        .count()
}

async fn calls_by(app: &App, caller: Uuid) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM calls WHERE caller_id = $1", &[&caller]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_initiate_is_rate_limited_per_caller_and_a_refused_one_writes_and_rings_nothing() {
    // Empty: the component's default, 10 a minute.
    let app = App::start_with(&[("call_initiate_rate_limit_per_minute", "")]).await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    for attempt in 0..10 {
        let started = initiate(&app, caller, callee, "audio").await;
        assert_eq!(started.status, 201, "call {attempt}: {:?}", started.body);
        assert_eq!(act(&app, caller, &call_id(&started), "cancel").await.status, 200);
    }
    let rings = rings_of(&app, "veli");
    let refused = initiate(&app, caller, callee, "audio").await;
    assert_eq!((refused.status, refused.code()), (429, "RATE_LIMITED"), "{:?}", refused.body);
    assert_eq!(refused.body["retryAfterSeconds"], 5);
    assert_eq!(refused.header("retry-after"), Some("5"));
    assert_eq!(calls_by(&app, caller).await, 10, "no calls row");
    assert_eq!(rings_of(&app, "veli"), rings, "no ring");

    // Over the limit, a busy callee is not recorded either.
    let other = app.user("Can", None).await;
    assert_eq!(initiate(&app, other, callee, "audio").await.status, 201, "another caller is not limited");
    let refused = initiate(&app, caller, callee, "audio").await;
    assert_eq!(refused.code(), "RATE_LIMITED", "{:?}", refused.body);
    assert_eq!(calls_by(&app, caller).await, 10, "no BUSY row");
    let busy_rows: i64 = app.sql().await.query_one("SELECT count(*) FROM calls WHERE status = 'busy'", &[]).await.unwrap().get(0);
    assert_eq!(busy_rows, 0);

    // The next minute admits the caller again (and the busy callee is recorded now).
    app.sql()
        .await
        .execute("UPDATE route_rate_limits SET window_started_at = now() - interval '61 seconds' WHERE user_id = $1", &[&caller])
        .await
        .unwrap();
    assert_eq!(initiate(&app, caller, callee, "audio").await.code(), "BUSY");
    assert_eq!(calls_by(&app, caller).await, 11);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_with_the_same_idempotency_key_rings_once_and_answers_the_first_call() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let key = Uuid::new_v4().to_string();

    let first = initiate_with_key(&app, caller, callee, &key).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    let resent = initiate_with_key(&app, caller, callee, &key.to_uppercase()).await;
    assert_eq!(resent.status, 201, "the resend is not BUSY with its own first call: {:?}", resent.body);
    assert_eq!(call_id(&resent), call_id(&first));
    assert_eq!(resent.body["call"]["status"], "ringing");
    assert_eq!(resent.body["push"], first.body["push"]);
    assert_eq!(resent.body["roomName"], first.body["roomName"]);
    assert!(resent.body["token"].is_string());
    assert_eq!(rings_of(&app, "veli"), 1, "one ring");
    assert_eq!(calls_by(&app, caller).await, 1);

    // Another caller's identical key is unrelated.
    let other = app.user("Can", None).await;
    let callee_b = app.user("Deniz", Some("ExponentPushToken[deniz]")).await;
    let theirs = initiate_with_key(&app, other, callee_b, &key).await;
    assert_eq!(theirs.status, 201, "{:?}", theirs.body);
    assert_ne!(call_id(&theirs), call_id(&first));
    assert_eq!(rings_of(&app, "deniz"), 1);

    // A repeat after the call ended says where it is.
    assert_eq!(act(&app, caller, &call_id(&first), "cancel").await.status, 200);
    let late = initiate_with_key(&app, caller, callee, &key).await;
    assert_eq!((late.status, late.code()), (409, "INVALID_TRANSITION"), "{:?}", late.body);
    assert_eq!(late.body["status"], "cancelled");
    assert_eq!(late.body["call"]["id"], first.body["call"]["id"]);
    assert_eq!(rings_of(&app, "veli"), 1);

    // After 10 minutes the key is forgotten: the same key starts a new call.
    app.sql().await.execute("UPDATE call_initiate_keys SET created_at = now() - interval '10 minutes 1 second'", &[]).await.unwrap();
    let again = initiate_with_key(&app, caller, callee, &key).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_ne!(call_id(&again), call_id(&first));
    assert_eq!(rings_of(&app, "veli"), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_answers_as_the_first_did_and_a_key_is_claimed_only_by_what_was_written() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;

    // Not a uuid: refused, nothing written.
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    for bad in ["abc", "0b7e6a523f434a8e9d555f0d3c3e1c2a", "0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2g"] {
        let answer = initiate_with_key(&app, caller, callee, bad).await;
        assert_eq!((answer.status, answer.code()), (400, "INVALID_REQUEST"), "{bad:?}: {:?}", answer.body);
        assert_eq!(answer.body["field"], "Idempotency-Key");
    }
    assert_eq!(calls_by(&app, caller).await, 0);

    // BUSY: the resend is BUSY again without a second busy row.
    let talker = app.user("Can", None).await;
    assert_eq!(initiate(&app, talker, callee, "audio").await.status, 201);
    let key = Uuid::new_v4().to_string();
    for _ in 0..2 {
        assert_eq!(initiate_with_key(&app, caller, callee, &key).await.code(), "BUSY");
    }
    assert_eq!(calls_by(&app, caller).await, 1, "one busy row");

    // PUSH_FAILED: the resend answers it again and rings nobody.
    let refusing = app.user("Ece", Some("ExponentPushToken[ece]")).await;
    app.push.set_mode(PushMode::Refuse);
    let key = Uuid::new_v4().to_string();
    let first = initiate_with_key(&app, caller, refusing, &key).await;
    assert_eq!((first.status, first.code()), (502, "PUSH_FAILED"), "{:?}", first.body);
    let pushes = app.push.received().len();
    let resent = initiate_with_key(&app, caller, refusing, &key).await;
    assert_eq!((resent.status, resent.code()), (502, "PUSH_FAILED"), "{:?}", resent.body);
    assert_eq!(resent.body["push"], first.body["push"]);
    assert_eq!(app.push.received().len(), pushes, "no second ring");
    app.push.set_mode(PushMode::Accept);

    // An unknown callee claims nothing, and neither does a refused (rate-limited)
    // attempt: the same key then starts the call.
    let key = Uuid::new_v4().to_string();
    assert_eq!(initiate_with_key(&app, caller, new_user(), &key).await.code(), "USER_NOT_FOUND");
    let free = app.user("Fuat", Some("ExponentPushToken[fuat]")).await;
    let started = initiate_with_key(&app, caller, free, &key).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    assert_eq!(rings_of(&app, "fuat"), 1);
    app.stop().await;

    let app = App::start_with(&[("call_initiate_rate_limit_per_minute", "1")]).await;
    let caller = app.user("Ali", None).await;
    let first_callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let callee = app.user("Gül", Some("ExponentPushToken[gul]")).await;
    let first = initiate(&app, caller, first_callee, "audio").await;
    assert_eq!(first.status, 201);
    assert_eq!(act(&app, caller, &call_id(&first), "cancel").await.status, 200);
    let key = Uuid::new_v4().to_string();
    assert_eq!(initiate_with_key(&app, caller, callee, &key).await.code(), "RATE_LIMITED");
    app.sql().await.execute("UPDATE route_rate_limits SET window_started_at = now() - interval '61 seconds'", &[]).await.unwrap();
    let started = initiate_with_key(&app, caller, callee, &key).await;
    assert_eq!(started.status, 201, "the retry proceeds normally: {:?}", started.body);
    assert_eq!(rings_of(&app, "gul"), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_duplicates_with_one_idempotency_key_ring_once() {
    let app = App::start().await;
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some("ExponentPushToken[veli]")).await;
    let key = Uuid::new_v4().to_string();
    let mut requests = Vec::new();
    for _ in 0..8 {
        let request = app
            .host
            .client
            .post(app.host.url("/call-initiate"))
            .header("authorization", bearer(caller))
            .header("idempotency-key", key.clone())
            .body(json!({ "calleeId": callee }).to_string());
        requests.push(tokio::spawn(async move {
            let answer = request.send().await.unwrap();
            (answer.status().as_u16(), answer.json::<serde_json::Value>().await.unwrap())
        }));
    }
    let mut ids = Vec::new();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 201, "each duplicate waits for the first's answer: {body}");
        ids.push(body["call"]["id"].as_str().unwrap().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one call: {ids:?}");
    assert_eq!(rings_of(&app, "veli"), 1, "one ring");
    assert_eq!(calls_by(&app, caller).await, 1);
    app.stop().await;
}
