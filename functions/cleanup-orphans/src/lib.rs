//! The sweep: every deadline that must hold when nobody calls, and the orphan
//! cleanup. Two entries run the same sweep: the cron trigger
//! (`[[trigger.cron]]`) and `POST /cleanup-orphans` with
//! `Authorization: Bearer <cron_secret>` for schedulers that call a URL.
//!
//! Each step is one guarded, batched statement (`FOR UPDATE SKIP LOCKED`),
//! so overlapping runs never take the same row and a crash leaves every row
//! consistent. Nothing is ever ended because LiveKit failed to answer.
//!
//! A run is bounded: one run at a time across instances (`lease`), no new
//! work after `sweep_deadline_seconds`, every outbound call cut to the time
//! left, and LiveKit asked nothing more once it failed to answer.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use component_kit::db::{Connection, ParameterValue};
use component_kit::outbound::with_timeout;
use component_kit::{config, db, livekit, push, serve, sql, Failure, Incoming, Method, Reply};
use domain::call::{transition, CallEvent, CallStatus};
use domain::errors::ErrorCode;
use domain::session::{SessionEndReason, SessionStatus};
use domain::sweep::{self, OrphanVerdict, SweepLimits, SweepSummary};
use serde_json::{json, Map, Value};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

use livekit_run::{Called, LiveKitRun};

mod joins;
mod lease;
mod livekit_run;
mod retention;

mod cron {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "spin:cron/spin-cron",
        path: "../../wit/spin-cron@3.0.0",
    });
}

/// Room deletions per run: each is an HTTP call.
const MAX_DELETIONS_PER_RUN: u64 = 50;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("cleanup-orphans", &[Method::POST], request, response_out, sweep_on_request).await
}

async fn sweep_on_request(incoming: Incoming) -> Result<Reply, Failure> {
    // No secret, or one under 32 bytes, means nobody may trigger the sweep over HTTP.
    let secret = config::optional("cron_secret").await;
    domain::cron_auth::check(secret.as_deref(), incoming.header("authorization"))
        .map_err(|refused| Failure::from(ErrorCode::Unauthorized).with_detail(refused.to_string()))?;
    let summary = run().await?;
    Ok(Reply::ok(json!({ "success": true, "summary": summary })))
}

struct Cron;

impl cron::Guest for Cron {
    // The export is an `async func`, but everything inside uses synchronous
    // imports only: spin-executor runs the sweep, blocking in `wasi:io/poll`.
    async fn handle_cron_event(_metadata: cron::spin::cron::cron_types::Metadata) -> Result<(), cron::spin::cron::cron_types::Error> {
        spin_sdk::http::run(cron_sweep())
    }
}

cron::export!(Cron with_types_in cron);

/// One sweep for the cron trigger: a log line, and a Sentry report on failure.
async fn cron_sweep() -> Result<(), cron::spin::cron::cron_types::Error> {
    match run().await {
        Ok(summary) => {
            let mut fields = Map::new();
            fields.insert("summary".into(), serde_json::to_value(&summary).unwrap_or(Value::Null));
            component_kit::log::line("info", "cleanup-orphans", "sweep", fields);
            Ok(())
        }
        Err(failure) => {
            let code = failure.error.code().as_str();
            let mut fields = Map::new();
            fields.insert("errorCode".into(), code.into());
            component_kit::log::line("error", "cleanup-orphans", "sweep failed", fields);
            component_kit::sentry::report(component_kit::sentry::Report {
                component: "cleanup-orphans",
                message: "sweep failed",
                request_id: None,
                error_code: Some(code),
                route: Some("cron"),
                user_id: None,
                extra: Map::new(),
            })
            .await;
            Err(cron::spin::cron::cron_types::Error::Other(code.to_owned()))
        }
    }
}

