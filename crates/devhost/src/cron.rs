//! The cron trigger as Spin runs it with the `trigger-cron` plugin 0.5.0
//! (spinframework/spin-trigger-plugins, `crates/trigger-cron`): Spin 4 has no
//! cron trigger of its own. `[[trigger.cron]]` calls the component's
//! `handle-cron-event` export (`spin:cron@3.0.0`) on a schedule.
//!
//! The plugin schedules with tokio-cron-scheduler 0.13, which parses with
//! croner 2.2 as `Cron::new(expression).with_seconds_required()
//! .with_dom_and_dow().parse()` and evaluates in UTC; we parse the same way,
//! so an expression means here what it means in production:
//! - exactly six fields, seconds first (`sec min hour day-of-month month
//!   day-of-week`); five fields and seven (a year) are refused;
//! - when both day fields are restricted, a day must match both (AND, not
//!   the OR of classic cron);
//! - day of week 0 and 7 are Sunday; `?` means `*`; names (`MON`, `JAN`),
//!   `L`, `W`, `#` and the `@daily`-style nicknames are croner's.
//!
//! The plugin turns any parse error into `Error: ParseSchedule` and Spin then
//! stops the whole app ("A trigger exited unexpectedly. Terminating."); we
//! refuse the manifest at start-up instead, with croner's reason.
//!
//! Firing follows tokio-cron-scheduler: the first run is croner's first
//! occurrence at or after start-up (so it can be at once), each next one the
//! first occurrence after the previous run, both cut to the whole second; a
//! run that falls behind skips what it missed. Runs do not wait for each
//! other: a slow run overlaps the next, as in the plugin (the scheduler spawns
//! each). A failing run is logged and the schedule goes on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Timelike as _, Utc};

use crate::log;
use crate::runtime::{to_anyhow, LoadedComponent, Runtime};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/spin-cron@3.0.0",
        world: "spin:cron/spin-cron",
        exports: { default: async | store },
    });
}

use bindings::spin::cron::cron_types::Metadata;
use bindings::SpinCronPre;

/// One scheduled trigger, with counters a caller can watch.
pub struct CronJob {
    pub component: String,
    pub expression: String,
    schedule: Schedule,
    pre: Option<SpinCronPre<crate::runtime::InstanceState>>,
    loaded: Arc<LoadedComponent>,
    pub runs: AtomicU64,
    pub failures: AtomicU64,
}

/// A cron expression parsed exactly as the `trigger-cron` plugin parses it.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: croner::Cron,
}

/// Why the plugin would refuse an expression: croner's own words.
#[derive(Debug, thiserror::Error)]
#[error(
    "cron_expression {expression:?} is refused: {}. Spin's trigger-cron plugin 0.5.0 parses it the same way \
     (croner 2.2 through tokio-cron-scheduler 0.13: six fields, seconds first), fails with `Error: ParseSchedule`, \
     and Spin then terminates the whole app",
    .reason.trim_end_matches('.')
)]
pub struct ScheduleError {
    pub expression: String,
    pub reason: String,
}

impl Schedule {
    /// Parses `expression` with croner's options as the plugin sets them.
    ///
    /// Errors: every expression croner refuses, with croner's message (wrong
    /// field count, a value out of range, an unknown character).
    pub fn parse(expression: &str) -> Result<Self, ScheduleError> {
        let cron = croner::Cron::new(expression)
            .with_seconds_required()
            .with_dom_and_dow()
            .parse()
            .map_err(|e| ScheduleError {
                expression: expression.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self { cron })
    }

    /// The first run after starting at `now`: croner's first occurrence at or
    /// after `now`, to the whole second. `None` when there is none.
    pub fn first_run(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.iter_from(now).next().map(whole_second)
    }

    /// The run after one made at `now`: croner's first occurrence after
    /// `now`, to the whole second. `None` when there is none.
    pub fn run_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.iter_after(now).next().map(whole_second)
    }
}

impl CronJob {
    /// Parses the expression and checks the component exports the handler.
    pub fn new(runtime: &Runtime, component: &str, expression: &str) -> anyhow::Result<Self> {
        let schedule = Schedule::parse(expression).with_context(|| format!("[[trigger.cron]] for component {component:?}"))?;
        let loaded = runtime
            .components
            .get(component)
            .with_context(|| format!("[[trigger.cron]] names unknown component {component:?}"))?
            .clone();
        let pre = SpinCronPre::new(loaded.pre.clone()).map_err(|e| {
            anyhow::anyhow!("component {component:?} does not export handle-cron-event: {e:?}")
        })?;
        Ok(Self {
            component: component.to_owned(),
            expression: expression.to_owned(),
            schedule,
            pre: Some(pre),
            loaded,
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// Runs the handler once, now.
    pub async fn run_once(&self, runtime: &Runtime) -> Result<(), String> {
        self.runs.fetch_add(1, Ordering::Relaxed);
        let outcome = self.invoke(runtime).await;
        if let Err(reason) = &outcome {
            self.failures.fetch_add(1, Ordering::Relaxed);
            log::event("error", "cron run failed", &[("component", self.component.as_str().into()), ("error", reason.as_str().into())]);
        }
        outcome
    }

    async fn invoke(&self, runtime: &Runtime) -> Result<(), String> {
        let pre = self.pre.as_ref().ok_or("no handler")?;
        let _slot = runtime.slot().await;
        let mut store = runtime.store(&self.loaded, crate::postgres::Trigger::Cron);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| format!("instantiation failed: {e:?}"))?;
        let metadata = Metadata {
            timestamp: Utc::now().timestamp().max(0) as u64,
        };
        let outcome = store
            .run_concurrent(async |accessor| instance.call_handle_cron_event(accessor, metadata).await)
            .await
            .map_err(to_anyhow)
            .and_then(|inner| inner.map_err(to_anyhow));
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(bindings::spin::cron::cron_types::Error::Other(reason))) => Err(reason),
            Err(trap) => Err(format!("{trap:#}")),
        }
    }

