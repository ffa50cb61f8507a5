//! The cron trigger of Spin's `trigger-cron` plugin: `[[trigger.cron]]` with a
//! 6- or 7-field expression (seconds first), calling the component's
//! `handle-cron-event` export (`spin:cron@3.0.0`). A failing run is logged
//! and the schedule goes on; runs of one trigger never overlap.

use std::str::FromStr as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use chrono::Utc;

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
    schedule: cron::Schedule,
    pre: Option<SpinCronPre<crate::runtime::InstanceState>>,
    loaded: Arc<LoadedComponent>,
    pub runs: AtomicU64,
    pub failures: AtomicU64,
}

impl CronJob {
    /// Parses the expression and checks the component exports the handler.
    pub fn new(runtime: &Runtime, component: &str, expression: &str) -> anyhow::Result<Self> {
        let schedule = cron::Schedule::from_str(expression)
            .with_context(|| format!("[[trigger.cron]] cron_expression {expression:?}"))?;
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
            log::event("error", "cron run failed", &[("component", &self.component), ("error", reason)]);
        }
        outcome
    }

    async fn invoke(&self, runtime: &Runtime) -> Result<(), String> {
        let pre = self.pre.as_ref().ok_or("no handler")?;
        let _slot = runtime.slot().await;
        let mut store = runtime.store(&self.loaded);
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

    /// Runs on schedule until the task is dropped.
    pub async fn run_forever(self: Arc<Self>, runtime: Arc<Runtime>) {
        loop {
            let Some(next) = self.schedule.upcoming(Utc).next() else {
                log::event("warn", "cron schedule has no future run", &[("component", &self.component)]);
                return;
            };
            let wait = (next - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let _ = self.run_once(&runtime).await;
        }
    }
}

/// Parses a cron expression the way the trigger does, for validation.
pub fn check_expression(expression: &str) -> anyhow::Result<()> {
    cron::Schedule::from_str(expression).map(drop).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions() {
        check_expression("*/10 * * * * * *").unwrap();
        check_expression("0 */5 * * * *").unwrap();
        assert!(check_expression("* * * * *").is_err(), "5-field cron has no seconds");
        assert!(check_expression("nonsense").is_err());
    }
}
