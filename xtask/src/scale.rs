//! `cargo xtask scale`: the app scaled out (`e2e::fleet`) under the soak
//! (`e2e::soak`), its checks and figures printed; non-zero when a check fails.

use std::time::Duration;

use anyhow::{bail, Context as _};
use e2e::fleet::{FleetOptions, Pooling, Runtime};
use e2e::soak::fleet_target::FleetTarget;
use e2e::soak::{self, SoakOptions};

struct Args {
    pooling: Pooling,
    instances: usize,
    options: SoakOptions,
    all_modes: bool,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args = parse(args)?;
    // Checked first: a wrong SPIN_BIN should not wait for the build.
    let runtime = match std::env::var_os("SPIN_BIN") {
        Some(_) => Runtime::Spin(e2e::spin::SpinBinary::from_env()?),
        None => Runtime::Devhost,
    };
    // The instances of our host run target/debug/devhost, built by
    // `cargo xtask test` (or by the fleet when missing).
    super::build()?;
    let tokio = tokio::runtime::Runtime::new()?;
    tokio.block_on(migrate::connect(&e2e::db::server_url())).context("the soak needs PostgreSQL; none answered")?;
    if args.all_modes {
        return tokio.block_on(all_modes(&args, runtime));
    }
    let passed = tokio.block_on(async {
        let report = soak_once(args.pooling, args.instances, runtime, &args.options).await?;
        println!("{report}");
        anyhow::Ok(report.passed())
    })?;
    if !passed {
        bail!("the soak failed a check");
    }
    Ok(())
}

async fn soak_once(pooling: Pooling, instances: usize, runtime: Runtime, options: &SoakOptions) -> anyhow::Result<soak::SoakReport> {
    let mut target = FleetTarget::start(FleetOptions { instances, pooling, runtime, ..FleetOptions::default() }).await?;
    let report = soak::run(&mut target, options).await;
    target.stop().await;
    report
}

/// The soak in each pooling mode, each its own fleet; transaction mode on a
/// PgBouncer before 1.21 fails requests (500 INTERNAL_ERROR, the instances
/// log `prepared statement "sN" does not exist`), which the table shows.
async fn all_modes(args: &Args, runtime: Runtime) -> anyhow::Result<()> {
    let mut lines = Vec::new();
    for (name, pooling) in [("direct", Pooling::Direct), ("session", Pooling::Session), ("transaction", Pooling::Transaction)] {
        println!("== {name} ==");
        let mut target = FleetTarget::start(FleetOptions { instances: args.instances, pooling, runtime: runtime.clone(), ..FleetOptions::default() }).await?;
        let report = soak::run(&mut target, &args.options).await;
        let logs: String = (0..target.fleet.instances()).map(|index| target.fleet.instance_logs(index)).collect();
        target.stop().await;
        let report = report?;
        println!("{report}");
        let internal: usize = report.routes.iter().map(|route| route.failed).sum();
        let prepared = logs.lines().filter(|line| line.contains("prepared statement") && line.contains("does not exist")).count();
        let example = logs.lines().find(|line| line.contains("prepared statement") && line.contains("does not exist")).map(|line| format!("; e.g. {}", line.trim())).unwrap_or_default();
        lines.push(format!(
            "{name:<12} {}  {:.0} req/s, {internal} failed attempts, {prepared} `prepared statement ... does not exist` log lines{example}",
            if report.passed() { "PASS" } else { "FAIL" },
            report.requests_per_second()
        ));
    }
    println!("== every mode ==");
    for line in lines {
        println!("{line}");
    }
    Ok(())
}

fn parse(args: &[String]) -> anyhow::Result<Args> {
    let mut parsed = Args { pooling: Pooling::Session, instances: 3, options: SoakOptions::full(), all_modes: false };
    let mut seconds = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = |what: &str| args.next().with_context(|| format!("{flag} needs {what}")).cloned();
        match flag.as_str() {
            "--pooling" => {
                parsed.pooling = match value("direct, session, transaction or statement")?.as_str() {
                    "direct" => Pooling::Direct,
                    "session" => Pooling::Session,
                    "transaction" => Pooling::Transaction,
                    "statement" => Pooling::Statement,
                    other => bail!("--pooling {other:?}: direct, session, transaction or statement"),
                }
            }
            "--instances" => parsed.instances = value("a number")?.parse().context("--instances takes a number")?,
            "--seconds" => seconds = Some(value("a number")?.parse::<u64>().context("--seconds takes a number")?),
            "--users" => parsed.options.users = value("a number")?.parse().context("--users takes a number")?,
            "--workers" => parsed.options.workers = value("a number")?.parse().context("--workers takes a number")?,
            "--all-modes" => parsed.all_modes = true,
            other => bail!("unknown argument {other:?}\n{}", super::USAGE),
        }
    }
    if parsed.all_modes && seconds.is_none() {
        // One short run per mode unless told otherwise.
        seconds = Some(30);
        parsed.options.users = parsed.options.users.min(300);
    }
    if let Some(seconds) = seconds {
        parsed.options.duration = Duration::from_secs(seconds.max(5));
    }
    if parsed.instances < 2 {
        bail!("--instances must be at least 2: one is killed in the middle");
    }
    if let Some(kill) = parsed.options.kill.as_mut() {
        kill.instance = 1.min(parsed.instances - 1);
    }
    Ok(parsed)
}
