//! `cargo xtask bench`: for each runtime, our host and, when `SPIN_BIN` is
//! set, real Spin, starts the app on a fresh database with a fake LiveKit and
//! a fake push provider that answer at once, and prints one table headed by
//! the runtime and its settings: every route of `spin.toml` and the
//! devhost's own cost (the probe guest's empty handler), each at 1 and 16
//! connections, with requests/s, p50, p90 and p99, the answers over 30 ms
//! and the errors. Then the sweep over its HTTP route, and on our host the
//! token route's phases.
//!
//! All load comes from wrk (`e2e::wrk`), a second process over kept-alive
//! TCP: what an outside client sees. Each route gets an app host of its own;
//! each row is a one-second warm-up, then [`RUN_SECONDS`] measured. A route
//! whose request may repeat (the GETs, a token or a session's status for one
//! of 2,000 viewers) sends its list round and round. A route whose every
//! request consumes a row (a new broadcast, its end, a new device, a device
//! forgotten, a new call, an accept, a new webhook event) sends prepared
//! requests each exactly once, made right before its run: the warm-up's rate
//! times the run's length, three times over. A run that uses them up says so under
//! its row.
//!
//! Latencies are the answers' as wrk timed them (first byte of the request
//! written to the last byte of the answer read). The percentiles are of the
//! answers, not of wrk's own samples, to which wrk adds made-up ones for
//! every slow answer (its correction for coordinated omission; the `--json`
//! rows keep wrk's figures as `wrkP50Ms`...). "answers > 30 ms" counts,
//! exactly, the answers that took longer than 30 ms, and gives their share
//! of all answers: a 40 ms delayed-ACK stall on a kept-alive connection shows
//! there long before it moves p99. See `e2e::wrk::WrkReport`. "errors" are
//! wrong answers (status 400 or more; for the unrouted path, any status but
//! 404) plus socket errors.

use anyhow::Context as _;
use devhost::phases::Phase;
use e2e::host::{Runtime, TestHost};
use e2e::wrk::{Expect, Load, Prepared, Reuse, WrkReport};
use uuid::Uuid;

/// What a row sends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// `GET /empty` on the devhost's probe guest: the host alone.
    Empty,
    /// `GET /health`: one `SELECT 1`.
    Health,
    /// `GET /openapi.yaml`: 27 KB from the component, no database.
    OpenApi,
    /// `GET /no-such-route`: the catch-all component's 404.
    NotFound,
    /// `POST /get-livekit-token` by a viewer of a public session.
    Token,
    /// `GET /live-session-status` of that session, by a viewer.
    SessionStatus,
    /// `POST /live-session-start` by a new host.
    SessionStart,
    /// `POST /live-session-end` of a live session by its host (the fake
    /// LiveKit deletes the room).
    SessionEnd,
    /// `POST /push-token-register`: a new user's first device.
    PushRegister,
    /// `POST /push-token-unregister` of a registered device by its user.
    PushUnregister,
    /// `POST /call-initiate` between two fresh users (the push is accepted at once).
    CallInitiate,
    /// `POST /call-action` `accept` of a fresh ringing call.
    CallAccept,
    /// `POST /livekit-webhook`: a verified `participant_joined` of a new viewer, a new event id each.
    Webhook,
}

const CASES: &[(&str, Workload)] = &[
    ("empty handler", Workload::Empty),
    ("GET /health (SELECT 1)", Workload::Health),
    ("GET /openapi.yaml", Workload::OpenApi),
    ("GET /no-such-route (404)", Workload::NotFound),
    ("POST /get-livekit-token", Workload::Token),
    ("GET /live-session-status", Workload::SessionStatus),
    ("POST /live-session-start", Workload::SessionStart),
    ("POST /live-session-end", Workload::SessionEnd),
    ("POST /push-token-register", Workload::PushRegister),
    ("POST /push-token-unregister", Workload::PushUnregister),
    ("POST /call-initiate", Workload::CallInitiate),
    ("POST /call-action accept", Workload::CallAccept),
    ("POST /livekit-webhook", Workload::Webhook),
];

