//! `cargo xtask bench`: starts hosts on a fresh database and prints
//! requests/s and p50/p99 per route at 1 and 16 concurrent connections:
//! the devhost's own cost (an empty handler), `/health`, and the app's
//! routes through the real `spin.toml` with real Postgres, a fake LiveKit
//! and a fake push provider that answer at once.
//!
//! The routes a request can repeat (the empty handler, `/health`, the token)
//! are loaded by wrk, a second process over kept-alive TCP: what an outside
//! client sees. The routes whose every request consumes a row (a new call,
//! an accept, a new webhook event) still come from the in-process
//! generator (`e2e::load`), which sends each prepared request exactly once;
//! their column says `in-process`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use devhost::phases::Phase;
use e2e::load::{self, MakeRequest};
use uuid::Uuid;

/// What a case sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// `GET /empty` on the devhost's probe guest: the host alone.
    Empty,
    /// `GET /health`: one `SELECT 1`.
    Health,
    /// `POST /get-livekit-token` by a viewer of a public session.
    Token,
    /// `POST /call-initiate` between two fresh users (the push is accepted at once).
    CallInitiate,
    /// `POST /call-action` `accept` of a fresh ringing call.
    CallAccept,
    /// `POST /livekit-webhook`: a verified `participant_joined` of a new viewer.
    Webhook,
}

const CASES: &[(&str, Workload)] = &[
    ("empty handler", Workload::Empty),
    ("GET /health (SELECT 1)", Workload::Health),
    ("POST /get-livekit-token", Workload::Token),
    ("POST /call-initiate", Workload::CallInitiate),
    ("POST /call-action accept", Workload::CallAccept),
    ("POST /livekit-webhook", Workload::Webhook),
];

