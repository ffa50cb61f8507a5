//! What the soak runs against: a fleet of instances behind a load balancer
//! ([`crate::fleet::Fleet`]) or one in-process host ([`SingleHost`]), with
//! the fakes and the database beside them.

use std::sync::Arc;

use anyhow::Context as _;

use crate::db::TestDb;
use crate::fake_push::FakePush;
use crate::host::TestHost;

/// The secret the soak's targets set so the sweep's route can be called.
pub const CRON_SECRET: &str = "soak-cron-secret-with-at-least-32-bytes";

/// The variables every soak target sets on top of the test app's: the
/// route limits high (thousands of users behind one address), the token
/// limit at its realistic default.
pub fn variables() -> Vec<(String, String)> {
    [
        ("push_register_rate_limit_per_minute", "1000000"),
        ("call_initiate_rate_limit_per_minute", "1000000"),
        ("token_rate_limit_per_minute", "30"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

/// A running application the soak can load, break and inspect.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// What it is, for the report ("3 devhost instances, session pooling").
    fn describe(&self) -> String;
    /// The origin clients send to (a load balancer's, or the one host's).
    fn base_url(&self) -> String;
    /// The app's database, for checks and back-dating.
    fn database(&self) -> &TestDb;
    /// The fake push provider the app rings through.
    fn push(&self) -> &FakePush;
    fn instances(&self) -> usize;
    /// Takes instance `index` down hard.
    async fn kill(&mut self, index: usize) -> anyhow::Result<()>;
    /// Starts it again and waits until it serves.
    async fn restart(&mut self, index: usize) -> anyhow::Result<()>;
    /// Whether [`Target::sweep`] must be called for the sweep to run at all
    /// (no cron trigger running in the instances).
    fn needs_sweeps(&self) -> bool;
    /// Runs the sweep now (on every instance); the statuses.
    async fn sweep(&self) -> anyhow::Result<Vec<u16>>;
}

/// One in-process host (our devhost, or Spin with `E2E_RUNTIME=spin`) on a
/// fresh database: the stand-in for a fleet of one. "Killing" it stops the
/// host; restarting serves on the same port again.
pub struct SingleHost {
    pub db: TestDb,
    pub livekit: crate::fake_livekit::FakeLiveKit,
    pub push: FakePush,
    host: Option<TestHost>,
    addr: String,
    env: Arc<devhost::EnvLookup>,
}

impl SingleHost {
    /// Starts the real app with the soak's [`variables`] and `overrides`,
    /// the sweep's route open with [`CRON_SECRET`].
    pub async fn start(overrides: &[(String, String)]) -> anyhow::Result<Self> {
        let mut all = variables();
        all.push(("cron_secret".to_owned(), CRON_SECRET.to_owned()));
        all.extend(overrides.iter().cloned());
        let pairs: Vec<(&str, &str)> = all.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
        let mut captured: Option<Arc<devhost::EnvLookup>> = None;
        let app = crate::app::App::start_full(
            &pairs,
            |url| url.to_owned(),
            |options| {
                // Kept to start the host again with the same variables.
                let env = Arc::new(std::mem::replace(&mut options.env, Box::new(|_: &str| None)));
                let shared = env.clone();
                options.env = Box::new(move |name| shared(name));
                captured = Some(env);
            },
        )
        .await;
        let crate::app::App { db, livekit, push, host } = app;
        let env = captured.context("the host's variables")?;
        let addr = host.base_url.trim_start_matches("http://").to_owned();
        Ok(Self { db, livekit, push, host: Some(host), addr, env })
    }

    /// Stops the host.
    pub async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.stop().await;
        }
    }
}

impl Target for SingleHost {
    fn describe(&self) -> String {
        let runtime = match crate::host::runtime() {
            Ok(crate::host::Runtime::Spin(_)) => "spin",
            _ => "devhost",
        };
        format!("1 {runtime} host in-process (stand-in), direct to Postgres")
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn database(&self) -> &TestDb {
        &self.db
    }

    fn push(&self) -> &FakePush {
        &self.push
    }

    fn instances(&self) -> usize {
        1
    }

    async fn kill(&mut self, _index: usize) -> anyhow::Result<()> {
        if let Some(host) = self.host.take() {
            host.stop().await;
        }
        Ok(())
    }

    async fn restart(&mut self, _index: usize) -> anyhow::Result<()> {
        if self.host.is_some() {
            return Ok(());
        }
        let mut options = crate::host::options(&crate::paths::spin_toml(), Default::default());
        options.listen = self.addr.parse()?;
        let env = self.env.clone();
        options.env = Box::new(move |name| env(name));
        self.host = Some(TestHost::start_with(options).await?);
        Ok(())
    }

    fn needs_sweeps(&self) -> bool {
        // The test host runs no cron schedule.
        true
    }

    async fn sweep(&self) -> anyhow::Result<Vec<u16>> {
        let Some(host) = &self.host else {
            return Ok(Vec::new());
        };
        let answer = host.client.post(host.url("/cleanup-orphans")).header("authorization", format!("Bearer {CRON_SECRET}")).send().await?;
        Ok(vec![answer.status().as_u16()])
    }
}

/// Server connections to database `name` but the asking one's (what
/// `Fleet::database_connections` counts too).
pub async fn connections_to(client: &tokio_postgres::Client, name: &str) -> anyhow::Result<i64> {
    let row = client.query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&name]).await?;
    Ok(row.get(0))
}