impl Workload {
    fn method(self) -> &'static str {
        match self {
            Workload::Empty | Workload::Health | Workload::OpenApi | Workload::NotFound | Workload::SessionStatus => "GET",
            _ => "POST",
        }
    }

    /// The path and query; `session` is the public session the viewers watch.
    fn path(self, session: Uuid) -> String {
        match self {
            Workload::Empty => "/empty".to_owned(),
            Workload::Health => "/health".to_owned(),
            Workload::OpenApi => "/openapi.yaml".to_owned(),
            Workload::NotFound => "/no-such-route".to_owned(),
            Workload::Token => "/get-livekit-token".to_owned(),
            Workload::SessionStatus => format!("/live-session-status?sessionId={session}"),
            Workload::SessionStart => "/live-session-start".to_owned(),
            Workload::SessionEnd => "/live-session-end".to_owned(),
            Workload::PushRegister => "/push-token-register".to_owned(),
            Workload::PushUnregister => "/push-token-unregister".to_owned(),
            Workload::CallInitiate => "/call-initiate".to_owned(),
            Workload::CallAccept => "/call-action".to_owned(),
            Workload::Webhook => "/livekit-webhook".to_owned(),
        }
    }

    fn reuse(self) -> Reuse {
        match self {
            Workload::Empty | Workload::Health | Workload::OpenApi | Workload::NotFound | Workload::Token | Workload::SessionStatus => {
                Reuse::Cycle
            }
            _ => Reuse::Once,
        }
    }

    fn expect(self) -> Expect {
        match self {
            Workload::NotFound => Expect::Status(404),
            _ => Expect::Success,
        }
    }
}

const CONCURRENCY: &[usize] = &[1, 16];
/// How long wrk warms a row up, then measures it.
const WARMUP_SECONDS: u64 = 1;
const RUN_SECONDS: u64 = 5;
/// Prepared requests for a warm-up of a route that consumes rows: more than
/// one second of any route at 16 connections (the fastest are near 4,000
/// req/s on this machine kind).
const WARMUP_PREPARED: usize = 6_000;
/// The fewest prepared requests for a measured run.
const MIN_PREPARED: usize = 2_000;
/// Distinct viewers (token, status), so the per-user rate limit (30 a
/// minute) is exercised but never reached.
const VIEWERS: usize = 2000;
/// Rooms the webhook events are spread over (events of one room are serialised).
const WEBHOOK_ROOMS: usize = 64;

/// The command line.
struct Settings {
    json_out: Option<String>,
    compare_with: Option<String>,
    only: Option<String>,
    statement_cache: bool,
    tcp_nodelay: bool,
}

impl Settings {
    fn selected(&self, name: &str) -> bool {
        self.only.as_deref().is_none_or(|part| name.contains(part))
    }
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut settings = Settings { json_out: None, compare_with: None, only: None, statement_cache: false, tcp_nodelay: true };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--json" => settings.json_out = Some(args.next().context("--json needs a file")?.clone()),
            "--compare" => settings.compare_with = Some(args.next().context("--compare needs a file")?.clone()),
            "--only" => settings.only = Some(args.next().context("--only needs part of a route's name")?.clone()),
            "--statement-cache" => settings.statement_cache = true,
            "--no-tcp-nodelay" => settings.tcp_nodelay = false,
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    // Checked first: a wrong SPIN_BIN should not wait for the build.
    let mut runtimes = vec![Runtime::Devhost];
    if std::env::var_os("SPIN_BIN").is_some() {
        runtimes.push(Runtime::Spin(e2e::spin::SpinBinary::from_env()?));
    }
    let wrk = e2e::wrk::binary()?;
    crate::build()?;
    devhost::phases::enable();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let mut rows = Vec::new();
        for (index, host_runtime) in runtimes.iter().enumerate() {
            if index > 0 {
                println!();
            }
            rows.extend(bench_runtime(host_runtime, &settings, &wrk).await?);
        }
        if let Some(path) = &settings.compare_with {
            compare(path, &rows)?;
        }
        if let Some(path) = &settings.json_out {
            std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
            println!("wrote {path}");
        }
        anyhow::Ok(())
    })
}

/// The name a `--json` row gives its runtime.
fn runtime_name(runtime: &Runtime) -> &'static str {
    match runtime {
        Runtime::Devhost => "devhost",
        Runtime::Spin(_) => "spin",
    }
}

