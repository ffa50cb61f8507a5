//! Users are known from their first write, with no outside sync: a fresh
//! database, people who sign in with the auth provider's JWTs, and nothing
//! but public routes. No SQL here: what the tests know of the `users` table
//! they see in answers, LiveKit tokens and pushes.

use e2e::app::{Answer, App, LIVEKIT_KEY, LIVEKIT_SECRET};
use e2e::users::{new_user, token_with};
use livekit_api::access_token::TokenVerifier;
use serde_json::{json, Value};
use uuid::Uuid;

/// `Authorization` for `user` with `claims` added to the test token's own
/// (Supabase puts the profile in `user_metadata`; OIDC providers in `name`).
fn signed_in(user: Uuid, claims: Value) -> String {
    let token = token_with(user, |mut jwt| {
        for (name, value) in claims.as_object().expect("claims are an object") {
            jwt.custom[name] = value.clone();
        }
        jwt
    });
    format!("Bearer {token}")
}

async fn register(app: &App, authorization: &str, device: &str) -> Answer {
    app.post("/push-token-register", Some(authorization), &json!({ "token": device, "platform": "ios" }).to_string()).await
}

async fn initiate(app: &App, authorization: &str, callee: Uuid) -> Answer {
    app.post_with("/call-initiate", Some(authorization), &json!({ "calleeId": callee, "callType": "video" }).to_string(), &[("accept-language", "en")])
        .await
}

async fn act(app: &App, authorization: &str, call: &str, action: &str) -> Answer {
    app.post("/call-action", Some(authorization), &json!({ "callId": call, "action": action }).to_string()).await
}

/// The `name` of the LiveKit token in `answer`.
fn livekit_name(answer: &Answer) -> String {
    let token = answer.body["token"].as_str().unwrap_or_else(|| panic!("no token in {:?}", answer.body));
    TokenVerifier::with_api_key(LIVEKIT_KEY, LIVEKIT_SECRET).verify(token).expect("livekit-api accepts the token").name
}

/// The text of the last push the fake provider received.
fn last_push_text(app: &App) -> String {
    let pushes = app.push.received();
    // The rings only: an accept also sends a `call_ended` without text.
    let push = pushes.iter().rev().find(|push| push.body["data"]["type"] == "incoming_call").expect("a push was sent");
    push.body["body"].as_str().expect("the push has a text").to_owned()
}

