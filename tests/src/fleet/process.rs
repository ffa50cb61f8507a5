//! A child process whose output goes to a log file, SIGKILLed on drop.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How long a SIGKILLed process may take to be reaped.
const EXIT_DEADLINE: Duration = Duration::from_secs(5);

pub(super) struct Process {
    name: String,
    // Invariant: `None` only after it was killed and reaped.
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Spawns `command` with stdout and stderr appended to `log`.
    pub(super) fn spawn(name: &str, command: &mut Command, log: &Path) -> anyhow::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(log).with_context(|| format!("opening {}", log.display()))?;
        command.stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        let child = command.spawn().with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        Ok(Self { name: name.to_owned(), child: Some(child), log: log.to_path_buf() })
    }

    /// Its exit status, if it has exited.
    pub(super) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().ok().flatten())
    }

    /// Fails with its log when it has exited.
    pub(super) fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.exited() {
            bail!("{} exited ({status}):\n{}", self.name, tail(&self.log_text()));
        }
        Ok(())
    }

    /// Everything it wrote so far.
    pub(super) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILLs its descendants and it, and waits (bounded) until it is reaped.
    pub(super) async fn kill(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else { return Ok(()) };
        crate::process_tree::kill_descendants(child.id());
        let _ = child.kill();
        let deadline = Instant::now() + EXIT_DEADLINE;
        loop {
            if child.try_wait()?.is_some() {
                self.child = None;
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} did not exit within {EXIT_DEADLINE:?} of SIGKILL", self.name);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            crate::process_tree::kill_descendants(child.id());
            let _ = child.kill();
            let deadline = Instant::now() + EXIT_DEADLINE;
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// The last lines of a log, for an error message.
pub(super) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