/// Prints the heading of `runtime`'s table: what serves, with which settings.
fn print_heading(runtime: &Runtime, settings: &Settings) {
    match runtime {
        Runtime::Devhost => {
            println!("== Runtime: our host (devhost), in this process, up to 256 instances per component");
            if settings.statement_cache {
                println!("   Postgres statements: prepared once per connection and reused (--statement-cache)");
            } else {
                println!("   Postgres statements: prepared on every call, as Spin does (--statement-cache reuses them)");
            }
            if settings.tcp_nodelay {
                println!("   Accepted sockets: TCP_NODELAY on (--no-tcp-nodelay leaves Nagle on, as Spin 4.0.2 does)");
            } else {
                println!("   Accepted sockets: Nagle on, as Spin 4.0.2 (--no-tcp-nodelay)");
            }
        }
        Runtime::Spin(spin) => {
            println!(
                "== Runtime: Spin, {} ({}), `spin up` as a child process",
                spin.version.as_deref().unwrap_or("version not checked"),
                spin.path.display()
            );
            println!("   Its own settings: Postgres statements prepared on every call, Nagle on for accepted sockets,");
            println!("   instances as Spin reuses them (--statement-cache and --no-tcp-nodelay are our host's); no phase table");
        }
    }
}

/// The whole table on `runtime`: its own database, fakes and hosts.
async fn bench_runtime(runtime: &Runtime, settings: &Settings, wrk: &std::path::Path) -> anyhow::Result<Vec<serde_json::Value>> {
    print_heading(runtime, settings);
    let on_our_host = matches!(runtime, Runtime::Devhost);
    // Spin's own behaviour, whatever the flags say.
    let (statement_cache, tcp_nodelay) = if on_our_host { (settings.statement_cache, settings.tcp_nodelay) } else { (false, false) };
    let db = e2e::db::TestDb::migrated().await?;
    let livekit = e2e::fake_livekit::FakeLiveKit::start(e2e::app::LIVEKIT_KEY, e2e::app::LIVEKIT_SECRET).await;
    let push = e2e::fake_push::FakePush::start().await;
    let manifest = e2e::manifests::TempManifest::write(&e2e::manifests::probe_app(&[]))?;
    let mut options = e2e::host::options(&manifest.path, e2e::host::vars([("db_url", db.url.as_str()), ("secret_token", "bench")]));
    options.runtime.max_instances = 256;
    options.postgres.statement_cache = statement_cache;
    options.http.tcp_nodelay = tcp_nodelay;
    let probe = TestHost::start_on(runtime, options).await?;
    let push_origin = format!("http://{}", push.host());
    let app_options = AppOptions { database_url: db.url.clone(), livekit_url: livekit.url.clone(), push_origin, statement_cache, tcp_nodelay };
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
    let viewers: Vec<String> = (0..VIEWERS).map(|_| e2e::users::bearer(e2e::users::new_user())).collect();
    let bench = Bench { sql, session, viewers, wrk: wrk.to_path_buf() };

    let mut rows = Vec::new();
    let mut phase_table = None;
    println!(
        "{:<28} {:>5} {:>8} {:>8} {:>8} {:>8} {:>17} {:>7}",
        "route", "conc", "req/s", "p50 ms", "p90 ms", "p99 ms", "answers > 30 ms", "errors"
    );
    for (name, workload) in CASES.iter().filter(|(name, _)| settings.selected(name)) {
        // Each route on an app host of its own: a component's pool keeps
        // every connection it opened (up to 16 at 16 connections), and the
        // routes' pools together would pass Postgres's default 100.
        let app = if *workload == Workload::Empty { None } else { Some(TestHost::start_on(runtime, app_options.options()).await?) };
        for &concurrency in CONCURRENCY {
            let measured = bench.row(app.as_ref().unwrap_or(&probe), *workload, concurrency).await?;
            let report = &measured.report;
            println!(
                "{:<28} {:>5} {:>8.0} {:>8.2} {:>8.2} {:>8.2} {:>17} {:>7}",
                name,
                concurrency,
                report.requests_per_second(),
                report.p50_us as f64 / 1000.0,
                report.p90_us as f64 / 1000.0,
                report.p99_us as f64 / 1000.0,
                format!("{} ({:.2}%)", report.over_30_ms, report.over_30_ms_share() * 100.0),
                report.errors(),
            );
            if report.errors() > 0 {
                println!(
                    "    {} wrong answers ({}), {} socket errors",
                    report.error_status,
                    match workload.expect() {
                        Expect::Success => "status 400 or more".to_owned(),
                        Expect::Status(status) => format!("status other than {status}"),
                    },
                    report.error_socket
                );
            }
            if report.ran_out > 0 {
                println!(
                    "    ran out of prepared requests: {} requests beyond the {} prepared went to a 404 path instead (counted as errors); this row is not valid",
                    report.ran_out,
                    measured.prepared.unwrap_or(0)
                );
            }
            if *workload == Workload::Token && concurrency == 1 && on_our_host {
                phase_table = Some((measured.phases.clone(), report.mean_exchange_us(concurrency)));
            }
            rows.push(serde_json::json!({
                "runtime": runtime_name(runtime),
                "statementCache": statement_cache,
                "tcpNodelay": tcp_nodelay,
                "route": name,
                "path": workload.path(bench.session),
                "concurrency": concurrency,
                "requests": report.requests,
                "requestsPerSecond": report.requests_per_second(),
                "p50Ms": report.p50_us as f64 / 1000.0,
                "p90Ms": report.p90_us as f64 / 1000.0,
                "p99Ms": report.p99_us as f64 / 1000.0,
                "maxMs": report.max_us as f64 / 1000.0,
                // wrk's own percentiles, of its samples corrected for coordinated omission.
                "wrkP50Ms": report.wrk_p50_us as f64 / 1000.0,
                "wrkP90Ms": report.wrk_p90_us as f64 / 1000.0,
                "wrkP99Ms": report.wrk_p99_us as f64 / 1000.0,
                "over30Ms": report.over_30_ms,
                "over30MsShare": report.over_30_ms_share(),
                "failures": report.errors(),
                "statusErrors": report.error_status,
                "socketErrors": report.error_socket,
                "prepared": measured.prepared,
                "ranOut": report.ran_out,
                "load": "wrk",
            }));
        }
        if let Some(app) = app {
            app.stop().await;
        }
    }
    let mut extra = Vec::new();
    if settings.selected("sweep") {
        let app = TestHost::start_on(runtime, app_options.options()).await?;
        extra.push(sweep_bench(&bench.sql, &app).await?);
        app.stop().await;
    }
    if let Some((phases, client_mean_us)) = phase_table {
        extra.push(print_phases(&phases, client_mean_us));
    }
    for mut row in extra {
        row["runtime"] = runtime_name(runtime).into();
        row["statementCache"] = statement_cache.into();
        rows.push(row);
    }
    probe.stop().await;
    Ok(rows)
}

