//! Ringing through Expo, APNs VoIP and FCM at once, stopping the ring on the
//! callee's other devices, and removing dead tokens, end to end through the
//! public routes, against fakes that check what Apple and Google check.

use std::time::{Duration, Instant};

use devhost::runtime::{GuestOutput, MemoryOutputPipe};
use e2e::app::{Answer, App};
use e2e::fake_apns::{self, FakeApns};
use e2e::fake_fcm::FakeFcm;
use e2e::users::{bearer, new_user};
use serde_json::{json, Value};
use uuid::Uuid;

const SECRET: &str = "sweep-secret-of-at-least-32-bytes";
const IPHONE_VOIP: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const IPHONE_EXPO: &str = "ExponentPushToken[iphone]";
const ANDROID_FCM: &str = "fcm-android:APA91bHun4MxP5egoKMwt2KZFBaFUH";
const ANDROID_EXPO: &str = "ExponentPushToken[android]";

/// The app with every provider pointed at a fake, APNs behind TLS that only
/// a `[[client_tls]]` entry makes trusted.
struct Stack {
    app: App,
    apns: FakeApns,
    fcm: FakeFcm,
    _runtime_config: e2e::manifests::TempRuntimeConfig,
}

async fn stack(extra: &[(&str, &str)]) -> Stack {
    stack_logging(extra, None).await
}

/// [`stack`], the components' log lines captured in `logs` when given.
async fn stack_logging(extra: &[(&str, &str)], logs: Option<MemoryOutputPipe>) -> Stack {
    let apns = FakeApns::start().await;
    let fcm = FakeFcm::start().await;
    let apns_origin = apns.origin();
    let account = fcm.service_account_json();
    // Spin's `hosts` take no port: the entry covers the fake's.
    let runtime_config = apns.server.trusted_by(&["call-initiate", "call-action", "cleanup-orphans"], &["127.0.0.1"]).expect("a runtime config");
    let mut variables = vec![
        ("cron_secret", SECRET),
        ("apns_key_id", fake_apns::KEY_ID),
        ("apns_team_id", fake_apns::TEAM_ID),
        ("apns_private_key", e2e::fake_jwt::APNS_TEST_KEY_P8),
        ("apns_bundle_id", fake_apns::BUNDLE_ID),
        ("apns_origin", apns_origin.as_str()),
        ("fcm_service_account_json", account.as_str()),
        ("fcm_origin", fcm.origin.as_str()),
        ("fcm_oauth_origin", fcm.origin.as_str()),
    ];
    variables.extend_from_slice(extra);
    let config_path = runtime_config.path.clone();
    let app = App::start_adjusting(&variables, move |options| {
        options.runtime_config_file = Some(config_path);
        if let Some(logs) = logs {
            options.runtime.guest_output = GuestOutput::CaptureStderr(logs);
        }
    })
    .await;
    Stack { app, apns, fcm, _runtime_config: runtime_config }
}

async fn register(app: &App, user: Uuid, token: &str, platform: &str, kind: &str) {
    let body = json!({ "token": token, "platform": platform, "kind": kind }).to_string();
    let answer = app.post("/push-token-register", Some(&bearer(user)), &body).await;
    assert_eq!(answer.status, 200, "{kind}: {:?}", answer.body);
    assert_eq!(answer.body["token"]["kind"], kind);
}

/// A callee with an iPhone (VoIP and Expo) and an Android phone (FCM and Expo).
async fn callee_with_two_phones(app: &App) -> Uuid {
    let callee = new_user();
    register(app, callee, IPHONE_VOIP, "ios", "apns_voip").await;
    register(app, callee, IPHONE_EXPO, "ios", "expo").await;
    register(app, callee, ANDROID_FCM, "android", "fcm").await;
    register(app, callee, ANDROID_EXPO, "android", "expo").await;
    callee
}

async fn initiate(app: &App, caller: Uuid, callee: Uuid) -> Answer {
    app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee, "callType": "video" }).to_string()).await
}