const CONCURRENCY: &[usize] = &[1, 16];
/// How long wrk loads a repeatable route, after a one-second warm-up.
const WRK_SECONDS: u64 = 5;
const REQUESTS: usize = 3000;
const WARMUP: usize = 200;
/// Distinct token users, so the per-user rate limit (30 a minute) is exercised but never reached.
const TOKEN_USERS: usize = 2000;
/// Rooms the webhook events are spread over (events of one room are serialised).
const WEBHOOK_ROOMS: usize = 64;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut json_out = None;
    let mut compare_with = None;
    let mut only: Option<String> = None;
    let mut statement_cache = false;
    let mut tcp_nodelay = true;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--json" => json_out = Some(args.next().context("--json needs a file")?.clone()),
            "--compare" => compare_with = Some(args.next().context("--compare needs a file")?.clone()),
            "--only" => only = Some(args.next().context("--only needs part of a route's name")?.clone()),
            "--statement-cache" => statement_cache = true,
            "--no-tcp-nodelay" => tcp_nodelay = false,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    let wrk = e2e::wrk::binary()?;
    crate::build()?;
    // One table per runtime: E2E_RUNTIME=spin SPIN_BIN=... runs the same bench on Spin.
    match e2e::host::runtime()? {
        e2e::host::Runtime::Devhost => println!("Runtime: our host (devhost), in this process"),
        e2e::host::Runtime::Spin(spin) => println!(
            "Runtime: Spin, {} ({}); the phase table needs our host",
            spin.path.display(),
            spin.version.as_deref().unwrap_or("version not checked")
        ),
    }
    if statement_cache {
        println!("Postgres statements: prepared once per connection and reused (--statement-cache)");
    } else {
        println!("Postgres statements: prepared on every call, as Spin does (--statement-cache reuses them)");
    }
    if tcp_nodelay {
        println!("Accepted sockets: TCP_NODELAY on (--no-tcp-nodelay leaves Nagle on, as Spin 4.0.2 does)");
    } else {
        println!("Accepted sockets: Nagle on, as Spin 4.0.2 (--no-tcp-nodelay)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let db = e2e::db::TestDb::migrated().await?;
        let livekit = e2e::fake_livekit::FakeLiveKit::start(e2e::app::LIVEKIT_KEY, e2e::app::LIVEKIT_SECRET).await;
        let push = e2e::fake_push::FakePush::start().await;
        let manifest = e2e::manifests::TempManifest::write(&e2e::manifests::probe_app(&[]))?;
        let mut options = e2e::host::options(&manifest.path, e2e::host::vars([("db_url", db.url.as_str()), ("secret_token", "bench")]));
        options.runtime.max_instances = 256;
        options.postgres.statement_cache = statement_cache;
        options.http.tcp_nodelay = tcp_nodelay;
        let probe = e2e::host::TestHost::start_with(options).await?;
        let push_origin = format!("http://{}", push.host());
        let mut options = e2e::host::options(
            &e2e::paths::spin_toml(),
            e2e::host::vars([
                ("database_url", db.url.as_str()),
                ("auth_jwt_secret", e2e::users::AUTH_SECRET),
                ("livekit_api_key", e2e::app::LIVEKIT_KEY),
                ("livekit_api_secret", e2e::app::LIVEKIT_SECRET),
                ("livekit_api_url", livekit.url.as_str()),
                ("push_provider", "expo"),
                ("push_origin", push_origin.as_str()),
                ("cron_secret", SWEEP_SECRET),
                // Every token request still runs the rate-limit upsert; the
                // bench's 2,000 users must not run into the limit itself.
                ("token_rate_limit_per_minute", "1000000"),
            ]),
        );
        options.runtime.max_instances = 256;
        options.postgres.statement_cache = statement_cache;
        options.http.tcp_nodelay = tcp_nodelay;
        let real = e2e::host::TestHost::start_with(options).await?;
        let sql = db.client().await?;

        let session = Uuid::new_v4();
        sql.execute(
            "INSERT INTO live_sessions (id, creator_id, type, access, livekit_room_name) VALUES ($1, $2, 'video_live', 'public', 'live_bench')",
            &[&session, &Uuid::new_v4()],
        )
        .await?;
        // Webhook events spread over many rooms, as many broadcasts would send them.
        sql.execute(
            "INSERT INTO live_sessions (creator_id, type, livekit_room_name)
             SELECT gen_random_uuid(), 'video_live', 'live_bench_' || n FROM generate_series(0, $1::int - 1) AS n",
            &[&(WEBHOOK_ROOMS as i32)],
        )
        .await?;
        let token_bearers: Vec<String> = (0..TOKEN_USERS).map(|_| e2e::users::bearer(e2e::users::new_user())).collect();

        let mut rows = Vec::new();
        let mut phase_table = None;
        devhost::phases::enable();
        println!("{:<28} {:>5} {:>10} {:>9} {:>9} {:>8} {:>11}", "route", "conc", "req/s", "p50 ms", "p99 ms", "errors", "load");
        let selected = |name: &str| only.as_deref().is_none_or(|part| name.contains(part));
        for (name, workload) in CASES.iter().filter(|(name, _)| selected(name)) {
            for &concurrency in CONCURRENCY {
                // Fresh rows right before each run (a ringing call expires after 30 s);
                // requests take them in order across warm-up and run.
                let bodies = match workload {
                    Workload::CallInitiate => initiate_requests(&sql, WARMUP + REQUESTS).await?,
                    Workload::CallAccept => accept_requests(&sql, WARMUP + REQUESTS).await?,
                    Workload::Token => {
                        let body = serde_json::json!({ "sessionId": session }).to_string();
                        (0..WARMUP + REQUESTS).map(|i| (token_bearers[i % TOKEN_USERS].clone(), body.clone())).collect()
                    }
                    Workload::Webhook => (0..WARMUP + REQUESTS)
                        .map(|index| {
                            let body = e2e::webhooks::participant(
                                &format!("EV_{}", Uuid::new_v4().simple()),
                                "participant_joined",
                                &format!("live_bench_{}", index % WEBHOOK_ROOMS),
                                &Uuid::new_v4().to_string(),
                                e2e::webhooks::now(),
                                None,
                            );
                            (e2e::webhooks::sign(&body), body)
                        })
                        .collect(),
                    Workload::Empty | Workload::Health => Vec::new(),
                };
                let bodies = Arc::new(bodies);
                let next = Arc::new(AtomicUsize::new(0));
                let (host, path) = match workload {
                    Workload::Empty => (&probe, "/empty"),
                    Workload::Health => (&real, "/health"),
                    Workload::Token => (&real, "/get-livekit-token"),
                    Workload::CallInitiate => (&real, "/call-initiate"),
                    Workload::CallAccept => (&real, "/call-action"),
                    Workload::Webhook => (&real, "/livekit-webhook"),
                };
                let url = host.url(path);
                let repeatable = matches!(workload, Workload::Empty | Workload::Health | Workload::Token);
                let (requests_per_second, p50_ms, p99_ms, requests, failures, load) = if repeatable {
                    let prepared: Vec<e2e::wrk::Prepared> =
                        if bodies.is_empty() { vec![(String::new(), String::new())] } else { bodies.iter().take(TOKEN_USERS).cloned().collect() };
                    let method = if bodies.is_empty() { "GET" } else { "POST" };
                    let threads = concurrency.min(2);
                    let (wrk, url) = (wrk.clone(), url.clone());
                    let (report, phases) = tokio::task::spawn_blocking(move || {
                        e2e::wrk::run(&wrk, &url, method, &prepared, concurrency, threads, std::time::Duration::from_secs(1))?;
                        let before = devhost::phases::snapshot();
                        let report = e2e::wrk::run(&wrk, &url, method, &prepared, concurrency, threads, std::time::Duration::from_secs(WRK_SECONDS))?;
                        anyhow::Ok((report, phase_delta(&before, &devhost::phases::snapshot())))
                    })
                    .await??;
                    let on_our_host = matches!(e2e::host::runtime()?, e2e::host::Runtime::Devhost);
                    if *workload == Workload::Token && concurrency == 1 && on_our_host {
                        phase_table = Some((phases, report.mean_us));
                    }
                    (
                        report.requests_per_second(),
                        report.p50_us as f64 / 1000.0,
                        report.p99_us as f64 / 1000.0,
                        report.requests as usize,
                        (report.error_status + report.error_socket) as usize,
                        "wrk",
                    )
                } else {
                    let make: MakeRequest = {
                        let bodies = bodies.clone();
                        let next = next.clone();
                        Arc::new(move |client, _| {
                            let (authorization, body) = &bodies[next.fetch_add(1, Ordering::Relaxed) % bodies.len()];
                            client.post(&url).header("authorization", authorization).body(body.clone())
                        })
                    };
                    load::run(WARMUP, concurrency, make.clone()).await;
                    let report = load::run(REQUESTS, concurrency, make).await;
                    let failures: usize =
                        report.statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum::<usize>() + report.errors;
                    (
                        report.requests_per_second(),
                        report.quantile(0.5).as_secs_f64() * 1000.0,
                        report.quantile(0.99).as_secs_f64() * 1000.0,
                        report.requests,
                        failures,
                        "in-process",
                    )
                };
                println!(
                    "{:<28} {:>5} {:>10.0} {:>9.2} {:>9.2} {:>8} {:>11}",
                    name, concurrency, requests_per_second, p50_ms, p99_ms, failures, load
                );
                rows.push(serde_json::json!({
                    "route": name,
                    "path": path,
                    "concurrency": concurrency,
                    "requests": requests,
                    "requestsPerSecond": requests_per_second,
                    "p50Ms": p50_ms,
                    "p99Ms": p99_ms,
                    "failures": failures,
                    "load": load,
                }));
            }
        }
        if selected("sweep") {
            rows.push(sweep_bench(&sql, &real).await?);
        }
        if let Some((phases, client_mean_us)) = phase_table {
            rows.push(print_phases(&phases, client_mean_us));
        }
        probe.stop().await;
        real.stop().await;
        if let Some(path) = compare_with {
            compare(&path, &rows)?;
        }
        if let Some(path) = json_out {
            for row in &mut rows {
                row["statementCache"] = statement_cache.into();
                row["runtime"] = match e2e::host::runtime()? {
                    e2e::host::Runtime::Devhost => "devhost",
                    e2e::host::Runtime::Spin(_) => "spin",
                }
                .into();
            }
            std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            println!("wrote {path}");
        }
        anyhow::Ok(())
    })
}

