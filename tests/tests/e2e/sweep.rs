//! The sweep (`cleanup-orphans`) end to end: every step by back-dating rows,
//! LiveKit outages, overlapping runs, the cron trigger.

use base64::Engine as _;
use e2e::app::{Answer, App};
use e2e::fake_livekit::{Mode, ParticipantState};
use e2e::users::new_user;
use uuid::Uuid;

const SECRET: &str = "sweep-secret-of-at-least-32-bytes";

async fn app() -> App {
    App::start_with(&[("cron_secret", SECRET)]).await
}

async fn sweep(app: &App) -> serde_json::Value {
    let answer = app.post("/cleanup-orphans", Some(&format!("Bearer {SECRET}")), "").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["summary"].clone()
}

/// Inserts a call in `status` with `column` set `ago` in the past; returns (id, room).
async fn call(app: &App, status: &str, column: &str, ago: &str) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let room = format!("call_{}", id.simple());
    let sql = app.sql().await;
    sql.execute(
        "INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name, ringing_at, accepted_at, live_at)
         VALUES ($1, $2, $3, 'audio', $4, $5,
                 CASE WHEN $4 IN ('ringing', 'accepted', 'live') THEN now() END,
                 CASE WHEN $4 IN ('accepted', 'live') THEN now() END,
                 CASE WHEN $4 = 'live' THEN now() END)",
        &[&id, &new_user(), &new_user(), &status, &room],
    )
    .await
    .unwrap();
    sql.execute(&format!("UPDATE calls SET {column} = now() - interval '{ago}' WHERE id = $1"), &[&id]).await.unwrap();
    (id, room)
}

