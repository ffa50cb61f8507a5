//! The app scaled out, started by the tests themselves: several instances
//! of the app (our `devhost up`, or `$SPIN_BIN up`) as child processes
//! behind HAProxy, reaching Postgres directly or through PgBouncer.
//!
//! Every instance serves the real spin.toml with the standard test
//! variables ([`crate::app::standard_variables`]) on one fresh database, so
//! all state is shared through Postgres as in production. HAProxy and
//! PgBouncer are Debian's (`apt-get install haproxy pgbouncer` when missing),
//! run on ephemeral loopback ports with config generated into a temporary
//! folder. Every wait is bounded, and every process is killed when the
//! [`Fleet`] is stopped or dropped.

mod haproxy;
mod instances;
mod pgbouncer;
mod process;
mod tools;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::Context as _;

pub use crate::host::Runtime;

use crate::app::{standard_variables, LIVEKIT_KEY, LIVEKIT_SECRET};
use crate::db::TestDb;
use crate::fake_livekit::FakeLiveKit;
use crate::fake_push::FakePush;

/// How the instances reach Postgres.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Each instance's own pool connects to Postgres.
    Direct,
    /// Through PgBouncer with `pool_mode = session`: a client connection
    /// keeps its server connection. Works with Spin's named statements.
    Session,
    /// Through PgBouncer with `pool_mode = transaction`. PgBouncer before
    /// 1.21 (Debian 12 ships 1.18) cannot follow the named statement Spin
    /// prepares for every query across server connections, so some
    /// requests fail with 500 and `prepared statement "sN" does not exist`;
    /// from 1.21 the fleet sets `max_prepared_statements`, which does.
    Transaction,
    /// Through PgBouncer with `pool_mode = statement`: it refuses the
    /// transactions some routes open (and closes their connection).
    Statement,
}

/// What to start.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// How many instances of the app (default 3).
    pub instances: usize,
    /// Default [`Pooling::Session`].
    pub pooling: Pooling,
    /// Default [`Runtime::Devhost`]; [`Runtime::from_env`] for the process's.
    pub runtime: Runtime,
    /// Spin variables on top of the standard test variables.
    pub overrides: Vec<(String, String)>,
    /// Our host only: leave Nagle on for accepted sockets, as Spin does.
    pub no_tcp_nodelay: bool,
    /// Whether HAProxy keeps its connections to the instances alive
    /// (default false: a new one per request). See [`haproxy`] for why.
    pub upstream_keepalive: bool,
}

impl Default for FleetOptions {
    fn default() -> Self {
        Self {
            instances: 3,
            pooling: Pooling::Session,
            runtime: Runtime::Devhost,
            overrides: Vec::new(),
            no_tcp_nodelay: false,
            upstream_keepalive: false,
        }
    }
}

/// A running fleet; its processes are killed when it is stopped or dropped.
pub struct Fleet {
    // Invariant: the processes are declared before the database and the
    // fakes, so that dropping a fleet kills them first.
    instances: Vec<instances::Instance>,
    launch: instances::Launch,
    balancer: haproxy::HaProxy,
    pooler: Option<pgbouncer::PgBouncer>,
    client: reqwest::Client,
    cron_secret: String,
    /// A fresh migrated database; `db.url` reaches it directly (for test SQL).
    pub db: TestDb,
    pub livekit: FakeLiveKit,
    pub push: FakePush,
    // Holds the config files and logs; removed last.
    _dir: WorkDir,
}

/// How long an instance may take to answer `/health` with 200 (Spin
/// compiles every component first).
const START_DEADLINE: Duration = Duration::from_secs(120);
/// How long HAProxy may take to see every instance up (checks every second).
const BALANCED_DEADLINE: Duration = Duration::from_secs(15);
/// The bearer secret of `POST /cleanup-orphans` on every instance.
const CRON_SECRET: &str = "fleet-cron-secret-of-at-least-32-bytes";

