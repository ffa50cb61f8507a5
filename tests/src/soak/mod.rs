//! A bounded soak: thousands of users placing, answering, rejecting,
//! cancelling and ending calls and fetching tokens through the public
//! routes, LiveKit's webhooks for every join and leave, one instance killed
//! and restarted in the middle, the database's connections sampled every
//! second; then the checks that nothing was lost or applied twice
//! ([`checks`]) and the figures ([`report`]).
//!
//! Every loop is bounded in count and time, everything is on loopback, and
//! LiveKit and the push provider are the fakes.

pub mod checks;
pub mod client;
pub mod fleet_target;
pub mod report;
pub mod scenario;
pub mod target;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub use report::SoakReport;
pub use target::Target;

use client::{Client, RetryRules};
use report::DownWindow;
use scenario::Scenario;

/// How big and how long.
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub users: usize,
    /// Concurrent call players.
    pub workers: usize,
    /// The calls phase (registration comes first and is not counted).
    pub duration: Duration,
    pub seed: u64,
    /// Kill this instance at `kill_at` of the duration and restart it at
    /// `restart_at` (fractions); `None` kills nothing.
    pub kill: Option<KillPlan>,
    pub retry: RetryRules,
    /// The deadlines the app runs with (spin.toml's defaults unless overridden).
    pub ring_timeout_seconds: u64,
    pub join_timeout_seconds: u64,
    pub initiate_timeout_seconds: u64,
}

/// Which instance goes down, and when (fractions of the duration).
#[derive(Clone, Copy, Debug)]
pub struct KillPlan {
    pub instance: usize,
    pub kill_at: f64,
    pub restart_at: f64,
}

impl SoakOptions {
    /// The soak: 5 minutes, 2,000 users, an instance down from 40 % to 60 %.
    pub fn full() -> Self {
        Self {
            users: 2000,
            workers: 32,
            duration: Duration::from_secs(300),
            seed: 25,
            kill: Some(KillPlan { instance: 1, kill_at: 0.4, restart_at: 0.6 }),
            retry: RetryRules::default(),
            ring_timeout_seconds: 30,
            join_timeout_seconds: 30,
            initiate_timeout_seconds: 5,
        }
    }

    /// The short version CI runs: 20 s, 200 users.
    pub fn short() -> Self {
        Self { users: 200, workers: 8, duration: Duration::from_secs(20), ..Self::full() }
    }
}

/// How long after an instance is back its 5xx still count as its outage:
/// the balancer's health check takes a second or two to notice either way.
const GRACE: Duration = Duration::from_secs(3);
/// How long workers may take to finish their last call after the deadline.
const WIND_DOWN: Duration = Duration::from_secs(90);
/// How long the final sweeps may take to settle the outbox.
const SETTLE: Duration = Duration::from_secs(40);