/// What the app's hosts are started with.
struct AppOptions {
    database_url: String,
    livekit_url: String,
    push_origin: String,
    statement_cache: bool,
    tcp_nodelay: bool,
}

impl AppOptions {
    /// The real `spin.toml` with the fakes (the settings are our host's only).
    fn options(&self) -> devhost::HostOptions {
        let mut options = e2e::host::options(
            &e2e::paths::spin_toml(),
            e2e::host::vars([
                ("database_url", self.database_url.as_str()),
                ("auth_jwt_secret", e2e::users::AUTH_SECRET),
                ("livekit_api_key", e2e::app::LIVEKIT_KEY),
                ("livekit_api_secret", e2e::app::LIVEKIT_SECRET),
                ("livekit_api_url", self.livekit_url.as_str()),
                ("push_provider", "expo"),
                ("push_origin", self.push_origin.as_str()),
                ("cron_secret", SWEEP_SECRET),
                // Every token request still runs the rate-limit upsert; the
                // bench's 2,000 viewers must not run into the limit itself.
                ("token_rate_limit_per_minute", "1000000"),
            ]),
        );
        options.runtime.max_instances = 256;
        options.postgres.statement_cache = self.statement_cache;
        options.http.tcp_nodelay = self.tcp_nodelay;
        options
    }
}

/// What one runtime's rows share.
struct Bench {
    sql: tokio_postgres::Client,
    /// The public session the viewers watch.
    session: Uuid,
    /// The viewers' `Authorization` values.
    viewers: Vec<String>,
    wrk: std::path::PathBuf,
}

/// One row's measured run.
struct Measured {
    report: WrkReport,
    /// The host's phases over the measured run (our host only; zeros on Spin).
    phases: Vec<(Phase, u64, std::time::Duration)>,
    /// Requests prepared for the measured run, when each is sent once.
    prepared: Option<usize>,
}

