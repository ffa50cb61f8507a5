//! What the soak needs of the app it runs against: a fleet of instances
//! behind a load balancer ([`super::fleet_target::FleetTarget`]), with the
//! fakes and the database beside them.

use crate::db::TestDb;
use crate::fake_push::FakePush;

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
    /// The origin clients send to (the load balancer's).
    fn base_url(&self) -> String;
    /// The app's database, for checks and back-dating.
    fn database(&self) -> &TestDb;
    /// The fake push provider the app rings through.
    fn push(&self) -> &FakePush;
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

/// Server connections to database `name` but the asking one's (what
/// `Fleet::database_connections` counts too).
pub async fn connections_to(client: &tokio_postgres::Client, name: &str) -> anyhow::Result<i64> {
    let row = client.query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&name]).await?;
    Ok(row.get(0))
}
