//! Where a request's time goes on this host: per-phase counters that a
//! benchmark switches on, reads before and after a run, and divides by the
//! requests it sent. Off (one relaxed load per phase) unless [`enable`]d.
//!
//! The phases nest: `request` is the host's whole handling, from a routed
//! request head to the answer's head; `body` (reading the request body) and
//! `slot` (waiting for an instance slot) and `guest` (the component, until
//! it returns the answer's head) lie inside it; `postgres_connect`,
//! `postgres_statement`, `variables` and `outbound_http` are host calls
//! inside `guest`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A measured phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Request,
    Body,
    Slot,
    Guest,
    PostgresConnect,
    PostgresStatement,
    Variables,
    OutboundHttp,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Request,
        Phase::Body,
        Phase::Slot,
        Phase::Guest,
        Phase::PostgresConnect,
        Phase::PostgresStatement,
        Phase::Variables,
        Phase::OutboundHttp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Request => "request",
            Phase::Body => "body",
            Phase::Slot => "slot",
            Phase::Guest => "guest",
            Phase::PostgresConnect => "postgres_connect",
            Phase::PostgresStatement => "postgres_statement",
            Phase::Variables => "variables",
            Phase::OutboundHttp => "outbound_http",
        }
    }
}

struct Counter {
    count: AtomicU64,
    nanos: AtomicU64,
}

const ZERO: Counter = Counter { count: AtomicU64::new(0), nanos: AtomicU64::new(0) };
static COUNTERS: [Counter; 8] = [ZERO; 8];
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts counting (for every host in this process).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// A start time when counting is on.
pub fn start() -> Option<Instant> {
    ENABLED.load(Ordering::Relaxed).then(Instant::now)
}

/// Adds the time since `started` to `phase`.
pub fn finish(phase: Phase, started: Option<Instant>) {
    if let Some(started) = started {
        let counter = &COUNTERS[phase as usize];
        counter.count.fetch_add(1, Ordering::Relaxed);
        counter.nanos.fetch_add(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// Each phase's count and total time so far.
pub fn snapshot() -> Vec<(Phase, u64, Duration)> {
    Phase::ALL
        .iter()
        .map(|&phase| {
            let counter = &COUNTERS[phase as usize];
            (phase, counter.count.load(Ordering::Relaxed), Duration::from_nanos(counter.nanos.load(Ordering::Relaxed)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_when_enabled_and_only_forward() {
        assert!(start().is_none() || ENABLED.load(Ordering::Relaxed));
        enable();
        let before = snapshot();
        let started = start();
        assert!(started.is_some());
        finish(Phase::Variables, started);
        let after = snapshot();
        let index = Phase::Variables as usize;
        assert_eq!(after[index].1, before[index].1 + 1);
        assert!(after[index].2 >= before[index].2);
        assert_eq!(Phase::ALL.iter().map(|p| p.name()).collect::<std::collections::BTreeSet<_>>().len(), 8);
    }
}