impl Bench {
    /// Warms `workload` up on `host` at `concurrency` connections, then measures it.
    async fn row(&self, host: &TestHost, workload: Workload, concurrency: usize) -> anyhow::Result<Measured> {
        let url = host.url(&workload.path(self.session));
        let load = |requests: Vec<Prepared>, seconds: u64| Load {
            url: url.clone(),
            method: workload.method().to_owned(),
            requests,
            reuse: workload.reuse(),
            expect: workload.expect(),
            connections: concurrency,
            threads: concurrency.min(2),
            duration: std::time::Duration::from_secs(seconds),
        };
        match workload.reuse() {
            Reuse::Cycle => {
                let requests = self.repeatable(workload);
                self.wrk(load(requests.clone(), WARMUP_SECONDS)).await?;
                let (report, phases) = self.measure(load(requests, RUN_SECONDS)).await?;
                Ok(Measured { report, phases, prepared: None })
            }
            Reuse::Once => {
                let warmup = self.wrk(load(self.prepare(workload, WARMUP_PREPARED).await?, WARMUP_SECONDS)).await?;
                // Three times what the warm-up's rate needs: a warm-up still has
                // cold instances and pools, and a thread may outrun the other.
                let count = ((warmup.requests_per_second() * RUN_SECONDS as f64 * 3.0).ceil() as usize).max(MIN_PREPARED);
                // Made right before the run: a ringing call expires after 30 s.
                let requests = self.prepare(workload, count).await?;
                let (report, phases) = self.measure(load(requests, RUN_SECONDS)).await?;
                Ok(Measured { report, phases, prepared: Some(count) })
            }
        }
    }

    async fn wrk(&self, load: Load) -> anyhow::Result<WrkReport> {
        let wrk = self.wrk.clone();
        tokio::task::spawn_blocking(move || e2e::wrk::run(&wrk, &load)).await?
    }

    /// A wrk run and the host's phases over it.
    async fn measure(&self, load: Load) -> anyhow::Result<(WrkReport, Vec<(Phase, u64, std::time::Duration)>)> {
        let before = devhost::phases::snapshot();
        let report = self.wrk(load).await?;
        Ok((report, phase_delta(&before, &devhost::phases::snapshot())))
    }

    /// The requests of a route whose request may repeat.
    fn repeatable(&self, workload: Workload) -> Vec<Prepared> {
        match workload {
            Workload::Token => {
                let body = serde_json::json!({ "sessionId": self.session }).to_string();
                self.viewers.iter().map(|viewer| (viewer.clone(), body.clone())).collect()
            }
            Workload::SessionStatus => self.viewers.iter().map(|viewer| (viewer.clone(), String::new())).collect(),
            _ => vec![(String::new(), String::new())],
        }
    }

