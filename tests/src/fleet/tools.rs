//! The programs a fleet runs besides the app: HAProxy and PgBouncer from
//! Debian's packages (installed with apt-get when missing, as
//! [`crate::wrk`] installs wrk), and our host's `devhost` binary.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context as _};

/// `HAPROXY_BIN`, else `haproxy` on the PATH or in /usr/sbin.
pub(super) fn haproxy() -> anyhow::Result<PathBuf> {
    installed("HAPROXY_BIN", "haproxy", "-v", "HAProxy version")
}

/// `PGBOUNCER_BIN`, else `pgbouncer` on the PATH or in /usr/sbin.
pub(super) fn pgbouncer() -> anyhow::Result<PathBuf> {
    installed("PGBOUNCER_BIN", "pgbouncer", "--version", "PgBouncer")
}

fn installed(variable: &str, program: &str, version_flag: &str, says: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        let path = PathBuf::from(path);
        if runs(&path, version_flag, says) {
            return Ok(path);
        }
        bail!("{variable}={} does not run `{version_flag}` saying {says:?}", path.display());
    }
    let found = || [PathBuf::from(program), PathBuf::from("/usr/sbin").join(program)].into_iter().find(|path| runs(path, version_flag, says));
    if let Some(path) = found() {
        return Ok(path);
    }
    install_with_apt();
    found().with_context(|| {
        format!("{program} does not run and apt-get could not install it: the fleet needs Debian's haproxy and pgbouncer (apt-get install haproxy pgbouncer), or {variable}")
    })
}

fn runs(path: &PathBuf, version_flag: &str, says: &str) -> bool {
    Command::new(path).arg(version_flag).output().is_ok_and(|output| {
        String::from_utf8_lossy(&output.stdout).contains(says) || String::from_utf8_lossy(&output.stderr).contains(says)
    })
}

/// Installs both at once, once per process (parallel tests wait for it).
fn install_with_apt() {
    static INSTALLED: Mutex<bool> = Mutex::new(false);
    let mut tried = INSTALLED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if *tried {
        return;
    }
    *tried = true;
    eprintln!("Installing haproxy and pgbouncer (apt-get install haproxy pgbouncer)");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", "haproxy", "pgbouncer"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
}

/// `devhost` next to the running binary (`target/<profile>/devhost` for a
/// test in `target/<profile>/deps/`), built with `cargo build -p devhost`
/// when missing. `cargo xtask test` builds it first, so CI never builds it here.
pub(super) fn devhost() -> anyhow::Result<PathBuf> {
    static BUILD: Mutex<()> = Mutex::new(());
    let exe = std::env::current_exe()?;
    let mut profile_dir = exe.parent().context("the running binary is in a folder")?.to_path_buf();
    if profile_dir.file_name().is_some_and(|name| name == "deps") {
        profile_dir.pop();
    }
    let binary = profile_dir.join("devhost");
    if binary.is_file() {
        return Ok(binary);
    }
    let _building = BUILD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if binary.is_file() {
        return Ok(binary);
    }
    let target_dir = profile_dir.parent().context("a profile folder inside the target folder")?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(crate::paths::repo_root())
        .args(["build", "-p", "devhost", "--bin", "devhost", "--target-dir"])
        .arg(target_dir);
    if profile_dir.file_name().is_some_and(|name| name == "release") {
        command.arg("--release");
    }
    eprintln!("Building {} (cargo build -p devhost)", binary.display());
    let status = command.status().context("running cargo build -p devhost")?;
    if !status.success() || !binary.is_file() {
        bail!("cargo build -p devhost failed ({status}); {} is missing", binary.display());
    }
    Ok(binary)
}
