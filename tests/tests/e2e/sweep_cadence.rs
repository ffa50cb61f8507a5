//! The deadlines with a sweep that runs once a minute (a platform's scheduler
//! calling `POST /cleanup-orphans`, the app served without its cron trigger):
//! what holds between runs because the routes enforce it on read and on
//! action, what waits for the next run, and that one run cleans that up.
//!
//! No sweep runs here until the test calls it: the cron schedule never fires
//! in tests. Time passes by back-dating rows.

use e2e::app::{Answer, App};
use e2e::users::bearer;
use e2e::webhooks::{now, participant};
use serde_json::json;
use uuid::Uuid;

const SECRET: &str = "cadence-secret-of-at-least-32-bytes";

async fn initiate(app: &App, caller: Uuid, callee: Uuid) -> String {
    let answer = app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee, "callType": "audio" }).to_string()).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    answer.body["call"]["id"].as_str().unwrap().to_owned()
}

async fn act(app: &App, user: Uuid, call: &str, action: &str) -> Answer {
    app.post("/call-action", Some(&bearer(user)), &json!({ "callId": call, "action": action }).to_string()).await
}

async fn call_token(app: &App, user: Uuid, call: &str) -> Answer {
    app.post("/get-livekit-token", Some(&bearer(user)), &json!({ "callId": call }).to_string()).await
}

async fn session_token(app: &App, user: Uuid, session: &str) -> Answer {
    app.post("/get-livekit-token", Some(&bearer(user)), &json!({ "sessionId": session }).to_string()).await
}

/// Moves `column` of the call `ago` into the past.
async fn back_date_call(app: &App, call: &str, column: &str, ago: &str) {
    let id: Uuid = call.parse().unwrap();
    app.sql().await.execute(&format!("UPDATE calls SET {column} = now() - interval '{ago}' WHERE id = $1"), &[&id]).await.unwrap();
}

/// A caller and a callee (with a device) named `names`, and a call between
/// them that has rung for `ago`; returns (caller, callee, call id).
async fn call_ringing_for(app: &App, names: (&str, &str), ago: &str) -> (Uuid, Uuid, String) {
    let caller = app.user(names.0, None).await;
    let callee = app.user(names.1, Some(&format!("ExponentPushToken[{}]", names.1))).await;
    let call = initiate(app, caller, callee).await;
    back_date_call(app, &call, "ringing_at", ago).await;
    (caller, callee, call)
}

