//! `cargo xtask bench`: starts hosts on a fresh database and prints
//! requests/s and p50/p99 per route at 1 and 16 concurrent connections:
//! the devhost's own cost (an empty handler), `/health`, and the app's
//! routes through the real `spin.toml` with real Postgres.

use std::sync::Arc;

use anyhow::Context as _;
use e2e::load::{self, MakeRequest};

struct Case {
    name: &'static str,
    path: &'static str,
    app: App,
}

/// Which host serves a case.
#[derive(Clone, Copy, PartialEq, Eq)]
enum App {
    /// The devhost's test guest: measures the host alone.
    Probe,
    /// The real application.
    Real,
}

const CASES: &[Case] = &[
    Case { name: "empty handler", path: "/empty", app: App::Probe },
    Case { name: "GET /health (SELECT 1)", path: "/health", app: App::Real },
    Case { name: "POST /get-livekit-token", path: "/get-livekit-token", app: App::Real },
];

/// Distinct users for token requests, so the per-user rate limit (30 a
/// minute) is exercised but never reached.
const TOKEN_USERS: usize = 2000;

const CONCURRENCY: &[usize] = &[1, 16];
const REQUESTS: usize = 3000;
const WARMUP: usize = 200;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut json_out = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--json" => json_out = Some(args.next().context("--json needs a file")?.clone()),
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    crate::build()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let db = e2e::db::TestDb::migrated().await?;
        let manifest = e2e::manifests::TempManifest::write(&e2e::manifests::probe_app(&[]))?;
        let mut options = e2e::host::options(
            &manifest.path,
            e2e::host::vars([("db_url", db.url.as_str()), ("secret_token", "bench")]),
        );
        options.runtime.max_instances = 256;
        let probe = e2e::host::TestHost::start_with(options).await?;
        let mut options = e2e::host::options(
            &e2e::paths::spin_toml(),
            e2e::host::vars([
                ("database_url", db.url.as_str()),
                ("auth_jwt_secret", e2e::users::AUTH_SECRET),
                ("livekit_api_key", e2e::app::LIVEKIT_KEY),
                ("livekit_api_secret", e2e::app::LIVEKIT_SECRET),
            ]),
        );
        options.runtime.max_instances = 256;
        let real = e2e::host::TestHost::start_with(options).await?;
        let session = uuid::Uuid::new_v4();
        db.client()
            .await?
            .execute(
                "INSERT INTO live_sessions (id, creator_id, type, access, livekit_room_name) VALUES ($1, $2, 'video_live', 'public', 'live_bench')",
                &[&session, &uuid::Uuid::new_v4()],
            )
            .await?;
        let bearers: Arc<Vec<String>> = Arc::new((0..TOKEN_USERS).map(|_| e2e::users::bearer(e2e::users::new_user())).collect());
        let token_body = serde_json::json!({ "sessionId": session }).to_string();
        let mut rows = Vec::new();
        println!("{:<28} {:>5} {:>10} {:>9} {:>9} {:>8}", "route", "conc", "req/s", "p50 ms", "p99 ms", "non-2xx");
        for case in CASES {
            for &concurrency in CONCURRENCY {
                let host = if case.app == App::Probe { &probe } else { &real };
                let url = host.url(case.path);
                let make: MakeRequest = if case.path == "/get-livekit-token" {
                    let bearers = bearers.clone();
                    let body = token_body.clone();
                    Arc::new(move |client, index| {
                        client.post(&url).header("authorization", &bearers[index % bearers.len()]).body(body.clone())
                    })
                } else {
                    Arc::new(move |client, _| client.get(&url))
                };
                load::run(WARMUP, concurrency, make.clone()).await;
                let report = load::run(REQUESTS, concurrency, make).await;
                let failures: usize =
                    report.statuses.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(_, n)| n).sum::<usize>()
                        + report.errors;
                println!(
                    "{:<28} {:>5} {:>10.0} {:>9.2} {:>9.2} {:>8}",
                    case.name,
                    concurrency,
                    report.requests_per_second(),
                    report.quantile(0.5).as_secs_f64() * 1000.0,
                    report.quantile(0.99).as_secs_f64() * 1000.0,
                    failures
                );
                rows.push(serde_json::json!({
                    "route": case.name,
                    "path": case.path,
                    "concurrency": concurrency,
                    "requests": report.requests,
                    "requestsPerSecond": report.requests_per_second(),
                    "p50Ms": report.quantile(0.5).as_secs_f64() * 1000.0,
                    "p99Ms": report.quantile(0.99).as_secs_f64() * 1000.0,
                    "failures": failures,
                }));
            }
        }
        probe.stop().await;
        real.stop().await;
        if let Some(path) = json_out {
            std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            println!("wrote {path}");
        }
        anyhow::Ok(())
    })
}