/// One sweep run; its summary says what each step did.
async fn run() -> Result<SweepSummary, Failure> {
    let started = Instant::now();
    let mut values = BTreeMap::new();
    for name in SweepLimits::VARIABLES {
        if let Some(value) = config::optional(name).await {
            values.insert(name, value);
        }
    }
    let limits = SweepLimits::from_variables(|name| values.get(name).cloned()).map_err(Failure::internal)?;
    let deadline = started + Duration::from_secs(limits.sweep_deadline_seconds);
    let connection = db::connect().await?;
    let holder = uuid::Uuid::new_v4();
    if !lease::take(&connection, holder, limits.lease_seconds()).await? {
        let summary = SweepSummary { skipped: Some(sweep::SKIPPED_LEASE_HELD), duration_ms: started.elapsed().as_millis() as u64, ..SweepSummary::default() };
        return Ok(summary);
    }
    let outcome = steps(&connection, &limits, deadline).await;
    // Given back whatever the steps did; a run that traps leaves it to expire.
    let released = lease::release(&connection, holder).await;
    let mut summary = outcome?;
    released?;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    if summary.livekit_errors > 0 {
        // A step that LiveKit made fail: it ended nothing, but someone should know.
        let mut extra = Map::new();
        extra.insert("summary".into(), serde_json::to_value(&summary).unwrap_or(Value::Null));
        component_kit::sentry::report(component_kit::sentry::Report {
            component: "cleanup-orphans",
            message: "sweep steps failed: LiveKit errors",
            request_id: None,
            error_code: None,
            route: None,
            user_id: None,
            extra,
        })
        .await;
    }
    Ok(summary)
}

/// Every step, in order: the database's deadlines first (they need nobody
/// else), then the push leftovers and the purges, then what needs LiveKit,
/// so a LiveKit outage that takes the rest of the run starves nothing else.
async fn steps(connection: &Connection, limits: &SweepLimits, deadline: Instant) -> Result<SweepSummary, Failure> {
    let now = component_kit::clock::now_unix();
    let mut summary = SweepSummary::default();
    let batch = limits.sweep_batch_size;
    // The push deadline the call-initiate instances run with (the same variable).
    let push_timeout_seconds = config::positive_integer("push_timeout_seconds", 5).await?;

    // 1. Calls past their deadlines, each moved by its row of the call state
    // machine. Accepted calls past call_max_seconds: the bound for a call
    // whose join LiveKit never confirmed (step 6 asks it first).
    for (step, event, since, seconds) in [
        ("callsPushTimeout", CallEvent::InitiateTimeout, "created_at", limits.initiate_deadline_seconds(push_timeout_seconds)),
        ("callsMissed", CallEvent::RingTimeout, "ringing_at", limits.ring_timeout_seconds),
        ("callsJoinUnconfirmed", CallEvent::JoinTimeout, "accepted_at", limits.call_max_seconds),
        ("callsMaxDuration", CallEvent::MaxDuration, "live_at", limits.call_max_seconds),
    ] {
        let transition = transition(event);
        let from = sql::list(transition.from);
        let to = sql::literal(transition.to);
        let reason = sql::literal(transition.end_reason.ok_or_else(|| Failure::internal(format!("{event:?} ends no call")))?);
        let statement = format!(
            "WITH due AS (
                 SELECT id FROM calls WHERE status IN ({from}) AND {since} <= now() - make_interval(secs => $1)
                 ORDER BY {since} LIMIT $2 FOR UPDATE SKIP LOCKED
             )
             UPDATE calls c SET status = {to}, end_reason = {reason}, ended_at = now(), updated_at = now()
             FROM due WHERE c.id = due.id AND c.status IN ({from})
             RETURNING c.id"
        );
        let changed = db::query(connection, &statement, limits_params(seconds, batch)).await?.len() as u64;
        note(connection, &mut summary, step, changed, batch, &format!("SELECT count(*) FROM calls WHERE status IN ({from}) AND {since} <= now() - make_interval(secs => $1)"), seconds).await?;
    }

    // 2. Live calls whose party dropped and did not come back within the grace.
    let network_failure = transition(CallEvent::NetworkFailure);
    let from = sql::list(network_failure.from);
    let to = sql::literal(network_failure.to);
    let reason = network_failure.end_reason.map_or_else(|| "NULL".to_owned(), sql::literal);
    let changed = db::query(
        connection,
        &format!(
            "WITH due AS (
             SELECT c.id FROM calls c
             WHERE c.status IN ({from}) AND EXISTS (
                 SELECT 1 FROM room_participants p
                 WHERE p.room_name = c.livekit_room_name AND p.identity IN (c.caller_id::text, c.callee_id::text)
                   AND NOT p.present AND p.left_reason = 'network' AND p.event_at <= now() - make_interval(secs => $1))
             LIMIT $2 FOR UPDATE OF c SKIP LOCKED
         )
         UPDATE calls c SET status = {to}, end_reason = {reason}, {stamp} = now(), updated_at = now()
         FROM due WHERE c.id = due.id AND c.status IN ({from})
         RETURNING c.id",
            stamp = network_failure.to.timestamp_column(),
        ),
        limits_params(limits.host_grace_seconds, batch),
    )
    .await?
    .len() as u64;
    summary.add("callsNetworkFailure", changed);

    // call-initiate's Idempotency-Keys past their 10 minutes (none is read after).
    let purged = db::execute(
        connection,
        "DELETE FROM call_initiate_keys WHERE (caller_id, key) IN (
             SELECT caller_id, key FROM call_initiate_keys WHERE created_at <= now() - interval '10 minutes'
             ORDER BY created_at LIMIT $1)",
        vec![ParameterValue::Int64(i64::try_from(batch).unwrap_or(i64::MAX))],
    )
    .await?;
    summary.add("callInitiateKeysPurged", purged);

    // 3. Hosts gone longer than the grace (migration 0019's one copy of that end).
    let changed = db::query(
        connection,
        "SELECT ended FROM end_sessions_past_host_grace(NULL, $1, $2::bigint::integer) AS ended",
        limits_params(limits.host_grace_seconds, batch),
    )
    .await?
    .len() as u64;
    summary.add("sessionsHostTimeout", changed);

    // 4. Stop-ringing pushes no component got to send, and Expo's receipts.
    push_bookkeeping(batch, deadline, &mut summary).await;

    // 5. Rows past their retention.
    retention::purge(connection, limits, deadline, &mut summary).await?;

    let (service, schedule) = livekit::room_service().await?;
    let mut livekit = LiveKitRun::new(service, schedule, deadline);

    // 6. Answered calls past the join deadline: LiveKit says who is there.
    joins::check(connection, &mut livekit, limits, now, &mut summary).await?;

    // 7. Idle warnings: claim first (so overlapping runs send one), then send.
    idle_warnings(connection, &mut livekit, limits, now, &mut summary).await?;

    // 8. Orphans: stale `live` sessions, checked against LiveKit one batch per call.
    orphan_cleanup(connection, &mut livekit, limits, now, &mut summary).await?;

    // 9. Rooms of ended sessions and calls that are still to delete.
    delete_pending_rooms(connection, &mut livekit, now, &mut summary).await?;

    summary.livekit_errors = livekit.errors;
    summary.deadline_reached |= livekit.deadline_reached;
    Ok(summary)
}

