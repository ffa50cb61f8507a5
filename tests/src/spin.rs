//! Real Spin as the test runtime: `$SPIN_BIN up` as a child process.
//!
//! With `E2E_RUNTIME=spin` and `SPIN_BIN=<a spin 4.0.x binary>`, every
//! [`crate::host::TestHost`] is one of these instead of our devhost in-process,
//! so the same suites check the application on the runtime production uses.
//! Each host gets its own `SPIN_DATA_DIR` and log folder in a temporary
//! folder, so that parallel tests do not share Spin's state or log files.
//!
//! `E2E_SPIN_VERSION_CHECK=off` accepts a binary that does not say
//! `spin 4.0.`: only to test this backend itself with our devhost's CLI
//! (`target/debug/devhost`), which mirrors `up -f FILE --listen ADDR`,
//! `--runtime-config-file FILE`, `SPIN_VARIABLE_*` and
//! `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`. Such a binary gets only those; the
//! flags only Spin has (`--log-dir`) go to a binary that said it is Spin.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// What `spin --version` starts with for the Spin this app is tested on.
pub const VERSION_PREFIX: &str = "spin 4.0.";

/// How long Spin may take to compile the components and listen.
const START_DEADLINE: Duration = Duration::from_secs(120);

/// A binary to serve manifests with, as `spin up` does.
#[derive(Clone, Debug)]
pub struct SpinBinary {
    pub path: PathBuf,
    /// What `--version` said; `None` when the check is off (see the module docs).
    pub version: Option<String>,
}

impl SpinBinary {
    /// `SPIN_BIN`, checked: its `--version` must start with [`VERSION_PREFIX`]
    /// unless `E2E_SPIN_VERSION_CHECK=off`.
    ///
    /// Errors: `SPIN_BIN` unset, the binary does not run, or it is another version.
    pub fn from_env() -> anyhow::Result<Self> {
        let path = std::env::var_os("SPIN_BIN").context("SPIN_BIN is not set: it must name a spin 4.0.x binary")?;
        Self::check(PathBuf::from(path))
    }

    /// Checks `path` as [`SpinBinary::from_env`] checks `SPIN_BIN`.
    pub fn check(path: PathBuf) -> anyhow::Result<Self> {
        if std::env::var("E2E_SPIN_VERSION_CHECK").as_deref() == Ok("off") {
            return Ok(Self { path, version: None });
        }
        let output = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .with_context(|| format!("SPIN_BIN={} does not run", path.display()))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if !output.status.success() || !version.starts_with(VERSION_PREFIX) {
            bail!(
                "SPIN_BIN={} is not Spin 4.0.x: `--version` said {version:?}; the app is tested on {VERSION_PREFIX}x",
                path.display()
            );
        }
        Ok(Self { path, version: Some(version) })
    }
}

/// A `spin up` child serving one manifest; killed and cleaned up on drop.
pub struct SpinHost {
    addr: SocketAddr,
    // Invariant: `kill_on_drop`, and its descendants are killed on drop:
    // `spin up` runs the HTTP trigger as a child of its own (`spin trigger
    // http`), which would otherwise outlive it, connections and all.
    child: tokio::process::Child,
    files: Files,
}

impl Drop for SpinHost {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            crate::process_tree::kill_descendants(pid);
        }
    }
}