impl Fleet {
    /// Starts PgBouncer (unless [`Pooling::Direct`]), the instances and
    /// HAProxy, and returns once every instance answers `/health` with 200
    /// and HAProxy sees every one up.
    ///
    /// Errors: no Postgres, HAProxy or PgBouncer missing and not installable,
    /// the devhost binary missing and not buildable, a process that exits or
    /// does not become ready in time (with its log).
    pub async fn start(options: FleetOptions) -> anyhow::Result<Fleet> {
        anyhow::ensure!(options.instances > 0, "a fleet needs at least one instance");
        let dir = WorkDir::new()?;
        let db = TestDb::migrated().await?;
        let livekit = FakeLiveKit::start(LIVEKIT_KEY, LIVEKIT_SECRET).await;
        let push = FakePush::start().await;
        let pooler = match options.pooling {
            Pooling::Direct => None,
            Pooling::Session => Some(pgbouncer::PgBouncer::start(&dir.0, "session", options.instances).await?),
            Pooling::Transaction => Some(pgbouncer::PgBouncer::start(&dir.0, "transaction", options.instances).await?),
            Pooling::Statement => Some(pgbouncer::PgBouncer::start(&dir.0, "statement", options.instances).await?),
        };
        let database_url = match &pooler {
            Some(pooler) => pooler.url(&db.name),
            None => db.url.clone(),
        };
        let mut variables = standard_variables(&database_url, &livekit, &push);
        // The allow-list's Postgres entry must name where the URL points.
        variables.insert("database_host".to_owned(), host_and_port(&database_url)?);
        variables.insert("cron_secret".to_owned(), CRON_SECRET.to_owned());
        for (name, value) in &options.overrides {
            variables.insert(name.clone(), value.clone());
        }
        let launch = instances::Launch::new(&options.runtime, &dir.0, variables, options.no_tcp_nodelay)?;
        let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build()?;

        let ports = (0..options.instances).map(|_| free_port()).collect::<anyhow::Result<Vec<u16>>>()?;
        let mut instances = Vec::new();
        for (index, port) in ports.iter().enumerate() {
            instances.push(instances::Instance::spawn(&launch, index, *port)?);
            if index == 0 {
                // The first compiles (or fills the shared compile cache);
                // the others then start from it at once.
                instances[0].wait_healthy(&client, START_DEADLINE).await?;
            }
        }
        for instance in instances.iter_mut().skip(1) {
            instance.wait_healthy(&client, START_DEADLINE).await?;
        }
        let balancer = haproxy::HaProxy::start(&dir.0, &ports, options.upstream_keepalive).await?;
        let fleet = Fleet { instances, launch, balancer, pooler, client, cron_secret: CRON_SECRET.to_owned(), db, livekit, push, _dir: dir };
        fleet.wait_balanced().await?;
        Ok(fleet)
    }

    /// The absolute URL of `path` through HAProxy.
    pub fn url(&self, path: &str) -> String {
        self.balancer.url(path)
    }