/// Sends one warning per claimed call, one by one; stops at the first
/// LiveKit failure (the rest would fail the same way) and unclaims what it
/// did not send, so the next run warns.
async fn idle_warnings(connection: &Connection, livekit: &mut LiveKitRun, limits: &SweepLimits, now: u64, summary: &mut SweepSummary) -> Result<(), Failure> {
    static IDLE: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH due AS (
             SELECT id FROM calls
             WHERE status = {live} AND published_tracks = 0 AND idle_warned_at IS NULL
               AND COALESCE(media_last_seen_at, live_at) <= now() - make_interval(secs => $1)
             LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         UPDATE calls c SET idle_warned_at = now() FROM due WHERE c.id = due.id
         RETURNING c.id::text AS id, c.livekit_room_name,
                   floor(extract(epoch FROM now() - COALESCE(c.media_last_seen_at, c.live_at)))::bigint AS idle_seconds",
            live = sql::literal(CallStatus::Live),
        )
    });
    let idle = db::query(
        connection,
        &IDLE,
        limits_params(limits.call_idle_warning_seconds, limits.sweep_batch_size),
    )
    .await?;
    let mut warned = 0;
    let mut unsent = Vec::new();
    for row in &idle {
        let id: String = db::get(row, "id")?;
        if !unsent.is_empty() {
            unsent.push(Some(id));
            continue;
        }
        let room: String = db::get(row, "livekit_room_name")?;
        let idle_seconds: i64 = db::get(row, "idle_seconds")?;
        let message = sweep::idle_warning(&id, u64::try_from(idle_seconds).unwrap_or(0));
        let request = livekit.service.send_data_request(&room, sweep::SYSTEM_TOPIC, &message, now);
        match livekit.call("SendData", request).await {
            Called::Answered(_) => warned += 1,
            Called::Refused | Called::Unreachable | Called::NotSent => unsent.push(Some(id)),
        }
    }
    summary.add("idleWarnings", warned);
    if !unsent.is_empty() {
        summary.left_for_next_run.insert("idleWarnings", unsent.len() as u64);
        db::execute(
            connection,
            "UPDATE calls SET idle_warned_at = NULL WHERE id = ANY(CAST($1 AS text[])::uuid[])",
            vec![ParameterValue::ArrayStr(unsent)],
        )
        .await?;
    }
    Ok(())
}