async fn call_state(app: &App, id: Uuid) -> (String, Option<String>) {
    let row = app.sql().await.query_one("SELECT status, end_reason FROM calls WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1))
}

async fn session(app: &App, status: &str, host_left_ago: Option<&str>, updated_ago: &str) -> (Uuid, String) {
    let id = Uuid::new_v4();
    let room = format!("live_{}", id.simple());
    let host_left = host_left_ago.map_or("NULL".to_owned(), |ago| format!("now() - interval '{ago}'"));
    app.sql()
        .await
        .execute(
            &format!(
                "INSERT INTO live_sessions (id, creator_id, type, status, livekit_room_name, host_left_at, updated_at)
                 VALUES ($1, $2, 'video_live', $3, $4, {host_left}, now() - interval '{updated_ago}')"
            ),
            &[&id, &new_user(), &status, &room],
        )
        .await
        .unwrap();
    (id, room)
}

async fn session_state(app: &App, id: Uuid) -> (String, Option<String>) {
    let row = app.sql().await.query_one("SELECT status, end_reason FROM live_sessions WHERE id = $1", &[&id]).await.unwrap();
    (row.get(0), row.get(1))
}

fn owned(status: &str, reason: Option<&str>) -> (String, Option<String>) {
    (status.to_owned(), reason.map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_entry_needs_the_secret() {
    let app = app().await;
    let (due, _) = call(&app, "ringing", "ringing_at", "31 seconds").await;
    for authorization in [None, Some("Bearer wrong".to_owned()), Some(SECRET.to_owned()), Some(format!("Bearer {SECRET}x"))] {
        let answer: Answer = app.post("/cleanup-orphans", authorization.as_deref(), "").await;
        assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"), "{authorization:?}");
    }
    assert_eq!(call_state(&app, due).await.0, "ringing", "nothing ran");
    app.stop().await;

    // No secret configured: nobody may trigger it over HTTP.
    let app = App::start().await;
    assert_eq!(app.post("/cleanup-orphans", Some("Bearer "), "").await.status, 401);
    app.stop().await;

    // A secret under 32 bytes refuses everyone, whoever presents it.
    let short = &SECRET[..31];
    let app = App::start_with(&[("cron_secret", short)]).await;
    let (due, _) = call(&app, "ringing", "ringing_at", "31 seconds").await;
    for authorization in [format!("Bearer {short}"), format!("Bearer {SECRET}")] {
        let answer = app.post("/cleanup-orphans", Some(&authorization), "").await;
        assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"), "{authorization}");
    }
    assert_eq!(call_state(&app, due).await.0, "ringing", "nothing ran");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_are_purged_after_ten_minutes() {
    let app = app().await;
    let sql = app.sql().await;
    for ago in ["11 minutes", "10 minutes 1 second", "9 minutes"] {
        sql.execute(
            &format!("INSERT INTO call_initiate_keys (caller_id, key, call_id, created_at) VALUES ($1, $2, $3, now() - interval '{ago}')"),
            &[&new_user(), &Uuid::new_v4(), &Uuid::new_v4()],
        )
        .await
        .unwrap();
    }
    assert_eq!(sweep(&app).await["steps"]["callInitiateKeysPurged"], 2);
    let left: i64 = sql.query_one("SELECT count(*) FROM call_initiate_keys", &[]).await.unwrap().get(0);
    assert_eq!(left, 1, "the key still within its 10 minutes stays");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_deadlines() {
    let app = app().await;
    // initiate_timeout_seconds (5) but never before push_timeout_seconds (5) plus 5 s.
    let (push_timeout, _) = call(&app, "initiated", "created_at", "11 seconds").await;
    let (fresh_initiated, _) = call(&app, "initiated", "created_at", "1 second").await;
    let (pushing, _) = call(&app, "initiated", "created_at", "6 seconds").await;
    let (missed, _) = call(&app, "ringing", "ringing_at", "31 seconds").await;
    let (still_ringing, _) = call(&app, "ringing", "ringing_at", "20 seconds").await;
    let (join_timeout, _) = call(&app, "accepted", "accepted_at", "31 seconds").await;
    let (too_long, too_long_room) = call(&app, "live", "live_at", "4 hours 1 second").await;
    let (dropped, dropped_room) = call(&app, "live", "live_at", "1 minute").await;
    let callee: String = app.sql().await.query_one("SELECT callee_id::text FROM calls WHERE id = $1", &[&dropped]).await.unwrap().get(0);
    app.sql()
        .await
        .execute(
            "INSERT INTO room_participants (room_name, identity, present, event_at, event_rank, left_reason)
             VALUES ($1, $2, false, now() - interval '31 seconds', 0, 'network')",
            &[&dropped_room, &callee],
        )
        .await
        .unwrap();
    // Keep the idle warning out of this test.
    app.sql().await.execute("UPDATE calls SET published_tracks = 1", &[]).await.unwrap();

    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["callsPushTimeout"], 1, "{summary}");
    assert_eq!(summary["steps"]["callsMissed"], 1);
    assert_eq!(summary["steps"]["callsJoinTimeout"], 1);
    assert_eq!(summary["steps"]["callsMaxDuration"], 1);
    assert_eq!(summary["steps"]["callsNetworkFailure"], 1);
    assert_eq!(call_state(&app, push_timeout).await, owned("failed", Some("push_timeout")));
    assert_eq!(call_state(&app, fresh_initiated).await, owned("initiated", None));
    assert_eq!(call_state(&app, pushing).await, owned("initiated", None), "its push may still be accepted");
    assert_eq!(call_state(&app, missed).await, owned("missed", Some("no_answer")));
    assert_eq!(call_state(&app, still_ringing).await, owned("ringing", None));
    assert_eq!(call_state(&app, join_timeout).await, owned("failed", Some("join_timeout")));
    assert_eq!(call_state(&app, too_long).await, owned("ended", Some("max_duration")));
    assert_eq!(call_state(&app, dropped).await, owned("failed", Some("network_failure")));
    let deleted: Vec<String> = app.livekit.received_method("DeleteRoom").iter().map(|r| r.body["room"].as_str().unwrap().to_owned()).collect();
    assert!(deleted.contains(&too_long_room) && deleted.contains(&dropped_room), "{deleted:?}");
    let parties: i64 = app.sql().await.query_one("SELECT count(*) FROM active_call_parties", &[]).await.unwrap().get(0);
    assert_eq!(parties, 6, "only the three calls still due later hold their parties");

    // A second run finds nothing more to do.
    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["callsMissed"], 0);
    assert_eq!(summary["steps"]["roomsDeleted"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_calls_are_warned_once_per_idle_stretch() {
    let app = app().await;
    let (idle, room) = call(&app, "live", "live_at", "301 seconds").await;
    let (busy_talking, _) = call(&app, "live", "live_at", "301 seconds").await;
    app.sql().await.execute("UPDATE calls SET published_tracks = 2 WHERE id = $1", &[&busy_talking]).await.unwrap();
    assert_eq!(sweep(&app).await["steps"]["idleWarnings"], 1);
    let sent = app.livekit.received_method("SendData");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["room"], room.as_str());
    assert_eq!(sent[0].body["topic"], "system");
    let data = base64::engine::general_purpose::STANDARD.decode(sent[0].body["data"].as_str().unwrap()).unwrap();
    let message: serde_json::Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(message["type"], "idle_warning");
    assert_eq!(message["callId"], idle.to_string());
    assert!(message["idleSeconds"].as_u64().unwrap() >= 300);
    assert_eq!(sweep(&app).await["steps"]["idleWarnings"], 0, "one warning per idle stretch");
    // A track published and unpublished again starts a new stretch.
    app.sql()
        .await
        .execute("UPDATE calls SET idle_warned_at = NULL, media_last_seen_at = now() - interval '301 seconds' WHERE id = $1", &[&idle])
        .await
        .unwrap();
    assert_eq!(sweep(&app).await["steps"]["idleWarnings"], 1);
    // LiveKit failing: the warning stays owed.
    app.sql().await.execute("UPDATE calls SET idle_warned_at = NULL WHERE id = $1", &[&idle]).await.unwrap();
    app.livekit.set_mode(Mode::Fail);
    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["idleWarnings"], 0);
    assert!(summary["livekitErrors"].as_u64().unwrap() >= 1);
    let owed: bool = app.sql().await.query_one("SELECT idle_warned_at IS NULL FROM calls WHERE id = $1", &[&idle]).await.unwrap().get(0);
    assert!(owed);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_out_of_grace_end_and_orphans_are_checked_with_livekit() {
    let app = app().await;
    let (gone, gone_room) = session(&app, "host_disconnected", Some("31 seconds"), "31 seconds").await;
    let (paused, _) = session(&app, "paused", Some("31 seconds"), "31 seconds").await;
    let (waiting, _) = session(&app, "host_disconnected", Some("10 seconds"), "10 seconds").await;
    let (missing_room, _) = session(&app, "live", None, "31 minutes").await;
    let (empty_room, empty_name) = session(&app, "live", None, "31 minutes").await;
    let (full_room, full_name) = session(&app, "live", None, "31 minutes").await;
    let (fresh, _) = session(&app, "live", None, "5 minutes").await;
    app.livekit.set_rooms(&[(&empty_name, 0), (&full_name, 3)]);

    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["sessionsHostTimeout"], 2, "{summary}");
    assert_eq!(summary["steps"]["orphansEnded"], 2);
    assert_eq!(summary["steps"]["orphansAlive"], 1);
    assert_eq!(session_state(&app, gone).await, owned("ended", Some("host_timeout")));
    assert_eq!(session_state(&app, paused).await, owned("ended", Some("host_timeout")));
    assert_eq!(session_state(&app, waiting).await, owned("host_disconnected", None));
    assert_eq!(session_state(&app, missing_room).await, owned("ended", Some("orphaned_cleanup")));
    assert_eq!(session_state(&app, empty_room).await, owned("ended", Some("orphaned_cleanup")));
    assert_eq!(session_state(&app, full_room).await, owned("live", None));
    assert_eq!(session_state(&app, fresh).await, owned("live", None));
    let touched: bool = app.sql().await.query_one("SELECT updated_at > now() - interval '1 minute' FROM live_sessions WHERE id = $1", &[&full_room]).await.unwrap().get(0);
    assert!(touched, "an occupied room's session counts as active");
    let lists = app.livekit.received_method("ListRooms");
    assert_eq!(lists.len(), 1, "one ListRooms per batch");
    assert_eq!(lists[0].body["names"].as_array().unwrap().len(), 3);
    let deleted: Vec<String> = app.livekit.received_method("DeleteRoom").iter().map(|r| r.body["room"].as_str().unwrap().to_owned()).collect();
    assert!(deleted.contains(&gone_room) && deleted.contains(&empty_name), "{deleted:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_livekit_outage_ends_nothing_and_the_next_healthy_run_cleans_up() {
    let app = App::start_with(&[("cron_secret", SECRET), ("livekit_timeout_seconds", "1")]).await;
    let (orphan, _) = session(&app, "live", None, "31 minutes").await;
    for mode in [Mode::Fail, Mode::Hang] {
        app.livekit.set_mode(mode);
        let summary = sweep(&app).await;
        assert_eq!(summary["steps"]["orphansEnded"].as_u64().unwrap_or(0), 0, "{mode:?}: {summary}");
        assert!(summary["livekitErrors"].as_u64().unwrap() >= 1, "{mode:?}");
        assert_eq!(session_state(&app, orphan).await, owned("live", None), "{mode:?}");
    }
    app.livekit.set_mode(Mode::Normal);
    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["orphansEnded"], 1, "{summary}");
    assert_eq!(session_state(&app, orphan).await, owned("ended", Some("orphaned_cleanup")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_runs_process_every_row_exactly_once() {
    let app = app().await;
    let sql = app.sql().await;
    sql.execute(
        "INSERT INTO calls (caller_id, callee_id, call_type, status, livekit_room_name, ringing_at)
         SELECT gen_random_uuid(), gen_random_uuid(), 'audio', 'ringing', 'call_' || n, now() - interval '31 seconds'
         FROM generate_series(1, 300) AS n",
        &[],
    )
    .await
    .unwrap();
    let (first, second) = tokio::join!(sweep(&app), sweep(&app));
    // A run that finds the other holding the lease does nothing at all.
    let total = first["steps"]["callsMissed"].as_u64().unwrap_or(0) + second["steps"]["callsMissed"].as_u64().unwrap_or(0);
    assert_eq!(total, 300, "{first} / {second}");
    let missed: i64 = sql.query_one("SELECT count(*) FROM calls WHERE status = 'missed'", &[]).await.unwrap().get(0);
    assert_eq!(missed, 300);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_trigger_runs_the_sweep_and_batches_are_bounded() {
    if e2e::host::skipped_on_spin("Spin 4.0.2 has no cron trigger; this fires ours in-process") {
        return;
    }
    let app = App::start_with(&[("sweep_batch_size", "10")]).await;
    app.sql()
        .await
        .execute(
            "INSERT INTO calls (caller_id, callee_id, call_type, status, livekit_room_name, ringing_at)
             SELECT gen_random_uuid(), gen_random_uuid(), 'audio', 'ringing', 'call_' || n, now() - interval '31 seconds'
             FROM generate_series(1, 25) AS n",
            &[],
        )
        .await
        .unwrap();
    let outcome = app.host.host().fire_cron("cleanup-orphans").await.unwrap();
    assert_eq!(outcome, Ok(()));
    assert_eq!(missed_calls(&app).await, 10, "one batch per run");
    app.host.host().fire_cron("cleanup-orphans").await.unwrap().unwrap();
    app.host.host().fire_cron("cleanup-orphans").await.unwrap().unwrap();
    assert_eq!(missed_calls(&app).await, 25);
    assert_eq!(app.host.host().cron_counts("cleanup-orphans"), Some((3, 0)));
    app.stop().await;
}

async fn missed_calls(app: &App) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM calls WHERE status = 'missed'", &[]).await.unwrap().get(0)
}

/// A call `caller` → `callee` made and answered through the routes; returns (call id, room).
async fn answered_call(app: &App, caller: Uuid, callee: Uuid) -> (Uuid, String) {
    let bearer = e2e::users::bearer;
    let initiated = app.post("/call-initiate", Some(&bearer(caller)), &serde_json::json!({ "calleeId": callee, "callType": "audio" }).to_string()).await;
    assert_eq!(initiated.status, 201, "{:?}", initiated.body);
    let id: Uuid = initiated.body["call"]["id"].as_str().unwrap().parse().unwrap();
    let room = initiated.body["call"]["roomName"].as_str().unwrap().to_owned();
    let accepted = app.post("/call-action", Some(&bearer(callee)), &serde_json::json!({ "callId": id, "action": "accept" }).to_string()).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    (id, room)
}

/// Two users (the callee with a device) and their call, answered `ago` in the past.
async fn call_answered_ago(app: &App, ago: &str) -> (Uuid, Uuid, Uuid, String) {
    let caller = app.user("Ali", None).await;
    let callee = app.user("Veli", Some(&format!("ExponentPushToken[{}]", Uuid::new_v4().simple()))).await;
    let (id, room) = answered_call(app, caller, callee).await;
    app.sql().await.execute(&format!("UPDATE calls SET accepted_at = now() - interval '{ago}' WHERE id = $1"), &[&id]).await.unwrap();
    (caller, callee, id, room)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answered_call_whose_webhooks_were_lost_becomes_live_when_both_parties_are_in_the_room() {
    let app = app().await;
    // No webhook reaches us; LiveKit has what the app's clients did.
    let (caller, callee, talking, talking_room) = call_answered_ago(&app, "31 seconds").await;
    app.livekit.set_participants(&talking_room, &[&caller.to_string(), &callee.to_string()]);
    let (alone_caller, _, alone, alone_room) = call_answered_ago(&app, "31 seconds").await;
    app.livekit.set_participants(&alone_room, &[&alone_caller.to_string()]);
    let (leaving_caller, leaving_callee, leaving, leaving_room) = call_answered_ago(&app, "31 seconds").await;
    app.livekit.set_participants_in_states(
        &leaving_room,
        vec![(leaving_caller.to_string(), ParticipantState::Active), (leaving_callee.to_string(), ParticipantState::Disconnected)],
    );
    let (_, _, empty, _) = call_answered_ago(&app, "31 seconds").await;
    let (_, _, young, _) = call_answered_ago(&app, "10 seconds").await;

    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["callsLiveFromLiveKit"], 1, "{summary}");
    assert_eq!(summary["steps"]["callsJoinTimeout"], 3, "{summary}");
    assert_eq!(call_state(&app, talking).await, owned("live", None), "both parties are talking: live, not failed");
    assert_eq!(call_state(&app, alone).await, owned("failed", Some("join_timeout")), "one party: the join deadline fails it");
    assert_eq!(call_state(&app, leaving).await, owned("failed", Some("join_timeout")), "a party LiveKit reports leaving does not count");
    assert_eq!(call_state(&app, empty).await, owned("failed", Some("join_timeout")));
    assert_eq!(call_state(&app, young).await, owned("accepted", None), "not yet due: LiveKit is not asked");
    let asked: Vec<String> = app.livekit.received_method("ListParticipants").iter().map(|r| r.body["room"].as_str().unwrap().to_owned()).collect();
    assert_eq!(asked.len(), 4, "{asked:?}");
    let live_at: bool = app.sql().await.query_one("SELECT live_at IS NOT NULL FROM calls WHERE id = $1", &[&talking]).await.unwrap().get(0);
    assert!(live_at);
    let deleted: Vec<String> = app.livekit.received_method("DeleteRoom").iter().map(|r| r.body["room"].as_str().unwrap().to_owned()).collect();
    assert!(!deleted.contains(&talking_room) && deleted.contains(&alone_room), "{deleted:?}");
    // The live call is a live call: its parties end it as usual.
    let ended = app.post("/call-action", Some(&e2e::users::bearer(callee)), &serde_json::json!({ "callId": talking, "action": "end" }).to_string()).await;
    assert_eq!((ended.status, ended.body["call"]["status"].as_str()), (200, Some("ended")), "{:?}", ended.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livekit_failing_to_answer_fails_no_answered_call_and_a_later_run_decides() {
    let app = App::start_with(&[("cron_secret", SECRET), ("livekit_timeout_seconds", "1")]).await;
    let (caller, callee, call, room) = call_answered_ago(&app, "31 seconds").await;
    app.livekit.set_participants(&room, &[&caller.to_string(), &callee.to_string()]);
    for mode in [Mode::Fail, Mode::Hang] {
        app.livekit.set_mode(mode);
        let summary = sweep(&app).await;
        assert!(summary["livekitErrors"].as_u64().unwrap() >= 1, "{mode:?}: {summary}");
        assert_eq!(summary["leftForNextRun"]["callsJoinCheck"], 1, "{mode:?}: {summary}");
        assert_eq!(call_state(&app, call).await, owned("accepted", None), "{mode:?}: LiveKit's silence fails nothing");
    }
    // The claim was released: the next healthy run asks again and decides.
    app.livekit.set_mode(Mode::Normal);
    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["callsLiveFromLiveKit"], 1, "{summary}");
    assert_eq!(call_state(&app, call).await, owned("live", None));

    // A call LiveKit never confirms is bounded: after call_max_seconds
    // since the answer it fails without asking.
    app.livekit.set_mode(Mode::Fail);
    let (_, _, forever, _) = call_answered_ago(&app, "4 hours 1 second").await;
    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["callsJoinUnconfirmed"], 1, "{summary}");
    assert_eq!(call_state(&app, forever).await, owned("failed", Some("join_timeout")));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_warnings_stop_at_the_first_livekit_failure() {
    let app = app().await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(call(&app, "live", "live_at", "301 seconds").await.0);
    }
    app.livekit.set_mode(Mode::Fail);
    let summary = sweep(&app).await;
    assert_eq!(summary["steps"]["idleWarnings"], 0, "{summary}");
    assert_eq!(summary["leftForNextRun"]["idleWarnings"], 3, "{summary}");
    assert_eq!(summary["livekitErrors"], 1, "{summary}");
    // One warning's attempts (RetrySchedule: 3), then nothing more this run.
    assert_eq!(app.livekit.received_method("SendData").len(), 3);
    assert_eq!(app.livekit.received().len(), 3, "no other LiveKit call after it failed to answer");
    let owed: i64 = app.sql().await.query_one("SELECT count(*) FROM calls WHERE idle_warned_at IS NULL", &[]).await.unwrap().get(0);
    assert_eq!(owed, 3, "every warning stays owed");
    app.livekit.set_mode(Mode::Normal);
    assert_eq!(sweep(&app).await["steps"]["idleWarnings"], 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_ends_by_its_deadline_and_overlapping_runs_skip() {
    // One LiveKit attempt may take 15 s, three of them 45 s; the run has 4.
    let app = App::start_with(&[("cron_secret", SECRET), ("livekit_timeout_seconds", "15"), ("sweep_deadline_seconds", "4")]).await;
    let (_, _, answered, _) = call_answered_ago(&app, "31 seconds").await;
    let (orphan, _) = session(&app, "live", None, "31 minutes").await;
    call(&app, "live", "live_at", "301 seconds").await;
    app.livekit.set_mode(Mode::Hang);
    let began = std::time::Instant::now();
    let first = tokio::spawn({
        let url = app.host.url("/cleanup-orphans");
        let client = app.host.client.clone();
        async move { client.post(url).header("authorization", format!("Bearer {SECRET}")).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    });
    // While the first run waits on LiveKit, it holds the lease.
    let waiting = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.livekit.received_method("ListParticipants").is_empty() {
        assert!(std::time::Instant::now() < waiting, "the first run never asked LiveKit");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let second = sweep(&app).await;
    assert_eq!(second["skipped"], "another run holds the sweep lease", "{second}");
    assert!(second["steps"].as_object().unwrap().is_empty(), "{second}");

    let first = first.await.unwrap()["summary"].clone();
    let elapsed = began.elapsed();
    assert_eq!(first["deadlineReached"], true, "{first}");
    assert!(elapsed < std::time::Duration::from_secs(12), "bounded by sweep_deadline_seconds, not LiveKit's timeouts: {elapsed:?}");
    assert_eq!(app.livekit.received_method("ListParticipants").len(), 1);
    for method in ["SendData", "ListRooms", "DeleteRoom"] {
        assert!(app.livekit.received_method(method).is_empty(), "{method}: LiveKit asked once, then nothing more this run");
    }
    assert_eq!(call_state(&app, answered).await, owned("accepted", None));
    assert_eq!(session_state(&app, orphan).await, owned("live", None));
    // The lease is back: the next run works.
    app.livekit.set_mode(Mode::Normal);
    let third = sweep(&app).await;
    assert!(third.get("skipped").is_none(), "{third}");
    assert_eq!(third["steps"]["callsJoinTimeout"], 1, "{third}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_purges_old_rows_and_keeps_young_ones() {
    use e2e::webhooks::{now, participant, track};
    // The `log` provider: every ring and stop-ringing push is a push_log row.
    let app = App::start_with(&[("cron_secret", SECRET), ("push_provider", "log")]).await;
    let sql = app.sql().await;
    let bearer = e2e::users::bearer;
    // Two finished calls, each with its ring (push_log), its stop-ringing row
    // (push_outbox), webhooks, presence and a track; and a busy attempt.
    let mut finished = Vec::new();
    for _ in 0..2 {
        let (caller, callee, id, room) = call_answered_ago(&app, "1 second").await;
        for (n, who) in [caller, callee].into_iter().enumerate() {
            let joined = participant(&format!("EV_{}", Uuid::new_v4().simple()), "participant_joined", &room, &who.to_string(), now() - 2 + n as u64, None);
            assert_eq!(app.webhook(&joined).await.status, 200);
        }
        let published = track(&format!("EV_{}", Uuid::new_v4().simple()), "track_published", &room, &caller.to_string(), "TR_a", "AUDIO", now());
        assert_eq!(app.webhook(&published).await.status, 200);
        let busy = app.post("/call-initiate", Some(&bearer(app.user("Can", None).await)), &serde_json::json!({ "calleeId": callee }).to_string()).await;
        assert_eq!(busy.code(), "BUSY", "{:?}", busy.body);
        let ended = app.post("/call-action", Some(&bearer(caller)), &serde_json::json!({ "callId": id, "action": "end" }).to_string()).await;
        assert_eq!(ended.status, 200, "{:?}", ended.body);
        finished.push((id, room, callee));
    }
    // A call still live whose presence rows are old: its room is open.
    let (caller, callee, open_call, open_room) = call_answered_ago(&app, "1 second").await;
    for who in [caller, callee] {
        let joined = participant(&format!("EV_{}", Uuid::new_v4().simple()), "participant_joined", &open_room, &who.to_string(), now(), None);
        app.webhook(&joined).await;
    }
    assert_eq!(call_state(&app, open_call).await.0, "live");
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while sql.query_one("SELECT count(*) FROM push_outbox WHERE sent_at IS NULL", &[]).await.unwrap().get::<_, i64>(0) > 0 {
        assert!(std::time::Instant::now() < wait, "stop-ringing rows never sent");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let before = retained(&sql).await;
    assert_eq!(before, vec![8, 6, 2, 6, 3, 5, 2], "events, presence, tracks, pushes (ring and stop), stop rows, calls, busy");

    // Back-date the first call's rows (and the open call's presence) past
    // retention, the second call's to just inside it.
    let (old, old_room, old_callee) = &finished[0];
    let (young, young_room, _) = &finished[1];
    for (room, event_age, call_age) in [(old_room, "8 days", "91 days"), (young_room, "6 days", "89 days")] {
        sql.execute(&format!("UPDATE webhook_events SET received_at = now() - interval '{event_age}' WHERE room_name = $1"), &[room]).await.unwrap();
        sql.execute(&format!("UPDATE room_participants SET updated_at = now() - interval '{event_age}' WHERE room_name = $1"), &[room]).await.unwrap();
        sql.execute(&format!("UPDATE room_tracks SET event_at = now() - interval '{event_age}' WHERE room_name = $1"), &[room]).await.unwrap();
        sql.execute(&format!("UPDATE push_log SET created_at = now() - interval '{event_age}' WHERE user_id = (SELECT callee_id FROM calls WHERE livekit_room_name = $1)"), &[room]).await.unwrap();
        sql.execute(&format!("UPDATE push_outbox SET sent_at = now() - interval '{event_age}' WHERE call_id = (SELECT id FROM calls WHERE livekit_room_name = $1)"), &[room]).await.unwrap();
        sql.execute(&format!("UPDATE calls SET ended_at = now() - interval '{call_age}' WHERE livekit_room_name = $1"), &[room]).await.unwrap();
    }
    sql.execute("UPDATE calls SET ended_at = now() - interval '91 days' WHERE status = 'busy' AND callee_id = $1", &[old_callee]).await.unwrap();
    sql.execute("UPDATE room_participants SET updated_at = now() - interval '8 days' WHERE room_name = $1", &[&open_room]).await.unwrap();

    let summary = sweep(&app).await;
    let steps = &summary["steps"];
    assert_eq!(steps["webhookEventsPurged"], 3, "{summary}");
    assert_eq!(steps["roomParticipantsPurged"], 2, "{summary}");
    assert_eq!(steps["roomTracksPurged"], 1, "{summary}");
    assert_eq!(steps["pushLogPurged"], 2, "{summary}");
    assert_eq!(steps["pushOutboxPurged"], 1, "{summary}");
    assert_eq!(steps["callsPurged"], 2, "{summary}");
    assert_eq!(retained(&sql).await, vec![5, 4, 1, 4, 2, 3, 1]);
    let gone: i64 = sql.query_one("SELECT count(*) FROM calls WHERE id = $1", &[old]).await.unwrap().get(0);
    let kept: i64 = sql.query_one("SELECT count(*) FROM calls WHERE id = $1", &[young]).await.unwrap().get(0);
    assert_eq!((gone, kept), (0, 1));
    let open_presence: i64 = sql.query_one("SELECT count(*) FROM room_participants WHERE room_name = $1", &[&open_room]).await.unwrap().get(0);
    assert_eq!(open_presence, 2, "a live call's presence is kept, however old");
    assert_eq!(sweep(&app).await["steps"]["callsPurged"], 0, "nothing left to purge");
    app.stop().await;
}

/// Rows in webhook_events, room_participants, room_tracks, push_log,
/// push_outbox, calls, and busy calls.
async fn retained(sql: &tokio_postgres::Client) -> Vec<i64> {
    let row = sql
        .query_one(
            "SELECT (SELECT count(*) FROM webhook_events), (SELECT count(*) FROM room_participants), (SELECT count(*) FROM room_tracks),
                    (SELECT count(*) FROM push_log), (SELECT count(*) FROM push_outbox), (SELECT count(*) FROM calls),
                    (SELECT count(*) FROM calls WHERE status = 'busy')",
            &[],
        )
        .await
        .unwrap();
    (0..7).map(|i| row.get::<_, i64>(i)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_purge_walks_an_index() {
    let db = e2e::db::TestDb::migrated().await.unwrap();
    let sql = db.client().await.unwrap();
    // Seq scans off: the planner still picks one when no index fits, so a
    // plan without "Seq Scan" proves an index serves every part of the purge.
    sql.batch_execute("SET enable_seqscan = off").await.unwrap();
    for (n, purge) in domain::retention::purges().into_iter().enumerate() {
        sql.batch_execute(&format!("PREPARE purge_{n}(double precision, bigint) AS {}", purge.statement)).await.unwrap();
        let plan: Vec<String> = sql
            .query(&format!("EXPLAIN EXECUTE purge_{n}(604800, 500)"), &[])
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{}: {plan}", purge.table);
        assert!(plan.contains("Index Scan using") || plan.contains("Index Only Scan"), "{}: {plan}", purge.table);
    }
}