    /// `count` requests of a route whose every request consumes a row, each
    /// with its row ready where the route needs one.
    async fn prepare(&self, workload: Workload, count: usize) -> anyhow::Result<Vec<Prepared>> {
        let sql = &self.sql;
        Ok(match workload {
            Workload::SessionStart => (0..count)
                .map(|_| (e2e::users::bearer(e2e::users::new_user()), r#"{"type":"video_live"}"#.to_owned()))
                .collect(),
            Workload::SessionEnd => session_end_requests(sql, count).await?,
            Workload::PushRegister => (0..count)
                .map(|_| {
                    let token = format!("ExponentPushToken[{}]", Uuid::new_v4().simple());
                    let body = serde_json::json!({ "token": token, "platform": "ios" }).to_string();
                    (e2e::users::bearer(e2e::users::new_user()), body)
                })
                .collect(),
            Workload::PushUnregister => unregister_requests(sql, count).await?,
            Workload::CallInitiate => initiate_requests(sql, count).await?,
            Workload::CallAccept => accept_requests(sql, count).await?,
            Workload::Webhook => (0..count)
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
            Workload::Empty
            | Workload::Health
            | Workload::OpenApi
            | Workload::NotFound
            | Workload::Token
            | Workload::SessionStatus => anyhow::bail!("a repeatable route has nothing to prepare"),
        })
    }
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

/// Prints this run against a saved `--json` run, row by row (a row of a
/// file without a runtime is our host's).
fn compare(path: &str, rows: &[serde_json::Value]) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let before: Vec<serde_json::Value> = serde_json::from_str(&text).with_context(|| format!("{path} is not a bench --json file"))?;
    let key = |row: &serde_json::Value| {
        (
            row["runtime"].as_str().unwrap_or("devhost").to_owned(),
            row["route"].as_str().unwrap_or("").to_owned(),
            row["concurrency"].as_u64(),
        )
    };
    println!("\nagainst {path}:");
    println!(
        "{:<8} {:<28} {:>5} {:>21} {:>21} {:>17}",
        "runtime", "route", "conc", "req/s before → now", "p50 ms before → now", "> 30 ms before → now"
    );
    for row in rows {
        let Some(old) = before.iter().find(|old| key(old) == key(row)) else { continue };
        let (runtime, route, concurrency) = key(row);
        let number = |row: &serde_json::Value, field: &str| row[field].as_f64();
        match (number(old, "requestsPerSecond"), number(row, "requestsPerSecond"), number(old, "p50Ms"), number(row, "p50Ms")) {
            (Some(rps_old), Some(rps), Some(p50_old), Some(p50)) => {
                let slow = match (old["over30Ms"].as_u64(), row["over30Ms"].as_u64()) {
                    (Some(old), Some(now)) => format!("{old} → {now}"),
                    _ => String::new(),
                };
                println!(
                    "{:<8} {:<28} {:>5} {:>8.0} → {:>6.0} {:>+4.0}% {:>7.2} → {:>5.2} {:>+4.0}% {:>17}",
                    runtime,
                    route,
                    concurrency.unwrap_or(0),
                    rps_old,
                    rps,
                    (rps / rps_old - 1.0) * 100.0,
                    p50_old,
                    p50,
                    (p50 / p50_old - 1.0) * 100.0,
                    slow
                )
            }
            _ => {
                if let (Some(old), Some(now)) = (number(old, "rowsPerSecond"), number(row, "rowsPerSecond")) {
                    println!("{:<8} {:<28} {:>5} {:>8.0} → {:>6.0} rows/s {:>+4.0}%", runtime, route, "", old, now, (now / old - 1.0) * 100.0);
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
    // In chunks, for the device cap's advisory locks (see `unregister_requests`).
    for (callers, callees) in callers.chunks(500).zip(callees.chunks(500)) {
        sql.execute(
            "WITH people AS (INSERT INTO users (id, display_name) SELECT id, 'bench' FROM unnest($1::uuid[] || $2::uuid[]) AS id)
             INSERT INTO push_tokens (token, user_id, platform) SELECT 'ExponentPushToken[' || id || ']', id, 'ios' FROM unnest($2::uuid[]) AS id",
            &[&callers, &callees],
        )
        .await?;
    }
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

/// `count` live sessions, each of its own host, as (host authorization,
/// end body) pairs for `/live-session-end`.
async fn session_end_requests(sql: &tokio_postgres::Client, count: usize) -> anyhow::Result<Vec<(String, String)>> {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let hosts: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    sql.execute(
        "INSERT INTO live_sessions (id, creator_id, type, livekit_room_name)
         SELECT id, host, 'video_live', 'live_' || replace(id::text, '-', '') FROM unnest($1::uuid[], $2::uuid[]) AS t(id, host)",
        &[&ids, &hosts],
    )
    .await?;
    Ok(ids
        .iter()
        .zip(&hosts)
        .map(|(id, host)| (e2e::users::bearer(*host), serde_json::json!({ "sessionId": id }).to_string()))
        .collect())
}

/// `count` registered devices, each of its own user, as (user
/// authorization, unregister body) pairs for `/push-token-unregister`.
async fn unregister_requests(sql: &tokio_postgres::Client, count: usize) -> anyhow::Result<Vec<(String, String)>> {
    let users: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let tokens: Vec<String> = (0..count).map(|_| format!("ExponentPushToken[{}]", Uuid::new_v4().simple())).collect();
    // The device cap's trigger takes an advisory lock per user, held to the
    // end of the transaction: a few hundred users per statement stay well
    // inside Postgres's lock table.
    for (users, tokens) in users.chunks(500).zip(tokens.chunks(500)) {
        sql.execute(
            "WITH people AS (INSERT INTO users (id, display_name) SELECT id, 'bench' FROM unnest($1::uuid[]) AS id)
             INSERT INTO push_tokens (token, user_id, platform) SELECT token, id, 'ios' FROM unnest($2::text[], $1::uuid[]) AS t(token, id)",
            &[&users, &tokens],
        )
        .await?;
    }
    Ok(users
        .iter()
        .zip(&tokens)
        .map(|(user, token)| (e2e::users::bearer(*user), serde_json::json!({ "token": token }).to_string()))
        .collect())
}