fn call_id(answer: &Answer) -> String {
    answer.body["call"]["id"].as_str().unwrap_or_else(|| panic!("no call in {:?}", answer.body)).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_sign_in_register_call_accept_and_end() {
    let app = App::start().await;
    let (ada, grace) = (new_user(), new_user());
    let ada_signed_in = signed_in(ada, json!({ "user_metadata": { "full_name": "Ada Lovelace", "avatar_url": "https://example.com/a.png" } }));
    let grace_signed_in = signed_in(grace, json!({ "name": "Grace Hopper" }));

    for (authorization, device) in [(&ada_signed_in, "ExponentPushToken[ada-phone]"), (&grace_signed_in, "ExponentPushToken[grace-phone]")] {
        let registered = register(&app, authorization, device).await;
        assert_eq!(registered.status, 200, "{:?}", registered.body);
        assert_eq!(registered.body["success"], true);
        assert_eq!(registered.body["token"]["platform"], "ios");
    }

    let started = initiate(&app, &ada_signed_in, grace).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let id = call_id(&started);
    assert_eq!(started.body["call"]["status"], "ringing");
    assert_eq!(started.body["call"]["callerId"], ada.to_string());
    assert_eq!(started.body["call"]["calleeId"], grace.to_string());
    assert_eq!(livekit_name(&started), "Ada Lovelace");

    let pushes = app.push.received();
    assert_eq!(pushes.len(), 1);
    let message = &pushes[0].body;
    assert_eq!(message["to"], json!(["ExponentPushToken[grace-phone]"]), "only the callee's device rings");
    assert_eq!(message["title"], "Gelen görüntülü arama");
    assert_eq!(message["body"], "Ada Lovelace sizi arıyor");
    assert_eq!(message["data"], json!({ "type": "incoming_call", "callId": id, "callerId": ada.to_string(), "callerName": "Ada Lovelace", "callType": "video" }));

    let accepted = act(&app, &grace_signed_in, &id, "accept").await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!((accepted.body["changed"].clone(), accepted.body["call"]["status"].clone()), (json!(true), json!("accepted")));
    // call-action names the callee from the stored row, which her registration wrote.
    assert_eq!(livekit_name(&accepted), "Grace Hopper");

    let ended = act(&app, &ada_signed_in, &id, "end").await;
    assert_eq!(ended.status, 200, "{:?}", ended.body);
    assert_eq!(ended.body["changed"], true);
    assert_eq!(ended.body["call"]["status"], "ended");
    assert_eq!(ended.body["call"]["endReason"], "user_ended");
    assert_eq!(ended.body["roomDeletion"], "done");
    // The stop-ringing push leaves after the accept's answer: wait for it.
    let waited = std::time::Instant::now();
    while app.push.received().len() < 2 && waited.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let pushes = app.push.received();
    assert_eq!(pushes.len(), 2, "the ring, then one stop-ringing push when Grace accepted: {pushes:?}");
    assert_eq!(pushes[1].body["data"], json!({ "type": "call_ended", "callId": id, "status": "accepted" }));
    assert_eq!(pushes[1].body["to"], json!(["ExponentPushToken[grace-phone]"]));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_is_unknown_until_their_first_write() {
    let app = App::start().await;
    let caller = signed_in(new_user(), json!({ "name": "Ada" }));
    assert_eq!(register(&app, &caller, "ExponentPushToken[ada-phone]").await.status, 200);

    // Never wrote anything: unknown, as before.
    let stranger = new_user();
    let unknown = initiate(&app, &caller, stranger).await;
    assert_eq!((unknown.status, unknown.code()), (404, "USER_NOT_FOUND"), "{:?}", unknown.body);

    // Started a broadcast, so known, but has no device: unreachable.
    let host = new_user();
    let host_signed_in = signed_in(host, json!({ "user_metadata": { "name": "Grace" } }));
    let live = app.post("/live-session-start", Some(&host_signed_in), r#"{"type":"audio_live"}"#).await;
    assert_eq!(live.status, 201, "{:?}", live.body);
    assert_eq!(livekit_name(&live), "Grace");
    let unreachable = initiate(&app, &caller, host).await;
    assert_eq!((unreachable.status, unreachable.code()), (409, "CALLEE_UNREACHABLE"), "{:?}", unreachable.body);
    assert_eq!(unreachable.body["error"], "This user cannot be reached right now");

    // Only ever called someone (who was unknown): known, unreachable too.
    let dialer = new_user();
    let dialed = initiate(&app, &signed_in(dialer, json!({})), stranger).await;
    assert_eq!(dialed.code(), "USER_NOT_FOUND");
    let unreachable = initiate(&app, &caller, dialer).await;
    assert_eq!((unreachable.status, unreachable.code()), (409, "CALLEE_UNREACHABLE"), "{:?}", unreachable.body);

    // A device later makes them reachable.
    assert_eq!(register(&app, &signed_in(dialer, json!({})), "ExponentPushToken[dialer-phone]").await.status, 200);
    let ringing = initiate(&app, &caller, dialer).await;
    assert_eq!(ringing.status, 201, "{:?}", ringing.body);
    assert_eq!(app.push.received().len(), 1, "only the reachable callee was pushed");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_name_replaces_the_older_one_and_no_name_keeps_it() {
    let app = App::start().await;
    let (ada, grace) = (new_user(), new_user());
    assert_eq!(register(&app, &signed_in(grace, json!({})), "ExponentPushToken[grace-phone]").await.status, 200);
    assert_eq!(register(&app, &signed_in(ada, json!({ "user_metadata": { "full_name": "Ada" } })), "ExponentPushToken[ada-phone]").await.status, 200);

    // Each call is cancelled at once, so the next one finds both free.
    let call_as = |claims: Value| {
        let authorization = signed_in(ada, claims);
        let app = &app;
        async move {
            let started = initiate(app, &authorization, grace).await;
            assert_eq!(started.status, 201, "{:?}", started.body);
            let cancelled = act(app, &authorization, &call_id(&started), "cancel").await;
            assert_eq!(cancelled.body["call"]["status"], "cancelled", "{:?}", cancelled.body);
            (livekit_name(&started), last_push_text(app))
        }
    };
    let ringing_as = |name: &str| (name.to_owned(), format!("{name} sizi arıyor"));

    assert_eq!(call_as(json!({})).await, ringing_as("Ada"), "a token without a name keeps the stored one");
    assert_eq!(call_as(json!({ "user_metadata": { "full_name": "Ada Lovelace" } })).await, ringing_as("Ada Lovelace"));
    assert_eq!(call_as(json!({})).await, ringing_as("Ada Lovelace"), "the newer name was stored");
    assert_eq!(call_as(json!({ "name": "Countess of Lovelace" })).await, ringing_as("Countess of Lovelace"));
    assert_eq!(call_as(json!({ "user_metadata": { "full_name": "   " } })).await, ringing_as("Countess of Lovelace"), "a blank name is no name");

    // Hostile input is cleaned up and cut to 100 characters before anyone sees it.
    let hostile = format!("\u{202e}Ada\n\u{0}Lovelace {}", "x".repeat(200));
    let cleaned = format!("Ada Lovelace {}", "x".repeat(100 - "Ada Lovelace ".len()));
    assert_eq!(call_as(json!({ "name": hostile })).await, ringing_as(&cleaned));
    assert_eq!(call_as(json!({})).await, ringing_as(&cleaned));

    // The token route writes nothing and reads the stored name.
    let live = app.post("/live-session-start", Some(&signed_in(ada, json!({ "name": "Ada" }))), r#"{"type":"video_live"}"#).await;
    assert_eq!((live.status, livekit_name(&live)), (201, "Ada".to_owned()), "{:?}", live.body);
    let session = live.body["session"]["id"].as_str().unwrap();
    let token = app.post("/get-livekit-token", Some(&signed_in(ada, json!({ "name": "Not stored" }))), &json!({ "sessionId": session }).to_string()).await;
    assert_eq!((token.status, livekit_name(&token)), (200, "Ada".to_owned()), "{:?}", token.body);
    app.stop().await;
}