async fn tokens_of(app: &App, user: Uuid) -> Vec<String> {
    let rows = app.sql().await.query("SELECT token FROM push_tokens WHERE user_id = $1 ORDER BY token", &[&user]).await.unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// Moves the tickets and every registration `by` into the past, as if that
/// much time had gone by since the ring.
async fn backdate_ring(app: &App, by: &str) {
    let sql = app.sql().await;
    sql.execute(&format!("UPDATE push_receipts SET created_at = created_at - interval '{by}'"), &[]).await.unwrap();
    sql.execute(&format!("UPDATE push_tokens SET created_at = created_at - interval '{by}', updated_at = updated_at - interval '{by}'"), &[]).await.unwrap();
}

/// Expo messages whose `data.type` is `kind`.
fn expo_messages(app: &App, kind: &str) -> Vec<Value> {
    app.push.received().into_iter().map(|push| push.body).filter(|body| body["data"]["type"] == kind).collect()
}

/// Waits (at most 10 s) until `done` holds; the stop pushes leave after the answer.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 10 s) until `count` is `expected`, and answers the last count.
async fn count_reaches(app: &App, statement: &str, expected: i64) -> i64 {
    let started = Instant::now();
    loop {
        let count: i64 = app.sql().await.query_one(statement, &[]).await.unwrap().get(0);
        if count == expected || started.elapsed() > Duration::from_secs(10) {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_device_rings_and_the_others_stop_ringing_once_on_accept() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[]).await;
    let caller = new_user();
    let callee = callee_with_two_phones(&app).await;

    let started = initiate(&app, caller, callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let call_id = started.body["call"]["id"].as_str().unwrap().to_owned();
    let expected_push = json!({
        "expo": { "outcome": "accepted", "devices": 2, "delivered": 2, "gone": 0 },
        "apns_voip": { "outcome": "accepted", "devices": 1, "delivered": 1, "gone": 0 },
        "fcm": { "outcome": "accepted", "devices": 1, "delivered": 1, "gone": 0 },
    });
    assert_eq!(started.body["push"], expected_push);
    let stored: Value = app
        .sql()
        .await
        .query_one("SELECT push_outcomes FROM calls WHERE id = $1", &[&call_id.parse::<Uuid>().unwrap()])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, expected_push, "the calls row records the same outcomes");

    let ring = json!({ "type": "incoming_call", "callId": call_id, "callerId": caller.to_string(), "callerName": caller.to_string(), "callType": "video" });
    let voip = apns.pushes();
    assert_eq!(voip.len(), 1, "{:?}", apns.refusals());
    assert_eq!((voip[0].device_token.as_str(), &voip[0].payload), (IPHONE_VOIP, &ring));
    let messages = fcm.messages();
    assert_eq!(messages.len(), 1, "{:?}", fcm.refusals());
    assert_eq!(messages[0].token, ANDROID_FCM);
    assert_eq!(messages[0].android, json!({ "priority": "HIGH", "ttl": "30s" }));
    assert_eq!(messages[0].data, json!({ "type": "incoming_call", "callId": call_id, "callerId": caller.to_string(), "callerName": caller.to_string(), "callType": "video" }));
    let rings = expo_messages(&app, "incoming_call");
    assert_eq!(rings.len(), 1);
    let mut ringing: Vec<&str> = rings[0]["to"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    ringing.sort();
    assert_eq!(ringing, vec![ANDROID_EXPO, IPHONE_EXPO]);
    assert_eq!(rings[0]["data"], ring);

    // The answer does not wait for the stop pushes; a sweep racing them changes nothing.
    let accepted = app.post("/call-action", Some(&bearer(callee)), &json!({ "callId": call_id, "action": "accept" }).to_string()).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    let scheduler = format!("Bearer {SECRET}");
    let (sweep, sweep2) = tokio::join!(app.post("/cleanup-orphans", Some(&scheduler), ""), app.post("/cleanup-orphans", Some(&scheduler), ""));
    assert_eq!((sweep.status, sweep2.status), (200, 200), "{:?}", sweep.body);
    eventually("every device got call_ended", || {
        apns.pushes().len() == 2 && fcm.messages().len() == 2 && !expo_messages(&app, "call_ended").is_empty()
    })
    .await;
    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.status, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let ended = json!({ "type": "call_ended", "callId": call_id, "status": "accepted" });
    let voip = apns.pushes();
    assert_eq!(voip.len(), 2, "exactly one stop push to the iPhone");
    assert_eq!((voip[1].device_token.as_str(), &voip[1].payload), (IPHONE_VOIP, &ended));
    let messages = fcm.messages();
    assert_eq!(messages.len(), 2, "exactly one stop push to the Android phone");
    assert_eq!(messages[1].data, ended);
    let stops = expo_messages(&app, "call_ended");
    let mut expo_targets: Vec<String> = stops.iter().flat_map(|m| m["to"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned())).collect();
    expo_targets.sort();
    assert_eq!(expo_targets, vec![ANDROID_EXPO.to_owned(), IPHONE_EXPO.to_owned()], "exactly once per Expo device");
    assert!(stops.iter().all(|m| m["data"] == ended && m["title"].is_null() && m["_contentAvailable"] == true), "{stops:?}");
    // Verdicts are written once each provider has answered the sender.
    assert_eq!(count_reaches(&app, "SELECT count(*) FROM push_outbox WHERE sent_at IS NOT NULL", 4).await, 4);
    let outbox = app.sql().await.query("SELECT outcome, attempts FROM push_outbox ORDER BY token", &[]).await.unwrap();
    assert_eq!(outbox.len(), 4);
    assert!(outbox.iter().all(|row| row.get::<_, Option<String>>(0).as_deref() == Some("delivered") && row.get::<_, i32>(1) == 1));

    assert_eq!(fcm.exchanges(), 1, "one OAuth exchange, reused from Postgres");
    assert_eq!(apns.distinct_jwts(), 1, "one provider JWT, reused from Postgres");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hanging_provider_leaves_the_others_ringing() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[("push_timeout_seconds", "1")]).await;
    apns.hang(true);
    let caller = new_user();
    let callee = callee_with_two_phones(&app).await;

    let started = initiate(&app, caller, callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    assert_eq!(started.body["call"]["status"], "ringing");
    assert_eq!(started.body["push"]["apns_voip"]["outcome"], "no_answer");
    assert_eq!(started.body["push"]["fcm"]["outcome"], "accepted");
    assert_eq!(started.body["push"]["expo"]["outcome"], "accepted");
    assert_eq!(fcm.messages().len(), 1);

    // All of them hanging: the call fails as after any push that is not accepted.
    fcm.hang(true);
    app.push.set_mode(e2e::fake_push::PushMode::Hang);
    let other_callee = callee_with_two_phones_named(&app, "b").await;
    let failed = initiate(&app, new_user(), other_callee).await;
    assert_eq!((failed.status, failed.code()), (502, "PUSH_FAILED"), "{:?}", failed.body);
    for provider in ["expo", "apns_voip", "fcm"] {
        assert_eq!(failed.body["push"][provider]["outcome"], "no_answer", "{provider}: {:?}", failed.body);
    }
    app.stop().await;
}

async fn callee_with_two_phones_named(app: &App, suffix: &str) -> Uuid {
    let callee = new_user();
    register(app, callee, &format!("{}{suffix}{suffix}", &IPHONE_VOIP[..62]), "ios", "apns_voip").await;
    register(app, callee, &format!("ExponentPushToken[iphone-{suffix}]"), "ios", "expo").await;
    register(app, callee, &format!("{ANDROID_FCM}{suffix}"), "android", "fcm").await;
    callee
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_tokens_are_removed_for_every_provider() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[]).await;
    let callee = new_user();
    let gone_voip = "00".repeat(32);
    let bad_voip = "0f".repeat(32);
    let gone_fcm = "gone-fcm-token";
    let gone_expo = "ExponentPushToken[gone]";
    let later_gone_expo = "ExponentPushToken[receipt-gone]";
    for (token, platform, kind) in [
        (gone_voip.as_str(), "ios", "apns_voip"),
        (bad_voip.as_str(), "ios", "apns_voip"),
        (IPHONE_VOIP, "ios", "apns_voip"),
        (gone_fcm, "android", "fcm"),
        (ANDROID_FCM, "android", "fcm"),
        (gone_expo, "ios", "expo"),
        (later_gone_expo, "android", "expo"),
    ] {
        register(&app, callee, token, platform, kind).await;
    }
    apns.unregister(&gone_voip);
    apns.bad_token(&bad_voip);
    fcm.unregister(gone_fcm);
    app.push.unregister(gone_expo);

    let started = initiate(&app, new_user(), callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    assert_eq!(started.body["push"]["apns_voip"]["gone"], 2);
    assert_eq!(started.body["push"]["fcm"]["gone"], 1);
    assert_eq!(started.body["push"]["expo"]["gone"], 1);
    let mut left = vec![ANDROID_FCM.to_owned(), IPHONE_VOIP.to_owned(), later_gone_expo.to_owned()];
    left.sort();
    assert_eq!(tokens_of(&app, callee).await, left);

    // Expo took the last one, and its receipt later says the device is gone.
    let receipts = app.sql().await.query("SELECT token FROM push_receipts", &[]).await.unwrap();
    assert_eq!(receipts.len(), 1);
    app.push.receipts_gone(true);
    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.body["summary"]["steps"]["expoReceiptsChecked"], 0, "not before expo_receipt_delay_seconds");
    // Sixteen minutes pass (the device registered before the ring, as ever).
    backdate_ring(&app, "16 minutes").await;
    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.status, 200, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["expoReceiptsChecked"], 1, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["pushTokensPruned"], 1, "{:?}", sweep.body);
    assert_eq!(app.push.receipt_ids().len(), 1);
    let mut left = vec![ANDROID_FCM.to_owned(), IPHONE_VOIP.to_owned()];
    left.sort();
    assert_eq!(tokens_of(&app, callee).await, left);
    assert!(app.sql().await.query("SELECT 1 FROM push_receipts", &[]).await.unwrap().is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_stops_ringing_from_the_sweep() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[]).await;
    let callee = callee_with_two_phones(&app).await;
    let started = initiate(&app, new_user(), callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let call_id: Uuid = started.body["call"]["id"].as_str().unwrap().parse().unwrap();
    app.sql().await.execute("UPDATE calls SET ringing_at = now() - interval '1 hour' WHERE id = $1", &[&call_id]).await.unwrap();

    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.status, 200, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["callsMissed"], 1);
    assert_eq!(sweep.body["summary"]["steps"]["stopRingingSent"], 4, "{:?}", sweep.body);
    let ended = json!({ "type": "call_ended", "callId": call_id.to_string(), "status": "missed" });
    assert_eq!(apns.pushes().last().map(|push| push.payload.clone()), Some(ended.clone()));
    assert_eq!(fcm.messages().last().map(|message| message.data.clone()), Some(ended));
    let again = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(again.body["summary"]["steps"]["stopRingingSent"], 0, "sent once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_other_kinds_need_their_platform() {
    let app = App::start().await;
    let user = new_user();
    for (platform, kind) in [("android", "apns_voip"), ("web", "apns_voip"), ("ios", "fcm")] {
        let body = json!({ "token": "ab12", "platform": platform, "kind": kind }).to_string();
        let answer = app.post("/push-token-register", Some(&bearer(user)), &body).await;
        assert_eq!((answer.status, answer.code(), answer.body["field"].as_str()), (400, "INVALID_REQUEST", Some("kind")), "{platform} {kind}");
    }
    let answer = app.post("/push-token-register", Some(&bearer(user)), &json!({ "token": "ExponentPushToken[x]", "platform": "ios" }).to_string()).await;
    assert_eq!(answer.body["token"]["kind"], "expo", "the default kind");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_never_waits_for_stop_pushes() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[("push_timeout_seconds", "20")]).await;
    let callee = callee_with_two_phones(&app).await;
    let started = initiate(&app, new_user(), callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let call_id = started.body["call"]["id"].as_str().unwrap().to_owned();

    // FCM stops answering: the reject must not wait the 20 s push deadline for it.
    fcm.hang(true);
    let rejected = app
        .host
        .client
        .post(app.host.url("/call-action"))
        .header("authorization", bearer(callee))
        .header("content-type", "application/json")
        .body(json!({ "callId": call_id, "action": "reject" }).to_string())
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the reject is answered while FCM hangs");
    assert_eq!(rejected.status(), 200);

    // No sweep runs here: the component sends them after its answer.
    let ended = json!({ "type": "call_ended", "callId": call_id, "status": "rejected" });
    eventually("the iPhone's VoIP push and both Expo devices", || {
        apns.pushes().iter().any(|push| push.payload == ended) && expo_messages(&app, "call_ended").iter().map(|m| m["to"].as_array().map_or(0, Vec::len)).sum::<usize>() == 2
    })
    .await;
    assert_eq!(fcm.messages().len(), 1, "the hanging FCM got only the ring");
    let pending = count_reaches(&app, "SELECT count(*) FROM push_outbox WHERE sent_at IS NULL", 1).await;
    assert_eq!(pending, 1, "FCM's stop push waits for a later sweep; the others are recorded");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_refuses_only_its_provider_and_names_the_variable() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[
        ("apns_private_key", "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"),
        ("fcm_service_account_json", r#"{"type":"service_account"}"#),
    ])
    .await;
    let callee = callee_with_two_phones(&app).await;
    let started = initiate(&app, new_user(), callee).await;
    assert_eq!(started.status, 201, "Expo still rings: {:?}", started.body);
    assert_eq!(started.body["push"]["expo"]["outcome"], "accepted");
    for (provider, variable) in [("apns_voip", "apns_private_key"), ("fcm", "fcm_service_account_json")] {
        let summary = &started.body["push"][provider];
        assert_eq!(summary["outcome"], "refused", "{provider}: {summary}");
        assert!(summary["reason"].as_str().is_some_and(|reason| reason.contains(variable)), "{provider}: {summary}");
    }
    assert!(apns.pushes().is_empty() && fcm.messages().is_empty() && fcm.exchanges() == 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_apns_answers_bad_device_token_for_every_token_deletes_none() {
    if e2e::host::skipped_on_spin("reads the guest's stderr, which only our host captures in-process") {
        return;
    }
    let logs = MemoryOutputPipe::new(16 << 20);
    let Stack { app, apns, fcm: _, _runtime_config } = stack_logging(&[], Some(logs.clone())).await;
    // A wrong apns_environment: Apple answers BadDeviceToken for every token.
    let callee = new_user();
    let (first, second) = ("0a".repeat(32), "0b".repeat(32));
    for token in [&first, &second] {
        register(&app, callee, token, "ios", "apns_voip").await;
        apns.bad_token(token);
    }
    register(&app, callee, IPHONE_EXPO, "ios", "expo").await;
    let before = tokens_of(&app, callee).await;
    let started = app
        .post_with("/call-initiate", Some(&bearer(new_user())), &json!({ "calleeId": callee, "callType": "audio" }).to_string(), &[("x-request-id", "ring-bad-env")])
        .await;
    assert_eq!(started.status, 201, "Expo still rings: {:?}", started.body);
    assert_eq!(started.body["push"]["apns_voip"]["outcome"], "refused", "{:?}", started.body);
    assert_eq!(started.body["push"]["apns_voip"]["gone"], 0);
    assert_eq!(tokens_of(&app, callee).await, before, "no device is deleted");

    let text = String::from_utf8(logs.contents().to_vec()).unwrap();
    let warnings: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["requestId"] == "ring-bad-env" && line["variable"] == "apns_environment")
        .collect();
    assert_eq!(warnings.len(), 1, "one line naming the variable: {text}");
    assert!(warnings[0]["msg"].as_str().is_some_and(|msg| msg.contains("apns_environment")), "{}", warnings[0]);
    assert!(!text.contains(&first) && !text.contains(&second), "no device token in the logs");

    // The environment proven by a delivery in the same ring: BadDeviceToken is a dead token.
    let other = new_user();
    let bad = "0c".repeat(32);
    register(&app, other, &bad, "ios", "apns_voip").await;
    apns.bad_token(&bad);
    register(&app, other, IPHONE_VOIP, "ios", "apns_voip").await;
    let proven = initiate(&app, new_user(), other).await;
    assert_eq!(proven.status, 201, "{:?}", proven.body);
    assert_eq!(proven.body["push"]["apns_voip"]["gone"], 1, "{:?}", proven.body);
    assert_eq!(tokens_of(&app, other).await, vec![IPHONE_VOIP.to_owned()]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fcm_deletes_a_token_only_on_unregistered_in_a_json_error() {
    let Stack { app, apns: _, fcm, _runtime_config } = stack(&[]).await;
    // A wrong fcm_origin or a proxy: 404 in HTML for every send.
    fcm.answer_html_404(true);
    let callee = new_user();
    for token in ["fcm-a", "fcm-b"] {
        register(&app, callee, token, "android", "fcm").await;
    }
    register(&app, callee, ANDROID_EXPO, "android", "expo").await;
    let before = tokens_of(&app, callee).await;
    let started = initiate(&app, new_user(), callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    assert_eq!(started.body["push"]["fcm"]["outcome"], "refused", "{:?}", started.body);
    assert_eq!(started.body["push"]["fcm"]["gone"], 0);
    assert_eq!(tokens_of(&app, callee).await, before, "a 404 that is not FCM's word deletes nothing");

    // FCM's own answer, UNREGISTERED in its JSON error: that token goes, the other stays.
    fcm.answer_html_404(false);
    let other = new_user();
    for token in ["fcm-c", "fcm-d"] {
        register(&app, other, token, "android", "fcm").await;
    }
    fcm.unregister("fcm-c");
    let started = initiate(&app, new_user(), other).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    assert_eq!(started.body["push"]["fcm"]["gone"], 1, "{:?}", started.body);
    assert_eq!(tokens_of(&app, other).await, vec!["fcm-d".to_owned()]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_does_not_prune_a_token_registered_again_after_its_ticket() {
    let Stack { app, apns: _, fcm: _, _runtime_config } = stack(&[]).await;
    let callee = new_user();
    register(&app, callee, IPHONE_EXPO, "ios", "expo").await;
    let started = initiate(&app, new_user(), callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    assert_eq!(app.sql().await.query("SELECT 1 FROM push_receipts", &[]).await.unwrap().len(), 1);
    backdate_ring(&app, "16 minutes").await;
    // The app started again since, and registered its token again.
    register(&app, callee, IPHONE_EXPO, "ios", "expo").await;
    app.push.receipts_gone(true);
    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.status, 200, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["expoReceiptsChecked"], 1, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["pushTokensPruned"], 0, "{:?}", sweep.body);
    assert_eq!(tokens_of(&app, callee).await, vec![IPHONE_EXPO.to_owned()]);
    assert!(app.sql().await.query("SELECT 1 FROM push_receipts", &[]).await.unwrap().is_empty(), "the receipt is answered");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ringing_goes_only_to_the_devices_that_rang() {
    let Stack { app, apns, fcm: _, _runtime_config } = stack(&[]).await;
    let caller = new_user();
    let callee = new_user();
    register(&app, callee, IPHONE_VOIP, "ios", "apns_voip").await;
    register(&app, callee, IPHONE_EXPO, "ios", "expo").await;
    let started = initiate(&app, caller, callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let call_id: Uuid = started.body["call"]["id"].as_str().unwrap().parse().unwrap();
    // Devices registered while it rings never rang: no stop push is queued for them.
    for index in 0..3 {
        register(&app, callee, &format!("ExponentPushToken[later-{index}]"), "android", "expo").await;
    }
    let cancelled = app.post("/call-action", Some(&bearer(caller)), &json!({ "callId": call_id, "action": "cancel" }).to_string()).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    let queued = app.sql().await.query("SELECT token FROM push_outbox WHERE call_id = $1 ORDER BY token", &[&call_id]).await.unwrap();
    let queued: Vec<String> = queued.iter().map(|row| row.get(0)).collect();
    let mut rung = vec![IPHONE_EXPO.to_owned(), IPHONE_VOIP.to_owned()];
    rung.sort();
    assert_eq!(queued, rung);
    eventually("the iPhone stops ringing", || apns.pushes().len() == 2).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expo_requests_carry_at_most_100_tokens_and_receipts_at_most_300_ids() {
    let Stack { app, apns: _, fcm: _, _runtime_config } = stack(&[]).await;
    // A stop-ringing backlog of 150 Expo devices for one call, as queued before
    // the device cap (no route can queue one this large any more).
    let call_id = Uuid::new_v4();
    app.sql()
        .await
        .execute(
            "INSERT INTO push_outbox (call_id, user_id, token, kind, status)
             SELECT $1, $2, 'ExponentPushToken[backlog-' || n || ']', 'expo', 'missed' FROM generate_series(1, 150) n",
            &[&call_id, &new_user()],
        )
        .await
        .unwrap();
    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.status, 200, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["stopRingingSent"], 150, "{:?}", sweep.body);
    let mut sizes: Vec<usize> = expo_messages(&app, "call_ended").iter().map(|message| message["to"].as_array().unwrap().len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![50, 100]);
    assert_eq!(count_reaches(&app, "SELECT count(*) FROM push_outbox WHERE outcome = 'delivered'", 150).await, 150);

    // Their 150 tickets and 200 more, due together: receipts asked for 300 at most at a time.
    let tickets = app.sql().await.query("SELECT count(*) FROM push_receipts", &[]).await.unwrap()[0].get::<_, i64>(0);
    assert_eq!(tickets, 150);
    app.sql()
        .await
        .execute("INSERT INTO push_receipts (ticket_id, token) SELECT 'extra-' || n, 'ExponentPushToken[backlog-1]' FROM generate_series(1, 200) n", &[])
        .await
        .unwrap();
    backdate_ring(&app, "16 minutes").await;
    let sweep = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(sweep.status, 200, "{:?}", sweep.body);
    assert_eq!(sweep.body["summary"]["steps"]["expoReceiptsChecked"], 350, "{:?}", sweep.body);
    let mut batches = app.push.receipt_batches();
    batches.sort();
    assert_eq!(batches, vec![50, 300]);
    app.stop().await;
}

// A ring may reach a device while its call is still `initiated`: the push
// timed out, or the instance died before recording `ringing`. Its end stops it.

async fn sweep(app: &App) -> Answer {
    let answer = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer
}

async fn outbox_rows(app: &App, call_id: Uuid) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM push_outbox WHERE call_id = $1", &[&call_id]).await.unwrap().get(0)
}

/// Rings the callee, then leaves the call as an instance that died after the
/// push and before recording `ringing` leaves it.
async fn ring_then_crash(app: &App, caller: Uuid, callee: Uuid) -> Uuid {
    let started = initiate(app, caller, callee).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let call_id: Uuid = started.body["call"]["id"].as_str().unwrap().parse().unwrap();
    app.sql().await.execute("UPDATE calls SET status = 'initiated', ringing_at = NULL WHERE id = $1", &[&call_id]).await.unwrap();
    call_id
}

/// The devices of [`callee_with_two_phones`] each get exactly one `call_ended` for `call_id`.
async fn each_phone_stops_once(app: &App, apns: &FakeApns, fcm: &FakeFcm, call_id: Uuid) {
    let is_stop = |value: &Value| value["type"] == "call_ended" && value["callId"] == call_id.to_string();
    eventually("every device stops ringing", || {
        apns.pushes().iter().any(|push| is_stop(&push.payload))
            && fcm.messages().iter().any(|message| is_stop(&message.data))
            && expo_messages(app, "call_ended").iter().map(|m| m["to"].as_array().map_or(0, Vec::len)).sum::<usize>() >= 2
    })
    .await;
    assert_eq!(apns.pushes().iter().filter(|push| is_stop(&push.payload)).count(), 1);
    assert_eq!(fcm.messages().iter().filter(|message| is_stop(&message.data)).count(), 1);
    assert_eq!(expo_messages(app, "call_ended").iter().map(|m| m["to"].as_array().map_or(0, Vec::len)).sum::<usize>(), 2);
    assert_eq!(outbox_rows(app, call_id).await, 4, "one row per rung device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ring_whose_push_timed_out_is_stopped() {
    let Stack { app, fcm, _runtime_config, .. } = stack(&[("push_timeout_seconds", "1")]).await;
    let callee = new_user();
    register(&app, callee, ANDROID_FCM, "android", "fcm").await;
    fcm.hang(true);
    let failed = initiate(&app, new_user(), callee).await;
    assert_eq!((failed.status, failed.code()), (502, "PUSH_FAILED"), "{:?}", failed.body);
    fcm.hang(false);
    let call_id: Uuid = app.sql().await.query_one("SELECT id FROM calls WHERE callee_id = $1", &[&callee]).await.unwrap().get(0);
    assert_eq!(outbox_rows(&app, call_id).await, 1, "a stop for the device the ring may have reached");

    // The stop left after the answer, maybe into the hang: then the sweep resends it.
    let is_stop = |data: &Value| data["type"] == "call_ended" && data["callId"] == call_id.to_string();
    let started = Instant::now();
    while !fcm.messages().iter().any(|message| is_stop(&message.data)) {
        assert!(started.elapsed() < Duration::from_secs(15), "the phone never stopped ringing");
        app.sql().await.execute("UPDATE push_outbox SET claimed_until = now() - interval '1 second' WHERE call_id = $1 AND sent_at IS NULL", &[&call_id]).await.unwrap();
        sweep(&app).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stops: Vec<Value> = fcm.messages().into_iter().map(|message| message.data).filter(is_stop).collect();
    assert_eq!(stops, [json!({ "type": "call_ended", "callId": call_id.to_string(), "status": "missed" })], "one stop, as missed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_before_ringing_was_recorded_stops_the_ring() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[]).await;
    let caller = new_user();
    let callee = callee_with_two_phones(&app).await;
    let call_id = ring_then_crash(&app, caller, callee).await;

    let body = json!({ "callId": call_id, "action": "cancel" }).to_string();
    let cancelled = app.post("/call-action", Some(&bearer(caller)), &body).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.body["call"]["status"], "cancelled");
    each_phone_stops_once(&app, &apns, &fcm, call_id).await;
    let ended = json!({ "type": "call_ended", "callId": call_id.to_string(), "status": "cancelled" });
    assert_eq!(apns.pushes().last().map(|push| push.payload.clone()), Some(ended));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_failing_an_initiated_call_stops_the_ring() {
    let Stack { app, apns, fcm, _runtime_config } = stack(&[]).await;
    let callee = callee_with_two_phones(&app).await;
    let call_id = ring_then_crash(&app, new_user(), callee).await;
    app.sql().await.execute("UPDATE calls SET created_at = now() - interval '1 hour' WHERE id = $1", &[&call_id]).await.unwrap();

    let swept = sweep(&app).await;
    assert_eq!(swept.body["summary"]["steps"]["callsPushTimeout"], 1, "{:?}", swept.body);
    assert_eq!(swept.body["summary"]["steps"]["stopRingingSent"], 4, "{:?}", swept.body);
    each_phone_stops_once(&app, &apns, &fcm, call_id).await;
    let ended = json!({ "type": "call_ended", "callId": call_id.to_string(), "status": "missed" });
    assert_eq!(fcm.messages().last().map(|message| message.data.clone()), Some(ended));
    assert_eq!(sweep(&app).await.body["summary"]["steps"]["stopRingingSent"], 0, "sent once");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_no_devices_queues_no_stop() {
    let Stack { app, _runtime_config, .. } = stack(&[]).await;
    // Known (it once dialed someone unknown) but with no device.
    let callee = new_user();
    assert_eq!(initiate(&app, callee, new_user()).await.code(), "USER_NOT_FOUND");
    let unreachable = initiate(&app, new_user(), callee).await;
    assert_eq!((unreachable.status, unreachable.code()), (409, "CALLEE_UNREACHABLE"), "{:?}", unreachable.body);
    let call_id: Uuid = app.sql().await.query_one("SELECT id FROM calls WHERE callee_id = $1 AND end_reason = 'no_push_token'", &[&callee]).await.unwrap().get(0);
    assert_eq!(outbox_rows(&app, call_id).await, 0);
    app.stop().await;
}
