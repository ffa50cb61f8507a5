//! `cargo xtask bench`: starts a host on a fresh database and prints
//! requests/s and p50/p99 per route at 1 and 16 concurrent connections.

use std::sync::Arc;

use anyhow::Context as _;
use e2e::load::{self, MakeRequest};

struct Case {
    name: &'static str,
    path: &'static str,
}

const CASES: &[Case] = &[
    Case { name: "empty handler", path: "/empty" },
    Case { name: "GET /health (SELECT 1)", path: "/health" },
];

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
        let host = e2e::host::TestHost::start_with(options).await?;
        let mut rows = Vec::new();
        println!("{:<28} {:>5} {:>10} {:>9} {:>9} {:>8}", "route", "conc", "req/s", "p50 ms", "p99 ms", "non-2xx");
        for case in CASES {
            for &concurrency in CONCURRENCY {
                let url = host.url(case.path);
                let make: MakeRequest = Arc::new(move |client, _| client.get(&url));
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
        host.stop().await;
        if let Some(path) = json_out {
            std::fs::write(&path, serde_json::to_string_pretty(&rows)?)?;
            println!("wrote {path}");
        }
        anyhow::Ok(())
    })
}