impl SpinHost {
    /// Serves `options.manifest` on `options.listen` (a free port when it is
    /// port 0) with the variables `options.env` gives for the manifest's
    /// `[variables]`, `options.runtime_config_file` and
    /// `options.outbound_http.h2c_prior_knowledge`; every other option is our
    /// host's only and is ignored.
    ///
    /// Errors: unreadable manifest, the child does not start, exits, or does
    /// not listen within two minutes (with its stderr).
    pub async fn start(binary: &SpinBinary, options: &devhost::HostOptions) -> anyhow::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let id = format!("{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut files = Files { work_dir: std::env::temp_dir().join(format!("spin-e2e-{id}")), stripped_manifest: None };
        std::fs::create_dir_all(files.work_dir.join("data"))?;
        let addr = free_addr(options.listen)?;
        let text = std::fs::read_to_string(&options.manifest)
            .with_context(|| format!("reading {}", options.manifest.display()))?;
        let manifest: toml::Table = text.parse().with_context(|| format!("parsing {}", options.manifest.display()))?;
        let variables = variables(&manifest, &options.env);
        let mut served = options.manifest.clone();
        if manifest.get("trigger").and_then(|triggers| triggers.get("cron")).is_some() {
            // Spin 4.0.2 has no cron trigger, and a plugin that adds one stops
            // the whole app when it refuses a schedule (shared/notes/real-spin.md),
            // so we always serve the HTTP routes alone, from a copy beside the
            // original: relative `source` paths still resolve.
            let folder = options.manifest.parent().context("a manifest in a folder")?;
            served = folder.join(format!(".spin-e2e-{id}.toml"));
            std::fs::write(&served, crate::manifests::without_cron_triggers(&text)?)?;
            files.stripped_manifest = Some(served.clone());
        }

        let mut command = tokio::process::Command::new(&binary.path);
        command.arg("up").arg("-f").arg(&served).arg("--listen").arg(addr.to_string());
        if binary.version.is_some() {
            command.arg("--log-dir").arg(files.work_dir.join("logs"));
        }
        if let Some(runtime_config) = &options.runtime_config_file {
            // The child runs in its own folder.
            command.arg("--runtime-config-file").arg(std::path::absolute(runtime_config)?);
        }
        // As with our host in-process, only the test's variables and
        // settings count, not this process's environment.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(name);
            }
        }
        command.env_remove("RUNTIME_CONFIG_FILE");
        match &options.outbound_http.h2c_prior_knowledge {
            Some(authority) => command.env("SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE", authority),
            None => command.env_remove("SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE"),
        };
        command
            .envs(variables)
            .env("SPIN_DATA_DIR", files.work_dir.join("data"))
            .current_dir(&files.work_dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(files.work_dir.join("stdout.txt"))?)
            .stderr(std::fs::File::create(files.work_dir.join("stderr.txt"))?)
            .kill_on_drop(true);
        let child = command.spawn().with_context(|| format!("starting {}", binary.path.display()))?;
        let mut host = Self { addr, child, files };
        host.wait_until_listening().await?;
        Ok(host)
    }

    /// The address Spin listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills the child, waits for it, and removes its files.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            crate::process_tree::kill_descendants(pid);
        }
        let _ = self.child.kill().await;
    }

    async fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("spin up exited ({status}) before listening on {}:\n{}", self.addr, self.files.stderr());
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("spin up did not listen on {} within {START_DEADLINE:?}:\n{}", self.addr, self.files.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What one host writes; removed on drop.
struct Files {
    /// Holds SPIN_DATA_DIR, the logs and the child's stdout and stderr.
    work_dir: PathBuf,
    /// The manifest copy without cron triggers, next to the original.
    stripped_manifest: Option<PathBuf>,
}

impl Files {
    fn stderr(&self) -> String {
        std::fs::read_to_string(self.work_dir.join("stderr.txt")).unwrap_or_default()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        if let Some(copy) = &self.stripped_manifest {
            let _ = std::fs::remove_file(copy);
        }
        if std::env::var_os("E2E_GUEST_LOGS").is_some() {
            eprintln!("spin's logs are kept in {}", self.work_dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.work_dir);
        }
    }
}

/// `SPIN_VARIABLE_*` for each application variable `env` has a value for
/// (Spin reads no others, so asking for the declared ones is asking for all).
fn variables(manifest: &toml::Table, env: &dyn Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    let declared = manifest.get("variables").and_then(toml::Value::as_table);
    declared
        .into_iter()
        .flat_map(|table| table.keys())
        .filter_map(|name| {
            let env_name = devhost::variables::env_name(name);
            env(&env_name).map(|value| (env_name, value))
        })
        .collect()
}

/// `listen`, or a port free right now on its address when it is port 0
/// (Spin needs a port up front; another process could take it first, and
/// then start-up fails loudly).
fn free_addr(listen: SocketAddr) -> anyhow::Result<SocketAddr> {
    if listen.port() != 0 {
        return Ok(listen);
    }
    Ok(std::net::TcpListener::bind(listen)?.local_addr()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_variables_are_passed() {
        let manifest: toml::Table = "[variables]\ndb_url = { default = \"x\" }\ngreeting = { default = \"hi\" }\n".parse().unwrap();
        let env = |name: &str| (name != "SPIN_VARIABLE_GREETING").then(|| format!("value of {name}"));
        let passed = variables(&manifest, &env);
        assert_eq!(
            passed.into_iter().collect::<Vec<_>>(),
            [("SPIN_VARIABLE_DB_URL".to_owned(), "value of SPIN_VARIABLE_DB_URL".to_owned())]
        );
    }
}