/// Runs the soak against `target` and checks it.
///
/// Errors: the target's database cannot be read, or killing or restarting
/// an instance failed (the checks are not meaningful then).
pub async fn run<T: Target>(target: &mut T, options: &SoakOptions) -> anyhow::Result<SoakReport> {
    let origin = Instant::now();
    let client = Arc::new(Client::new(&target.base_url(), origin, options.retry)?);
    let (users, failed) = scenario::register_users(&client, options.users, options.workers.max(8), options.seed).await;
    if failed > 0 {
        anyhow::bail!("{failed} of {} users could not register a device; nothing to soak", options.users);
    }
    let sql = target.database().client().await?;
    let scenario = Arc::new(Scenario::new(client.clone(), users, sql, options.ring_timeout_seconds));

    let samples = Arc::new(Mutex::new(Vec::new()));
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_connections(target.database().url.clone(), target.database().name.clone(), samples.clone(), stop_sampling.clone()));
    let calls_began = Instant::now();
    let calls_began_at = client.elapsed();
    let deadline = calls_began + options.duration;
    let workers: Vec<_> = (0..options.workers)
        .map(|index| tokio::spawn(scenario.clone().worker(options.seed.wrapping_mul(1000).wrapping_add(index as u64), deadline, 1_000_000)))
        .collect();

    let mut down = Vec::new();
    let mut killed_at = None;
    let mut last_sweep = Instant::now();
    let hard_stop = deadline + WIND_DOWN;
    let fraction = |f: f64| calls_began + options.duration.mul_f64(f);
    loop {
        if workers.iter().all(|worker| worker.is_finished()) || Instant::now() > hard_stop {
            break;
        }
        if let Some(plan) = options.kill {
            if killed_at.is_none() && down.is_empty() && Instant::now() >= fraction(plan.kill_at) {
                let at = client.elapsed();
                target.kill(plan.instance).await.with_context(|| format!("killing instance {}", plan.instance))?;
                killed_at = Some(at);
            }
            if let Some(at) = killed_at {
                if Instant::now() >= fraction(plan.restart_at) {
                    target.restart(plan.instance).await.with_context(|| format!("restarting instance {}", plan.instance))?;
                    down.push(DownWindow { instance: plan.instance, killed_at: at, back_at: client.elapsed() });
                    killed_at = None;
                }
            }
        }
        if target.needs_sweeps() && last_sweep.elapsed() >= Duration::from_secs(10) {
            let _ = target.sweep().await;
            last_sweep = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Restart what is still down (a run cut short).
    if let (Some(plan), Some(at)) = (options.kill, killed_at) {
        target.restart(plan.instance).await?;
        down.push(DownWindow { instance: plan.instance, killed_at: at, back_at: client.elapsed() });
    }
    for worker in &workers {
        worker.abort();
    }
    let calls_elapsed = client.elapsed() - calls_began_at;
    stop_sampling.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let samples = samples.lock().expect("samples").clone();

    let sql = target.database().client().await?;
    settle(target, &sql, options).await?;

    let facts = checks::load(&sql, options.ring_timeout_seconds, options.join_timeout_seconds, options.initiate_timeout_seconds).await?;
    let attempts = client.attempts();
    let journal = std::mem::take(&mut *scenario.journal.lock().expect("journal"));
    let pushes = target.push().received().into_iter().map(|push| checks::Push { at: push.at.saturating_duration_since(origin), body: push.body }).collect();
    let evidence = checks::Evidence { journal: &journal, attempts: &attempts, down: &down, grace: GRACE, pushes, db: facts };
    let verdicts = checks::evaluate(&evidence);
    let stop_ringing = checks::stop_ringing_tally(&evidence);
    let rings = checks::ring_tally(&evidence);
    let statuses = scenario::tally(evidence.db.calls.values().map(|row| row.status.clone())).into_iter().collect();
    let in_calls_phase: Vec<_> = attempts.iter().filter(|attempt| attempt.sent_at >= calls_began_at).cloned().collect();
    let peak = samples.iter().copied().max().unwrap_or(0);
    let mean = if samples.is_empty() { 0.0 } else { samples.iter().sum::<i64>() as f64 / samples.len() as f64 };
    Ok(SoakReport {
        target: target.describe(),
        users: options.users,
        workers: options.workers,
        elapsed: calls_elapsed,
        requests: in_calls_phase.len(),
        calls: journal.calls.len(),
        plans: checks::plans(&journal.calls),
        statuses,
        down,
        connections_peak: peak,
        connections_mean: mean,
        connection_samples: samples.len(),
        routes: report::route_figures(&attempts),
        rings,
        stop_ringing,
        checks: verdicts,
    })
}

/// Ends the run: calls still active are back-dated past their deadlines
/// (the client lost them, or the run was cut short), then the sweep runs
/// until nothing is overdue and every stop-ringing push has left, within
/// [`SETTLE`].
async fn settle<T: Target>(target: &T, sql: &tokio_postgres::Client, options: &SoakOptions) -> anyhow::Result<()> {
    let past = (options.ring_timeout_seconds.max(options.join_timeout_seconds).max(options.initiate_timeout_seconds) + 1) as f64;
    sql.execute(
        "UPDATE calls SET created_at = created_at - make_interval(secs => $1), ringing_at = ringing_at - make_interval(secs => $1),
                          accepted_at = accepted_at - make_interval(secs => $1)
         WHERE status IN ('initiated', 'ringing', 'accepted')",
        &[&past],
    )
    .await?;
    let began = Instant::now();
    loop {
        let _ = target.sweep().await;
        let row = sql
            .query_one(
                "SELECT (SELECT count(*) FROM push_outbox WHERE sent_at IS NULL),
                        (SELECT count(*) FROM calls WHERE status IN ('initiated', 'ringing', 'accepted'))",
                &[],
            )
            .await?;
        let (unsent, open): (i64, i64) = (row.get(0), row.get(1));
        if (unsent == 0 && open == 0) || began.elapsed() > SETTLE {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Samples the server connections to database `name` every second into
/// `samples` until `stop` (and at most an hour).
async fn sample_connections(url: String, name: String, samples: Arc<Mutex<Vec<i64>>>, stop: Arc<AtomicBool>) {
    let Ok(client) = migrate::connect(&url).await else {
        return;
    };
    for _ in 0..3600 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(count) = target::connections_to(&client, &name).await {
            samples.lock().expect("samples").push(count);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