async fn call_row(app: &App, call: &str) -> (String, Option<String>) {
    let id: Uuid = call.parse().unwrap();
    let row = app.sql().await.query_one("SELECT status, end_reason FROM calls WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1))
}

async fn session_row(app: &App, session: &str) -> (String, Option<String>) {
    let id: Uuid = session.parse().unwrap();
    let row = app.sql().await.query_one("SELECT status, end_reason FROM live_sessions WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1))
}

fn owned(status: &str, reason: Option<&str>) -> (String, Option<String>) {
    (status.to_owned(), reason.map(str::to_owned))
}

/// Starts a broadcast for `host` and drops the host's connection (as
/// LiveKit's webhook says), `ago` in the past; returns the session id.
async fn broadcast_whose_host_dropped(app: &App, host: Uuid, ago: &str) -> String {
    let started = app.post("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let session = started.body["session"]["id"].as_str().unwrap().to_owned();
    let room = started.body["session"]["roomName"].as_str().unwrap().to_owned();
    let event_id = format!("EV_{}", Uuid::new_v4().simple());
    let dropped = app.webhook(&participant(&event_id, "participant_left", &room, &host.to_string(), now(), Some("SIGNAL_CLOSE"))).await;
    assert_eq!(dropped.status, 200, "{:?}", dropped.body);
    assert_eq!(session_row(app, &session).await, owned("host_disconnected", None));
    let id: Uuid = session.parse().unwrap();
    app.sql()
        .await
        .execute(&format!("UPDATE live_sessions SET host_left_at = now() - interval '{ago}' WHERE id = $1"), &[&id])
        .await
        .unwrap();
    session
}

async fn sweep(app: &App) -> serde_json::Value {
    let answer = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["summary"]["steps"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ring_deadline_and_the_host_grace_hold_for_users_without_a_sweep() {
    let app = App::start_with(&[("cron_secret", SECRET)]).await;

    // A call rang past ring_timeout_seconds (30 s): accepting it is refused
    // and the refusal makes it missed, freeing both parties at once.
    let (caller, callee, call) = call_ringing_for(&app, ("Ali", "Veli"), "31 seconds").await;
    let accept = act(&app, callee, &call, "accept").await;
    assert_eq!((accept.status, accept.code()), (410, "CALL_EXPIRED"), "{:?}", accept.body);
    assert_eq!(accept.body["status"], "missed");
    assert_eq!(call_row(&app, &call).await, owned("missed", Some("no_answer")));
    for party in [caller, callee] {
        let token = call_token(&app, party, &call).await;
        assert_eq!((token.status, token.code()), (410, "CALL_ENDED"), "{:?}", token.body);
    }
    initiate(&app, caller, callee).await;

    // The caller's own late action meets the same deadline: the call is
    // missed, not cancelled.
    let (other_caller, _, late) = call_ringing_for(&app, ("Can", "Deniz"), "31 seconds").await;
    let cancel = act(&app, other_caller, &late, "cancel").await;
    assert_eq!((cancel.status, cancel.code()), (409, "INVALID_TRANSITION"), "{:?}", cancel.body);
    assert_eq!(cancel.body["status"], "missed");
    assert_eq!(call_row(&app, &late).await, owned("missed", Some("no_answer")));

    // A host out of host_grace_seconds (30 s): the viewers' status read ends
    // the broadcast, and from then on nobody gets a token for it.
    let host = app.user("Ece", None).await;
    let viewer = app.user("Fuat", None).await;
    let session = broadcast_whose_host_dropped(&app, host, "31 seconds").await;
    let status = app.host.client.get(app.host.url(&format!("/live-session-status?sessionId={session}"))).header("authorization", bearer(viewer)).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let status: serde_json::Value = status.json().await.unwrap();
    assert_eq!((status["status"].as_str(), status["endReason"].as_str()), (Some("ended"), Some("host_timeout")), "{status}");
    assert!(status["graceEndsAt"].is_null());
    assert_eq!(session_row(&app, &session).await, owned("ended", Some("host_timeout")));
    for user in [viewer, host] {
        let token = session_token(&app, user, &session).await;
        assert_eq!((token.status, token.code()), (410, "SESSION_ENDED"), "{:?}", token.body);
    }
    // The host may go live again at once.
    let again = app.post("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#).await;
    assert_eq!(again.status, 201, "{:?}", again.body);

    // None of that needed a sweep: the first one finds nothing of it left.
    let steps = sweep(&app).await;
    assert_eq!((steps["callsMissed"].as_u64(), steps["sessionsHostTimeout"].as_u64()), (Some(0), Some(0)), "{steps}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_nobody_touches_waits_for_the_next_run_and_one_run_cleans_it() {
    let app = App::start_with(&[("cron_secret", SECRET)]).await;

    // A call rang out and nobody acted: until the sweep it is still ringing,
    // the caller may still fetch a token to wait in the room, and both
    // parties are busy for new calls.
    let (caller, callee, rang_out) = call_ringing_for(&app, ("Ali", "Veli"), "31 seconds").await;
    assert_eq!(call_token(&app, caller, &rang_out).await.status, 200);

    // A call accepted but not joined within join_timeout_seconds (30 s): only
    // the sweep fails it; until then both parties still get tokens.
    let caller_b = app.user("Can", None).await;
    let callee_b = app.user("Deniz", Some("ExponentPushToken[deniz]")).await;
    let unjoined = initiate(&app, caller_b, callee_b).await;
    assert_eq!(act(&app, callee_b, &unjoined, "accept").await.status, 200);
    back_date_call(&app, &unjoined, "accepted_at", "31 seconds").await;
    for party in [caller_b, callee_b] {
        assert_eq!(call_token(&app, party, &unjoined).await.status, 200);
    }

    // A call-initiate that died while pushing (no public route leaves one
    // `initiated`): only the sweep fails it after initiate_timeout_seconds (5 s),
    // and not before its push deadline (5 s) plus 5 s.
    let caller_c = app.user("Ece", None).await;
    let callee_c = app.user("Fuat", Some("ExponentPushToken[fuat]")).await;
    let stuck = Uuid::new_v4();
    app.sql()
        .await
        .execute(
            "INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name, created_at)
             VALUES ($1, $2, $3, 'audio', 'initiated', $4, now() - interval '11 seconds')",
            &[&stuck, &caller_c, &callee_c, &format!("call_{}", stuck.simple())],
        )
        .await
        .unwrap();
    let stuck = stuck.to_string();

    let someone = app.user("Gül", Some("ExponentPushToken[gul]")).await;
    for (from, to) in [(caller, someone), (someone, callee), (caller_b, someone), (caller_c, someone)] {
        let busy = app.post("/call-initiate", Some(&bearer(from)), &json!({ "calleeId": to, "callType": "audio" }).to_string()).await;
        assert_eq!((busy.status, busy.code()), (409, "BUSY"), "{:?}", busy.body);
    }

    // A host out of grace whose viewers do not ask for the status: viewers
    // still get tokens until the sweep (or the room's next webhook) ends it.
    let host = app.user("Hale", None).await;
    let viewer = app.user("Ilgaz", None).await;
    let session = broadcast_whose_host_dropped(&app, host, "31 seconds").await;
    assert_eq!(session_token(&app, viewer, &session).await.status, 200);

    // One run.
    let steps = sweep(&app).await;
    assert_eq!(steps["callsMissed"], 1, "{steps}");
    assert_eq!(steps["callsJoinTimeout"], 1, "{steps}");
    assert_eq!(steps["callsPushTimeout"], 1, "{steps}");
    assert_eq!(steps["sessionsHostTimeout"], 1, "{steps}");
    assert_eq!(call_row(&app, &rang_out).await, owned("missed", Some("no_answer")));
    assert_eq!(call_row(&app, &unjoined).await, owned("failed", Some("join_timeout")));
    assert_eq!(call_row(&app, &stuck).await, owned("failed", Some("push_timeout")));
    assert_eq!(session_row(&app, &session).await, owned("ended", Some("host_timeout")));
    assert_eq!(call_token(&app, caller, &rang_out).await.code(), "CALL_ENDED");
    assert_eq!(call_token(&app, callee_b, &unjoined).await.code(), "CALL_ENDED");
    assert_eq!(session_token(&app, viewer, &session).await.code(), "SESSION_ENDED");
    // Everyone is free to call again.
    initiate(&app, caller, someone).await;
    initiate(&app, caller_b, callee).await;
    initiate(&app, caller_c, callee_b).await;
    app.stop().await;
}