/// Each phase's (count, total) over a run.
fn phase_delta(
    before: &[(Phase, u64, std::time::Duration)],
    after: &[(Phase, u64, std::time::Duration)],
) -> Vec<(Phase, u64, std::time::Duration)> {
    before.iter().zip(after).map(|((phase, count, total), (_, count_after, total_after))| (*phase, count_after - count, *total_after - *total)).collect()
}

/// One token request at one connection, phase by phase, as the host timed
/// it, beside what wrk saw: means over the run.
fn print_phases(phases: &[(Phase, u64, std::time::Duration)], client_mean_us: f64) -> serde_json::Value {
    let requests = phases.iter().find(|(phase, _, _)| *phase == Phase::Request).map(|(_, count, _)| *count).unwrap_or(0).max(1);
    // (calls, µs) per request.
    let per_request = |wanted: Phase| {
        let (count, total) =
            phases.iter().find(|(phase, _, _)| *phase == wanted).map(|(_, count, total)| (*count, *total)).unwrap_or_default();
        (count as f64 / requests as f64, total.as_secs_f64() * 1e6 / requests as f64)
    };
    println!("\nPOST /get-livekit-token at 1 connection, per request (host timestamps, means over {requests} requests):");
    println!("{:<44} {:>7} {:>9}", "phase", "calls", "µs");
    let (_, request_us) = per_request(Phase::Request);
    let (_, guest_us) = per_request(Phase::Guest);
    let host_calls: f64 =
        [Phase::PostgresConnect, Phase::PostgresStatement, Phase::Variables, Phase::OutboundHttp].into_iter().map(|phase| per_request(phase).1).sum();
    let mut lines: Vec<(&str, (f64, f64))> = vec![
        ("client (wrk), whole exchange", (1.0, client_mean_us)),
        ("TCP, HTTP parse and write (client - host)", (1.0, client_mean_us - request_us)),
        ("host: routed head to answer head", (1.0, request_us)),
    ];
    for (name, phase) in [
        ("  read body, set Spin's headers", Phase::Body),
        ("  wait for an instance slot", Phase::Slot),
        ("  component, until its answer head", Phase::Guest),
        ("    pool checkout (clean on checkout)", Phase::PostgresConnect),
        ("    SQL statements (prepare + run)", Phase::PostgresStatement),
        ("    variable reads", Phase::Variables),
        ("    outbound HTTP", Phase::OutboundHttp),
    ] {
        lines.push((name, per_request(phase)));
    }
    lines.push(("    guest code, instance, wasm<->host", (1.0, guest_us - host_calls)));
    let mut json = serde_json::Map::new();
    for (name, (calls, micros)) in lines {
        println!("{name:<44} {calls:>7.2} {micros:>9.0}");
        json.insert(name.trim().to_owned(), serde_json::json!({ "calls": calls, "us": micros }));
    }
    serde_json::json!({ "route": "token phases", "phases": json })
}