/// Step 4, on a connection of its own: cut at the deadline, it leaves
/// nothing half-read on the run's connection. A push provider or a push
/// variable failing here must not fail the sweep's other steps: it is
/// logged, and the rows wait for the next run (their claims expire).
async fn push_bookkeeping(batch: u64, deadline: Instant, summary: &mut SweepSummary) {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining < sweep::MIN_TIME_FOR_A_CALL {
        summary.deadline_reached = true;
        return;
    }
    let connection = match db::connect().await {
        Ok(connection) => connection,
        Err(failure) => return log_push_error("connect", &failure),
    };
    if with_timeout(remaining, push_steps(&connection, batch, summary)).await.is_none() {
        summary.deadline_reached = true;
        log_push_error("deadline", &Failure::unavailable("push steps cut at sweep_deadline_seconds"));
    }
}

async fn push_steps(connection: &Connection, batch: u64, summary: &mut SweepSummary) {
    match push::stop_ringing::send_pending(connection, None, u32::try_from(batch).unwrap_or(u32::MAX)).await {
        Ok(stopped) => {
            summary.add("stopRingingSent", stopped.sent);
            summary.add("pushTokensPruned", stopped.gone);
            if stopped.retry > 0 {
                summary.left_for_next_run.insert("stopRinging", stopped.retry);
            }
        }
        Err(failure) => log_push_error("stop ringing", &failure),
    }
    match push::receipts::poll(connection).await {
        Ok(poll) => {
            summary.add("expoReceiptsChecked", poll.checked);
            summary.add("pushTokensPruned", poll.pruned);
        }
        Err(failure) => log_push_error("expo receipts", &failure),
    }
}

fn log_push_error(step: &str, failure: &Failure) {
    let mut fields = Map::new();
    fields.insert("step".into(), step.into());
    fields.insert("errorCode".into(), failure.error.code().as_str().into());
    fields.insert("error".into(), failure.detail().unwrap_or("").into());
    component_kit::log::line("warn", "cleanup-orphans", "sweep push step failed", fields);
}

async fn orphan_cleanup(connection: &Connection, livekit: &mut LiveKitRun, limits: &SweepLimits, now: u64, summary: &mut SweepSummary) -> Result<(), Failure> {
    // Claim the batch; a crashed run's claim expires after two minutes.
    let claimed = db::query(
        connection,
        &format!(
            "WITH due AS (
             SELECT id FROM live_sessions
             WHERE status = {live} AND updated_at <= now() - make_interval(secs => $1)
               AND (orphan_check_started_at IS NULL OR orphan_check_started_at <= now() - interval '2 minutes')
             ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED
         )
         UPDATE live_sessions s SET orphan_check_started_at = now() FROM due WHERE s.id = due.id
         RETURNING s.id::text AS id, s.livekit_room_name",
            live = sql::literal(SessionStatus::Live),
        ),
        limits_params(limits.orphan_stale_seconds, limits.sweep_batch_size),
    )
    .await?;
    if claimed.is_empty() {
        return Ok(());
    }
    let mut sessions = Vec::new();
    for row in &claimed {
        sessions.push((db::get::<String>(row, "id")?, db::get::<String>(row, "livekit_room_name")?));
    }
    let names: Vec<String> = sessions.iter().map(|(_, room)| room.clone()).collect();
    let request = livekit.service.list_rooms_request(&names, now);
    let counts = match livekit.call("ListRooms", request).await {
        Called::Answered(answer) => {
            let counts = sweep::room_participants(&answer);
            if counts.is_none() {
                livekit.error("ListRooms", "the answer is not understood");
            }
            counts
        }
        Called::Refused | Called::Unreachable | Called::NotSent => None,
    };
    let ids = |ids: Vec<&String>| ParameterValue::ArrayStr(ids.into_iter().map(|id| Some(id.clone())).collect());
    let counts = match counts {
        Some(counts) => counts,
        None => {
            // LiveKit did not answer: end nothing, release the claim.
            db::execute(
                connection,
                "UPDATE live_sessions SET orphan_check_started_at = NULL WHERE id = ANY(CAST($1 AS text[])::uuid[])",
                vec![ids(sessions.iter().map(|(id, _)| id).collect())],
            )
            .await?;
            summary.left_for_next_run.insert("orphans", sessions.len() as u64);
            return Ok(());
        }
    };
    let (orphans, alive): (Vec<_>, Vec<_>) = sessions.iter().partition(|(_, room)| sweep::orphan_verdict(room, &counts) == OrphanVerdict::End);
    // Guarded by the staleness again: a webhook that arrived meanwhile wins.
    let ended = db::query(
        connection,
        &format!(
            "UPDATE live_sessions SET status = {ended}, ended_at = now(), end_reason = {orphaned}, updated_at = now(),
                orphan_check_started_at = NULL,
                livekit_room_deleted_at = CASE WHEN livekit_room_name = ANY(CAST($3 AS text[])) THEN NULL ELSE now() END
         WHERE id = ANY(CAST($1 AS text[])::uuid[]) AND status = {live} AND updated_at <= now() - make_interval(secs => $2)
         RETURNING id",
            ended = sql::literal(SessionStatus::Ended),
            orphaned = sql::literal(SessionEndReason::OrphanedCleanup),
            live = sql::literal(SessionStatus::Live),
        ),
        vec![
            ids(orphans.iter().map(|(id, _)| id).collect()),
            ParameterValue::Floating64(limits.orphan_stale_seconds as f64),
            // Rooms LiveKit still has (empty): delete them too.
            ParameterValue::ArrayStr(counts.keys().map(|name| Some(name.clone())).collect()),
        ],
    )
    .await?
    .len() as u64;
    summary.add("orphansEnded", ended);
    let touched = db::execute(
        connection,
        "UPDATE live_sessions SET updated_at = now(), orphan_check_started_at = NULL WHERE id = ANY(CAST($1 AS text[])::uuid[])",
        vec![ids(alive.iter().map(|(id, _)| id).collect())],
    )
    .await?;
    summary.add("orphansAlive", touched);
    Ok(())
}

