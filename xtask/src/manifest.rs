//! `cargo xtask manifest --without-cron [--out FILE]`: spin.toml without its
//! `[[trigger.cron]]`, for platforms without Spin's trigger-cron plugin
//! (Fermyon Cloud, a SpinKube shim without it); their scheduler calls
//! `POST /cleanup-orphans` instead. Generated, so it cannot drift from
//! spin.toml; it is not committed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

const USAGE: &str = "usage: cargo xtask manifest --without-cron [--out FILE]";

/// Writes the manifest; `args` are what follows `manifest`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut without_cron = false;
    let mut out = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--without-cron" => without_cron = true,
            "--out" => out = Some(PathBuf::from(args.next().context("--out needs a file")?)),
            other => bail!("manifest: unknown argument {other:?}\n{USAGE}"),
        }
    }
    if !without_cron {
        bail!("manifest: say what to leave out (--without-cron is the only choice)\n{USAGE}");
    }
    let spin_toml = e2e::paths::spin_toml();
    let folder = spin_toml.parent().context("spin.toml is in a folder")?;
    let out = out.unwrap_or_else(|| folder.join(e2e::manifests::HTTP_ONLY_MANIFEST));
    check_beside(&out, folder)?;
    let text = std::fs::read_to_string(&spin_toml).with_context(|| format!("reading {}", spin_toml.display()))?;
    let written = e2e::manifests::without_cron_triggers(&text)?;
    std::fs::write(&out, &written).with_context(|| format!("writing {}", out.display()))?;
    let routes = written.lines().filter(|line| line.trim() == "[[trigger.http]]").count();
    println!(
        "Wrote {} ({routes} HTTP routes, no cron trigger). Schedule POST /cleanup-orphans with \
         `Authorization: Bearer <cron_secret>` (docs/deploy.md).",
        out.display()
    );
    Ok(())
}

/// The components' `source` paths are relative to the manifest's folder, so
/// the copy must be in spin.toml's.
fn check_beside(out: &Path, folder: &Path) -> anyhow::Result<()> {
    let out_folder = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::env::current_dir()?,
    };
    let same = std::fs::canonicalize(&out_folder).ok() == std::fs::canonicalize(folder).ok();
    if !same {
        bail!(
            "--out {}: write it beside spin.toml, in {} (the components' source paths are relative to that folder)",
            out.display(),
            folder.display()
        );
    }
    Ok(())
}
