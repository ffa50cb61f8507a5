//! `spin build`: runs each component's `[component.<id>.build] command` in
//! its `workdir` (the manifest's directory by default), through the shell.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};

use crate::manifest::LoadedManifest;

/// Runs every build command in manifest order; stops at the first failure.
/// Components sharing one command and directory are built once.
pub fn build_all(manifest_path: &Path) -> anyhow::Result<()> {
    let loaded = LoadedManifest::load(manifest_path)?;
    let mut done = std::collections::BTreeSet::new();
    for (id, component) in &loaded.manifest.component {
        let Some(build) = &component.build else {
            continue;
        };
        let workdir = match &build.workdir {
            Some(dir) => loaded.base_dir.join(dir),
            None => loaded.base_dir.clone(),
        };
        if !done.insert((build.command.clone(), workdir.clone())) {
            continue;
        }
        eprintln!("Building component {id} with `{}`", build.command);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&workdir)
            .status()
            .with_context(|| format!("running the build command of {id:?}"))?;
        if !status.success() {
            bail!("build command for component {id:?} failed ({status})");
        }
    }
    Ok(())
}
