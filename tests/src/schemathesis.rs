//! Schemathesis, the property-based OpenAPI fuzzer, pinned and installed
//! into a virtualenv under the target directory (once per version).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context};

/// The pinned release from PyPI.
pub const VERSION: &str = "4.32.5";

/// Where the pinned release lives.
pub fn venv() -> PathBuf {
    crate::paths::target_dir().join(format!("schemathesis-{VERSION}"))
}

/// The `st` command of the pinned release.
pub fn command() -> PathBuf {
    venv().join("bin/st")
}

/// Installs the pinned release unless it is already there; returns `st`.
pub fn ensure() -> anyhow::Result<PathBuf> {
    let st = command();
    if installed(&st) {
        return Ok(st);
    }
    let venv = venv();
    eprintln!("Installing schemathesis {VERSION} from PyPI into {}", venv.display());
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new(python()).args(["-m", "venv"]).arg(&venv)).context("creating a Python virtualenv (is python3 with venv installed?)")?;
    run(Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check", &format!("schemathesis=={VERSION}")]))
    .context("installing schemathesis from PyPI")?;
    if !installed(&st) {
        bail!("{} does not answer --version with {VERSION} after installing", st.display());
    }
    Ok(st)
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn installed(st: &PathBuf) -> bool {
    Command::new(st)
        .arg("--version")
        .output()
        .map(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).contains(VERSION))
        .unwrap_or(false)
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command.status().with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
