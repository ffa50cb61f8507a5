//! The soak's target for a [`Fleet`]: instances behind HAProxy.

use crate::db::TestDb;
use crate::fake_push::FakePush;
use crate::fleet::{Fleet, FleetOptions, Pooling, Runtime};

use super::Target;

/// A started fleet and what the report says about it.
pub struct FleetTarget {
    pub fleet: Fleet,
    description: String,
    /// Spin runs no cron trigger here: the soak calls the sweep's route.
    spin: bool,
}

impl FleetTarget {
    /// Starts a fleet with the soak's variables added to `options.overrides`.
    pub async fn start(mut options: FleetOptions) -> anyhow::Result<Self> {
        let mut overrides = super::target::variables();
        overrides.append(&mut options.overrides);
        options.overrides = overrides;
        let spin = matches!(options.runtime, Runtime::Spin(_));
        let pooling = match options.pooling {
            Pooling::Direct => "direct to Postgres",
            Pooling::Session => "PgBouncer session pooling",
            Pooling::Transaction => "PgBouncer transaction pooling",
            Pooling::Statement => "PgBouncer statement pooling",
        };
        let description = format!("{} {} instances behind HAProxy, {pooling}", options.instances, if spin { "spin" } else { "devhost" });
        let fleet = Fleet::start(options).await?;
        Ok(Self { fleet, description, spin })
    }

    pub async fn stop(self) {
        self.fleet.stop().await;
    }
}

impl Target for FleetTarget {
    fn describe(&self) -> String {
        self.description.clone()
    }

    fn base_url(&self) -> String {
        self.fleet.url("")
    }

    fn database(&self) -> &TestDb {
        &self.fleet.db
    }

    fn push(&self) -> &FakePush {
        &self.fleet.push
    }

    async fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        self.fleet.kill(index).await
    }

    async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.fleet.restart(index).await
    }

    fn needs_sweeps(&self) -> bool {
        self.spin
    }

    async fn sweep(&self) -> anyhow::Result<Vec<u16>> {
        self.fleet.sweep_everywhere().await
    }
}
