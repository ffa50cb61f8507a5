//! What a soak measured and concluded, as data (for tests) and as a table.

use std::fmt;
use std::time::Duration;

use super::client::{Attempt, Route};

/// One verdict with the figures behind it.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Latency and answers of one route.
#[derive(Clone, Debug)]
pub struct RouteFigures {
    pub route: Route,
    pub attempts: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// 5xx answers and attempts without an answer.
    pub failed: usize,
}

/// An instance's down window, since the soak started.
#[derive(Clone, Copy, Debug)]
pub struct DownWindow {
    pub instance: usize,
    pub killed_at: Duration,
    pub back_at: Duration,
}

/// Everything a soak run reports.
#[derive(Clone, Debug)]
pub struct SoakReport {
    pub target: String,
    pub users: usize,
    pub workers: usize,
    /// The calls phase (registration excluded).
    pub elapsed: Duration,
    pub requests: usize,
    pub calls: usize,
    /// Calls by how they were meant to go.
    pub plans: Vec<(String, usize)>,
    /// Calls in the database by final status.
    pub statuses: Vec<(String, usize)>,
    pub down: Vec<DownWindow>,
    pub connections_peak: i64,
    pub connections_mean: f64,
    pub connection_samples: usize,
    pub routes: Vec<RouteFigures>,
    pub rings: super::checks::Rings,
    pub stop_ringing: super::checks::StopRinging,
    pub checks: Vec<Check>,
}

impl SoakReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|check| !check.passed).collect()
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

/// Per-route figures from the attempts sent at or after `from`.
pub fn route_figures(attempts: &[Attempt]) -> Vec<RouteFigures> {
    Route::ALL
        .iter()
        .filter_map(|route| {
            let mine: Vec<&Attempt> = attempts.iter().filter(|attempt| attempt.route == *route).collect();
            if mine.is_empty() {
                return None;
            }
            let mut latencies: Vec<Duration> = mine.iter().map(|attempt| attempt.latency).collect();
            latencies.sort();
            let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
            Some(RouteFigures {
                route: *route,
                attempts: mine.len(),
                p50: quantile(0.5),
                p99: quantile(0.99),
                max: *latencies.last().unwrap_or(&Duration::ZERO),
                failed: mine.iter().filter(|attempt| attempt.failed_on_our_side()).count(),
            })
        })
        .collect()
}

fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

impl fmt::Display for SoakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "soak on {}: {} users, {} workers, {:.1} s of calls", self.target, self.users, self.workers, self.elapsed.as_secs_f64())?;
        writeln!(f, "requests {} ({:.1}/s), calls {}", self.requests, self.requests_per_second(), self.calls)?;
        let list = |pairs: &[(String, usize)]| pairs.iter().map(|(name, count)| format!("{name} {count}")).collect::<Vec<_>>().join(", ");
        writeln!(f, "  planned: {}", list(&self.plans))?;
        writeln!(f, "  in the database: {}", list(&self.statuses))?;
        for window in &self.down {
            writeln!(
                f,
                "instance {} killed at {:.1} s, serving again at {:.1} s ({:.1} s down)",
                window.instance,
                window.killed_at.as_secs_f64(),
                window.back_at.as_secs_f64(),
                (window.back_at - window.killed_at).as_secs_f64()
            )?;
        }
        writeln!(f, "postgres connections: peak {}, mean {:.1} ({} samples, 1/s)", self.connections_peak, self.connections_mean, self.connection_samples)?;
        writeln!(f, "{:<22} {:>8} {:>9} {:>9} {:>9} {:>6}", "route", "requests", "p50 ms", "p99 ms", "max ms", "5xx")?;
        for route in &self.routes {
            writeln!(f, "{:<22} {:>8} {:>9} {:>9} {:>9} {:>6}", route.route.path(), route.attempts, millis(route.p50), millis(route.p99), millis(route.max), route.failed)?;
        }
        for check in &self.checks {
            writeln!(f, "{} {}: {}", if check.passed { "PASS" } else { "FAIL" }, check.name, check.detail)?;
        }
        write!(f, "{}", if self.passed() { "soak: every check passed" } else { "soak: FAILED" })
    }
}
