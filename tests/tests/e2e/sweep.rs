//! The sweep (`cleanup-orphans`) end to end: every step by back-dating rows,
//! LiveKit outages, overlapping runs, the cron trigger.

use base64::Engine as _;
use e2e::app::{Answer, App};
use e2e::fake_livekit::Mode;
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
    let total = first["steps"]["callsMissed"].as_u64().unwrap() + second["steps"]["callsMissed"].as_u64().unwrap();
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
