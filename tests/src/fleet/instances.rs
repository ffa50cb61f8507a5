//! The app's instances as child processes: `devhost up` (our host, sharing
//! one compiled-component cache) or `$SPIN_BIN up` as [`crate::spin`] runs
//! it (cron triggers stripped, its own data and log folders).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::process::{tail, Process};
use super::Runtime;
use crate::spin::SpinBinary;

/// How to start any instance of one fleet.
pub(super) struct Launch {
    program: Program,
    /// The fleet's folder; instance N keeps its files in `instance-N/`.
    dir: PathBuf,
    variables: BTreeMap<String, String>,
    no_tcp_nodelay: bool,
}

enum Program {
    Devhost { binary: PathBuf },
    Spin { binary: SpinBinary, manifest: StrippedManifest },
}

impl Launch {
    pub(super) fn new(runtime: &Runtime, dir: &Path, variables: BTreeMap<String, String>, no_tcp_nodelay: bool) -> anyhow::Result<Self> {
        let program = match runtime {
            Runtime::Devhost => Program::Devhost { binary: super::tools::devhost()? },
            Runtime::Spin(binary) => Program::Spin { binary: binary.clone(), manifest: StrippedManifest::write()? },
        };
        Ok(Self { program, dir: dir.to_path_buf(), variables, no_tcp_nodelay })
    }

    fn command(&self, folder: &Path, port: u16) -> Command {
        let listen = format!("127.0.0.1:{port}");
        let mut command = match &self.program {
            Program::Devhost { binary } => {
                // Cron triggers stay: each instance sweeps every 10 s, as
                // replicas of Spin with the cron plugin would.
                let mut command = Command::new(binary);
                command
                    .arg("up")
                    .arg("--manifest")
                    .arg(crate::paths::spin_toml())
                    .arg("--listen")
                    .arg(&listen)
                    .arg("--cache-dir")
                    .arg(crate::paths::compile_cache());
                if self.no_tcp_nodelay {
                    command.arg("--no-tcp-nodelay");
                }
                command.current_dir(crate::paths::repo_root());
                command
            }
            Program::Spin { binary, manifest } => {
                let mut command = Command::new(&binary.path);
                command.arg("up").arg("-f").arg(&manifest.0).arg("--listen").arg(&listen);
                // Only a binary that said it is Spin gets Spin's own flags
                // (see crate::spin on E2E_SPIN_VERSION_CHECK=off).
                if binary.version.is_some() {
                    command.arg("--log-dir").arg(folder.join("logs"));
                }
                command.env("SPIN_DATA_DIR", folder.join("data")).current_dir(folder);
                command
            }
        };
        // Only the fleet's variables and settings count, not this process's.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SPIN_VARIABLE_") {
                command.env_remove(name);
            }
        }
        command.env_remove("RUNTIME_CONFIG_FILE").env_remove("SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE");
        for (name, value) in &self.variables {
            command.env(devhost::variables::env_name(name), value);
        }
        command
    }
}

/// One instance: its port stays the same over restarts.
pub(super) struct Instance {
    index: usize,
    port: u16,
    folder: PathBuf,
    // `None` while killed.
    process: Option<Process>,
}

impl Instance {
    pub(super) fn spawn(launch: &Launch, index: usize, port: u16) -> anyhow::Result<Self> {
        let folder = launch.dir.join(format!("instance-{index}"));
        std::fs::create_dir_all(folder.join("data"))?;
        let mut instance = Self { index, port, folder, process: None };
        instance.respawn(launch)?;
        Ok(instance)
    }

    /// Starts the process again (after [`Instance::kill`]), logging to the same file.
    pub(super) fn respawn(&mut self, launch: &Launch) -> anyhow::Result<()> {
        anyhow::ensure!(self.process.is_none(), "instance {} is still running", self.index);
        let mut command = launch.command(&self.folder, self.port);
        self.process = Some(Process::spawn(&format!("instance {}", self.index), &mut command, &self.folder.join("output.log"))?);
        Ok(())
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Kills it and waits (bounded) until nothing serves its port.
    pub(super) async fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut process) = self.process.take() else { return Ok(()) };
        process.kill().await?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
            if Instant::now() > deadline {
                bail!("instance {}'s port {} still accepts connections 5 s after it was killed", self.index, self.port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits until it answers `/health` with 200.
    pub(super) async fn wait_healthy(&mut self, client: &reqwest::Client, within: Duration) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let deadline = Instant::now() + within;
        loop {
            match self.process.as_mut() {
                Some(process) => process.ensure_running()?,
                None => bail!("instance {} is not running", self.index),
            }
            let answer = client.get(&url).timeout(Duration::from_secs(2)).send().await;
            if answer.as_ref().is_ok_and(|answer| answer.status() == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let said = answer.map(|answer| answer.status().to_string()).unwrap_or_else(|error| error.to_string());
                bail!("instance {} did not answer /health with 200 within {within:?} (last: {said}):\n{}", self.index, tail(&self.logs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its output, then (on Spin) the components' log files.
    pub(super) fn logs(&self) -> String {
        let mut text = std::fs::read_to_string(self.folder.join("output.log")).unwrap_or_default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.folder.join("logs"))
            .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            text.push_str(&std::fs::read_to_string(file).unwrap_or_default());
        }
        text
    }
}

/// spin.toml without its cron triggers (Spin 4.0.2 has none), beside the
/// original so that relative `source` paths resolve; removed on drop.
struct StrippedManifest(PathBuf);

impl StrippedManifest {
    fn write() -> anyhow::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let original = crate::paths::spin_toml();
        let text = std::fs::read_to_string(&original).with_context(|| format!("reading {}", original.display()))?;
        let folder = original.parent().context("a manifest in a folder")?;
        // `.spin-e2e-*.toml` is git-ignored.
        let path = folder.join(format!(".spin-e2e-fleet-{}-{}.toml", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&path, crate::manifests::without_cron_triggers(&text)?)?;
        Ok(Self(path))
    }
}

impl Drop for StrippedManifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