    /// The absolute URL of `path` on instance `index` alone.
    ///
    /// Panics when there is no such instance.
    pub fn instance_url(&self, index: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.instances[index].port())
    }

    /// How many instances the fleet has (running or killed).
    pub fn instances(&self) -> usize {
        self.instances.len()
    }

    /// SIGKILLs instance `index` and waits (bounded) until it is gone.
    ///
    /// Errors: no such instance, or it did not exit within seconds.
    pub async fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        self.instances.get_mut(index).with_context(|| format!("no instance {index}"))?.kill().await
    }

    /// Starts instance `index` again on its port, and waits until it
    /// answers `/health` with 200 and HAProxy sees it up.
    ///
    /// Errors: as [`Fleet::start`] for one instance.
    pub async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        let instance = self.instances.get_mut(index).with_context(|| format!("no instance {index}"))?;
        instance.kill().await?;
        instance.respawn(&self.launch)?;
        instance.wait_healthy(&self.client, START_DEADLINE).await?;
        self.wait_balanced().await
    }

    /// Waits until HAProxy's health checks see every running instance up.
    ///
    /// Errors: one is still down after 15 s.
    pub async fn wait_balanced(&self) -> anyhow::Result<()> {
        let running: Vec<bool> = self.instances.iter().map(instances::Instance::is_running).collect();
        self.balancer.wait_up(&self.client, &running, BALANCED_DEADLINE).await
    }

    /// POSTs the sweep's HTTP route (`/cleanup-orphans`, with the fleet's
    /// `cron_secret`) to every instance at once, as a scheduler would; the
    /// statuses in instance order (0 when an instance did not answer).
    pub async fn sweep_everywhere(&self) -> anyhow::Result<Vec<u16>> {
        let sweeps = (0..self.instances.len()).map(|index| {
            self.client.post(self.instance_url(index, "/cleanup-orphans")).bearer_auth(&self.cron_secret).send()
        });
        let answers = futures_util::future::join_all(sweeps).await;
        let mut statuses = Vec::new();
        for answer in answers {
            statuses.push(match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let _ = response.bytes().await;
                    status
                }
                Err(_) => 0,
            });
        }
        Ok(statuses)
    }

    /// Server connections to the app database right now (`pg_stat_activity`,
    /// not counting the one asking).
    pub async fn database_connections(&self) -> anyhow::Result<i64> {
        let client = self.db.client().await?;
        let row = client
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", &[])
            .await?;
        Ok(row.get(0))
    }

    /// PgBouncer's log so far; `None` with [`Pooling::Direct`].
    pub fn pooler_log(&self) -> Option<String> {
        self.pooler.as_ref().map(pgbouncer::PgBouncer::log)
    }

    /// PgBouncer's version (major, minor, patch); `None` with [`Pooling::Direct`].
    pub fn pooler_version(&self) -> Option<(u32, u32, u32)> {
        self.pooler.as_ref().map(pgbouncer::PgBouncer::version)
    }

    /// Whether the pooler follows named prepared statements across server
    /// connections (PgBouncer 1.21 or newer, where the fleet sets
    /// `max_prepared_statements`), which transaction mode needs with Spin.
    pub fn pooler_tracks_prepared_statements(&self) -> bool {
        self.pooler_version().is_some_and(|version| version >= pgbouncer::TRACKS_PREPARED_STATEMENTS)
    }

    /// Everything instance `index` wrote so far, over all its starts: the
    /// host's lines and the components' JSON log lines.
    ///
    /// Panics when there is no such instance.
    pub fn instance_logs(&self, index: usize) -> String {
        self.instances[index].logs()
    }

    /// How many requests for `path` instance `index`'s components logged
    /// (their one `"msg":"request"` line each).
    pub fn served(&self, index: usize, path: &str) -> usize {
        self.instance_logs(index)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
            .filter(|line| line["msg"] == "request" && line["path"] == path && line.get("source").is_none())
            .count()
    }

    /// The `cron_secret` every instance has.
    pub fn cron_secret(&self) -> &str {
        &self.cron_secret
    }

    /// Kills every process and removes the fleet's files.
    pub async fn stop(mut self) {
        for instance in &mut self.instances {
            let _ = instance.kill().await;
        }
        self.balancer.stop().await;
        if let Some(pooler) = &mut self.pooler {
            pooler.stop().await;
        }
    }
}

/// Finds HAProxy and PgBouncer, installing Debian's packages when missing
/// (as [`Fleet::start`] does), so that a test run can do it up front.
///
/// Errors: either is missing and apt-get could not install it.
pub fn ensure_installed() -> anyhow::Result<()> {
    tools::haproxy()?;
    tools::pgbouncer()?;
    Ok(())
}

/// The fleet's temporary folder (config files, logs, Spin's data), removed
/// on drop unless `E2E_GUEST_LOGS` is set.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> anyhow::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!("fleet-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        // PgBouncer, started as root, drops to another user and still reads its files.
        make_world_readable(&path)?;
        Ok(Self(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if std::env::var_os("E2E_GUEST_LOGS").is_some() {
            eprintln!("the fleet's files are kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn make_world_readable(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = if path.is_dir() { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `host:port` of a Postgres URL.
fn host_and_port(url: &str) -> anyhow::Result<String> {
    let config: tokio_postgres::Config = url.parse().context("a Postgres URL")?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => anyhow::bail!("the fleet reaches Postgres over TCP; {url} names no TCP host"),
    };
    Ok(format!("{host}:{}", config.get_ports().first().copied().unwrap_or(5432)))
}

/// A loopback port free right now (a process started next binds it; another
/// could take it first, and then start-up fails loudly).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
