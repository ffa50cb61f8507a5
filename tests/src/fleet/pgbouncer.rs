//! PgBouncer between the instances and Postgres: a generated ini and
//! userlist, trust auth for the instances, one pool mode, an ephemeral
//! loopback port, its log on stderr (foreground, no daemon).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::process::{tail, Process};

/// How long PgBouncer may take to answer on its admin console.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// The first PgBouncer that follows named prepared statements across
/// server connections in transaction mode (`max_prepared_statements`).
pub(super) const TRACKS_PREPARED_STATEMENTS: Version = (1, 21, 0);

/// (major, minor, patch).
pub(super) type Version = (u32, u32, u32);

pub(super) struct PgBouncer {
    process: Process,
    port: u16,
    user: String,
    version: Version,
}

impl PgBouncer {
    /// Starts PgBouncer in `pool_mode` (`session` or `transaction`) for
    /// `instances` instances, in front of the tests' Postgres
    /// ([`crate::db::server_url`]).
    pub(super) async fn start(dir: &Path, pool_mode: &str, instances: usize) -> anyhow::Result<Self> {
        let binary = super::tools::pgbouncer()?;
        let version = version(&binary)?;
        let server: tokio_postgres::Config = crate::db::server_url().parse().context("the tests' database URL")?;
        let host = match server.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => bail!("the fleet's PgBouncer reaches Postgres over TCP; the tests' database URL names no TCP host"),
        };
        let server_port = server.get_ports().first().copied().unwrap_or(5432);
        let user = server.get_user().unwrap_or("postgres").to_owned();
        let password = server.get_password().map(|bytes| String::from_utf8_lossy(bytes).into_owned()).unwrap_or_default();
        let port = super::free_port()?;
        // Session mode holds a server connection per client connection, so
        // the pool must fit every connection the instances open (HAProxy
        // bounds their requests; sweeps and cron come on top). Transaction
        // mode shares a few, as it is meant to.
        let pool_size = match pool_mode {
            "session" => instances * (super::haproxy::MAX_REQUESTS_PER_INSTANCE + 8) + 8,
            _ => 4,
        };
        let userlist = dir.join("userlist.txt");
        std::fs::write(&userlist, format!("\"{user}\" \"{password}\"\n"))?;
        let ini = dir.join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n\
                 * = host={host} port={server_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {userlist}\n\
                 admin_users = {user}\n\
                 stats_users = {user}\n\
                 pool_mode = {pool_mode}\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 1000\n\
                 query_wait_timeout = 30\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 {prepared_statements}",
                userlist = userlist.display(),
                // 1.18 refuses the key it does not know.
                prepared_statements = if version >= TRACKS_PREPARED_STATEMENTS { "max_prepared_statements = 200\n" } else { "" },
            ),
        )?;
        for file in [&userlist, &ini] {
            super::make_world_readable(file)?;
        }
        let mut command = Command::new(&binary);
        if running_as_root() {
            // PgBouncer refuses to run as root; it drops to this user itself.
            command.arg("-u").arg(if user_exists("postgres") { "postgres" } else { "nobody" });
        }
        command.arg(&ini);
        let process = Process::spawn("pgbouncer", &mut command, &dir.join("pgbouncer.log"))?;
        let mut pooler = Self { process, port, user, version };
        pooler.wait_ready().await?;
        Ok(pooler)
    }

    /// The URL of `database` through PgBouncer.
    pub(super) fn url(&self, database: &str) -> String {
        format!("postgres://{}@127.0.0.1:{}/{database}?sslmode=disable", self.user, self.port)
    }

    pub(super) fn version(&self) -> Version {
        self.version
    }

    pub(super) fn log(&self) -> String {
        self.process.log_text()
    }

    pub(super) async fn stop(&mut self) {
        let _ = self.process.kill().await;
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        let admin_url = self.url("pgbouncer");
        loop {
            self.process.ensure_running()?;
            if let Ok(client) = migrate::connect(&admin_url).await {
                if client.simple_query("SHOW VERSION").await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("pgbouncer did not answer on 127.0.0.1:{} within {START_DEADLINE:?}:\n{}", self.port, tail(&self.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What `--version` says: `PgBouncer 1.18.0` on its first line.
fn version(binary: &Path) -> anyhow::Result<Version> {
    let output = Command::new(binary).arg("--version").output().with_context(|| format!("running {} --version", binary.display()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let parsed = text.lines().next().and_then(|line| line.strip_prefix("PgBouncer ")).and_then(|number| {
        let mut parts = number.trim().split('.').map(|part| part.parse::<u32>().ok());
        Some((parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
    });
    parsed.with_context(|| format!("{} --version said {text:?}", binary.display()))
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

fn user_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/passwd").is_ok_and(|text| text.lines().any(|line| line.split(':').next() == Some(name)))
}