    /// Runs on schedule until the task is dropped (which also cancels the
    /// runs still going).
    pub async fn run_forever(self: Arc<Self>, runtime: Arc<Runtime>) {
        let mut running = tokio::task::JoinSet::new();
        let mut next = self.schedule.first_run(Utc::now());
        while let Some(at) = next {
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let fired_at = Utc::now();
            let (job, runtime) = (self.clone(), runtime.clone());
            running.spawn(async move {
                let _ = job.run_once(&runtime).await;
            });
            while running.try_join_next().is_some() {}
            next = self.schedule.run_after(fired_at);
        }
        log::event("warn", "cron schedule has no future run", &[("component", self.component.as_str().into())]);
        while running.join_next().await.is_some() {}
    }
}

/// tokio-cron-scheduler keeps the next tick as whole Unix seconds.
fn whole_second(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_nanosecond(0).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_parse(expression: &str, expected: Result<(), &str>) {
        let outcome = Schedule::parse(expression).map(drop).map_err(|e| e.reason);
        assert_eq!(outcome, expected.map_err(str::to_owned), "{expression:?}");
    }

    #[test]
    fn expressions_are_read_as_the_plugin_reads_them() {
        let five_or_six = "Invalid pattern: Pattern must consist of five or six fields (minute, hour, day, month, day of week, and optional second).";
        check_parse("*/10 * * * * *", Ok(()));
        check_parse("0 */5 * * * *", Ok(()));
        check_parse("0 0 12 ? * MON-FRI", Ok(()));
        check_parse("0 0 0 L * *", Ok(()));
        check_parse("@hourly", Ok(()));
        check_parse("*/10 * * * * * *", Err(five_or_six));
        check_parse("0 1/2 11,12 5-10 * * *", Err(five_or_six));
        check_parse("*/5 * * * *", Err("Invalid pattern: Pattern must consist of six fields, seconds can not be omitted."));
        check_parse("nonsense", Err(five_or_six));
        check_parse("", Err("CronPattern cannot be an empty string."));
        check_parse("60 * * * * *", Err("Component error: Number out of bounds."));
    }

    #[test]
    fn the_refusal_names_the_expression_and_what_spin_would_do() {
        let error = Schedule::parse("*/10 * * * * * *").unwrap_err().to_string();
        assert!(error.starts_with("cron_expression \"*/10 * * * * * *\" is refused: Invalid pattern: "), "{error}");
        assert!(error.contains("`Error: ParseSchedule`") && error.contains("terminates the whole app"), "{error}");
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    /// The first run after starting at `start`, then each run after the
    /// previous one (run exactly on time).
    fn check_runs(expression: &str, start: &str, expected: &[&str]) {
        let schedule = Schedule::parse(expression).unwrap();
        let mut runs = Vec::new();
        let mut next = schedule.first_run(at(start));
        while let (Some(run), true) = (next, runs.len() < expected.len()) {
            runs.push(run.to_rfc3339());
            next = schedule.run_after(run);
        }
        let expected: Vec<String> = expected.iter().map(|t| at(t).to_rfc3339()).collect();
        assert_eq!(runs, expected, "{expression:?} from {start}");
    }

    #[test]
    fn runs_fall_where_croner_puts_them() {
        check_runs("*/10 * * * * *", "2026-01-01T00:00:03.400Z", &["2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z", "2026-01-01T00:00:30Z"]);
        // Started during a matching second: the first run is at once.
        check_runs("*/10 * * * * *", "2026-01-01T00:00:10.700Z", &["2026-01-01T00:00:10Z", "2026-01-01T00:00:20Z"]);
        check_runs("0 * * * * *", "2026-01-01T23:59:30Z", &["2026-01-02T00:00:00Z", "2026-01-02T00:01:00Z"]);
        // Hours are UTC, not the machine's local time.
        check_runs("0 0 9 * * *", "2026-06-01T08:59:59Z", &["2026-06-01T09:00:00Z", "2026-06-02T09:00:00Z"]);
        // Both day fields restricted: Friday the 13th only (AND), not every 13th and every Friday.
        check_runs("0 0 0 13 * FRI", "2026-01-01T00:00:00Z", &["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z", "2026-11-13T00:00:00Z"]);
        // Sunday is 0 and 7; 1 is Monday (2026-01-04 is a Sunday).
        check_runs("0 0 0 * * 7", "2026-01-01T00:00:00Z", &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]);
        check_runs("0 0 0 * * 0", "2026-01-01T00:00:00Z", &["2026-01-04T00:00:00Z"]);
        check_runs("0 0 0 * * 1", "2026-01-01T00:00:00Z", &["2026-01-05T00:00:00Z"]);
        check_runs("@daily", "2026-01-01T12:00:00Z", &["2026-01-02T00:00:00Z"]);
    }

    #[test]
    fn a_late_run_skips_what_it_missed() {
        let schedule = Schedule::parse("*/10 * * * * *").unwrap();
        assert_eq!(schedule.run_after(at("2026-01-01T00:00:47.200Z")), Some(at("2026-01-01T00:00:50Z")));
        assert_eq!(schedule.run_after(at("2026-01-01T00:00:50Z")), Some(at("2026-01-01T00:01:00Z")));
    }
}