/// Prints this run against a saved `--json` run, route by route.
fn compare(path: &str, rows: &[serde_json::Value]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let before: Vec<serde_json::Value> = serde_json::from_str(&text).with_context(|| format!("{path} is not a bench --json file"))?;
    let key = |row: &serde_json::Value| (row["route"].as_str().unwrap_or("").to_owned(), row["concurrency"].as_u64());
    println!("\nagainst {path}:");
    println!("{:<28} {:>5} {:>21} {:>21}", "route", "conc", "req/s before → now", "p50 ms before → now");
    for row in rows {
        let Some(old) = before.iter().find(|old| key(old) == key(row)) else { continue };
        let number = |row: &serde_json::Value, field: &str| row[field].as_f64();
        match (number(old, "requestsPerSecond"), number(row, "requestsPerSecond"), number(old, "p50Ms"), number(row, "p50Ms")) {
            (Some(rps_old), Some(rps), Some(p50_old), Some(p50)) => println!(
                "{:<28} {:>5} {:>8.0} → {:>6.0} {:>+4.0}% {:>7.2} → {:>5.2} {:>+4.0}%",
                key(row).0,
                key(row).1.unwrap_or(0),
                rps_old,
                rps,
                (rps / rps_old - 1.0) * 100.0,
                p50_old,
                p50,
                (p50 / p50_old - 1.0) * 100.0
            ),
            _ => {
                if let (Some(old), Some(now)) = (number(old, "rowsPerSecond"), number(row, "rowsPerSecond")) {
                    println!("{:<28} {:>5} {:>8.0} → {:>6.0} rows/s {:>+4.0}%", key(row).0, "", old, now, (now / old - 1.0) * 100.0);
                }
            }
        }
    }
    Ok(())
}

/// The sweep's bearer secret in the bench app.
const SWEEP_SECRET: &str = "bench-sweep-secret-of-at-least-32-bytes";
/// Rows of each kind in the sweep benchmark, and the share that is due.
const SWEEP_ROWS: i64 = 100_000;
const SWEEP_DUE_PERCENT: i64 = 10;