/// Deletes the rooms of ended sessions and of calls that were answered, when
/// no deletion was recorded yet (after a timeout end, or when an earlier
/// DeleteRoom failed). Stops at the first LiveKit failure.
async fn delete_pending_rooms(connection: &Connection, livekit: &mut LiveKitRun, now: u64, summary: &mut SweepSummary) -> Result<(), Failure> {
    let pending = db::query(
        connection,
        &format!(
            "(SELECT 'live_sessions' AS tbl, id::text AS id, livekit_room_name FROM live_sessions
          WHERE status = {ended} AND livekit_room_deleted_at IS NULL ORDER BY ended_at LIMIT $1)
         UNION ALL
         (SELECT 'calls', id::text, livekit_room_name FROM calls
          WHERE accepted_at IS NOT NULL AND ended_at IS NOT NULL AND livekit_room_deleted_at IS NULL ORDER BY ended_at LIMIT $1)",
            ended = sql::literal(SessionStatus::Ended),
        ),
        vec![ParameterValue::Int64(MAX_DELETIONS_PER_RUN as i64)],
    )
    .await?;
    let mut deleted = 0;
    for row in &pending {
        let table: String = db::get(row, "tbl")?;
        let id: String = db::get(row, "id")?;
        let room: String = db::get(row, "livekit_room_name")?;
        let request = livekit.service.delete_room_request(&room, now);
        if !matches!(livekit.call("DeleteRoom", request).await, Called::Answered(_)) {
            break;
        }
        let id: uuid::Uuid = id.parse().map_err(|_| Failure::internal(format!("{table} id {id:?}")))?;
        let owner = if table == "calls" { livekit::RoomOwner::Call(id) } else { livekit::RoomOwner::Session(id) };
        livekit::mark_room_deleted(connection, owner).await?;
        deleted += 1;
    }
    summary.add("roomsDeleted", deleted);
    Ok(())
}

/// Records a step's count and, when it filled its batch, how many are left.
async fn note(connection: &Connection, summary: &mut SweepSummary, step: &'static str, changed: u64, batch: u64, count_due: &str, seconds: u64) -> Result<(), Failure> {
    summary.add(step, changed);
    if changed >= batch {
        let rows = db::query(connection, count_due, vec![ParameterValue::Floating64(seconds as f64)]).await?;
        let left = rows.first().map(|row| db::get::<i64>(row, "count")).transpose()?.unwrap_or(0);
        summary.left_for_next_run.insert(step, u64::try_from(left).unwrap_or(0));
    }
    Ok(())
}

fn limits_params(seconds: u64, batch: u64) -> Vec<ParameterValue> {
    vec![ParameterValue::Floating64(seconds as f64), ParameterValue::Int64(i64::try_from(batch).unwrap_or(i64::MAX))]
}