/// One table of 100,000 live sessions and 100,000 calls, 10% of each due
/// (half the due sessions out of their host grace, half stale orphans whose
/// rooms LiveKit no longer has; the due calls rang out), swept over HTTP in
/// default-sized batches until nothing is due.
async fn sweep_bench(sql: &tokio_postgres::Client, host: &e2e::host::TestHost) -> anyhow::Result<serde_json::Value> {
    let due = SWEEP_ROWS * SWEEP_DUE_PERCENT / 100;
    sql.batch_execute("DELETE FROM live_sessions; DELETE FROM calls;").await?;
    sql.execute(
        "INSERT INTO live_sessions (creator_id, type, status, livekit_room_name, host_left_at, updated_at)
         SELECT gen_random_uuid(), 'video_live',
                CASE WHEN n <= $2::bigint / 2 THEN 'host_disconnected' ELSE 'live' END,
                'live_sweep_' || n,
                CASE WHEN n <= $2::bigint / 2 THEN now() - interval '1 minute' END,
                CASE WHEN n <= $2::bigint THEN now() - interval '1 hour' ELSE now() END
         FROM generate_series(1, $1::bigint) AS n",
        &[&SWEEP_ROWS, &due],
    )
    .await?;
    sql.execute(
        "INSERT INTO calls (caller_id, callee_id, call_type, status, livekit_room_name, ringing_at)
         SELECT gen_random_uuid(), gen_random_uuid(), 'audio', 'ringing', 'call_sweep_' || n,
                CASE WHEN n <= $2::bigint THEN now() - interval '1 minute' ELSE now() END
         FROM generate_series(1, $1::bigint) AS n",
        &[&SWEEP_ROWS, &due],
    )
    .await?;
    sql.batch_execute("ANALYZE live_sessions; ANALYZE calls;").await?;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let mut runs = 0;
    let mut changed = 0u64;
    let mut slowest_run_ms = 0u64;
    loop {
        let answer: serde_json::Value = client
            .post(host.url("/cleanup-orphans"))
            .header("authorization", format!("Bearer {SWEEP_SECRET}"))
            .send()
            .await?
            .json()
            .await?;
        runs += 1;
        let summary = &answer["summary"];
        slowest_run_ms = slowest_run_ms.max(summary["durationMs"].as_u64().unwrap_or(0));
        let steps = summary["steps"].as_object().context("a sweep summary")?;
        let this_run: u64 = ["callsMissed", "sessionsHostTimeout", "orphansEnded"].iter().map(|s| steps.get(*s).and_then(|v| v.as_u64()).unwrap_or(0)).sum();
        changed += this_run;
        if this_run == 0 || runs > 1000 {
            break;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "sweep over {SWEEP_ROWS} sessions + {SWEEP_ROWS} calls, {SWEEP_DUE_PERCENT}% due: {changed} rows ended in {runs} runs, {:.2} s, {:.0} rows/s, slowest run {slowest_run_ms} ms",
        elapsed.as_secs_f64(),
        changed as f64 / elapsed.as_secs_f64()
    );
    Ok(serde_json::json!({
        "route": "sweep",
        "rows": SWEEP_ROWS * 2,
        "due": due * 2,
        "ended": changed,
        "runs": runs,
        "seconds": elapsed.as_secs_f64(),
        "rowsPerSecond": changed as f64 / elapsed.as_secs_f64(),
        "slowestRunMs": slowest_run_ms,
    }))
}

/// `count` fresh callers and callees (each callee with a device), as
/// (authorization, body) pairs for `/call-initiate`.
async fn initiate_requests(sql: &tokio_postgres::Client, count: usize) -> anyhow::Result<Vec<(String, String)>> {
    let callers: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let callees: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    sql.execute(
        "WITH people AS (INSERT INTO users (id, display_name) SELECT id, 'bench' FROM unnest($1::uuid[] || $2::uuid[]) AS id)
         INSERT INTO push_tokens (token, user_id, platform) SELECT 'ExponentPushToken[' || id || ']', id, 'ios' FROM unnest($2::uuid[]) AS id",
        &[&callers, &callees],
    )
    .await?;
    Ok(callers
        .iter()
        .zip(&callees)
        .map(|(caller, callee)| (e2e::users::bearer(*caller), serde_json::json!({ "calleeId": callee, "callType": "audio" }).to_string()))
        .collect())
}

/// `count` ringing calls, as (callee authorization, accept body) pairs.
async fn accept_requests(sql: &tokio_postgres::Client, count: usize) -> anyhow::Result<Vec<(String, String)>> {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let callees: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    sql.execute(
        "INSERT INTO calls (id, caller_id, callee_id, call_type, status, livekit_room_name, ringing_at)
         SELECT id, gen_random_uuid(), callee, 'audio', 'ringing', 'call_' || replace(id::text, '-', ''), now()
         FROM unnest($1::uuid[], $2::uuid[]) AS t(id, callee)",
        &[&ids, &callees],
    )
    .await?;
    Ok(ids
        .iter()
        .zip(&callees)
        .map(|(id, callee)| (e2e::users::bearer(*callee), serde_json::json!({ "callId": id, "action": "accept" }).to_string()))
        .collect())
}
