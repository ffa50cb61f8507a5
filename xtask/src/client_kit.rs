//! The React Native client kit (`clients/react-native`): its dev dependencies,
//! its build, its unit tests, and its integration tests against the real
//! functions on a fresh database with the fakes (`e2e::stack`).

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context as _};

use crate::{root, run};

/// The oldest Node.js the kit is tested on (`node --test`, global fetch).
const MIN_NODE_MAJOR: u32 = 20;

fn kit_dir() -> PathBuf {
    root().join("clients/react-native")
}

/// Installs the dev dependencies, builds, runs the unit tests, then the
/// integration tests. Assumes the components are built.
pub fn test() -> anyhow::Result<()> {
    check_node()?;
    let dir = kit_dir();
    eprintln!("Client kit: installing its dev dependencies (npm ci)");
    let mut install = npm();
    install.current_dir(&dir).args(["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    run(install)?;
    let mut build = npm();
    build.current_dir(&dir).args(["run", "--silent", "build"]);
    run(build)?;
    eprintln!("Client kit: unit tests");
    run(node_test(&dir, &[], "build/test/unit"))?;
    eprintln!("Client kit: integration tests against the functions");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stack = e2e::stack::Stack::start(None, &[]).await?;
        // The integration tests share one stack: their files run one at a time.
        let mut command = node_test(&dir, &["--test-concurrency=1"], "build/test/integration");
        command.envs(stack.env());
        let result = tokio::task::spawn_blocking(move || run(command)).await?;
        stack.stop().await;
        result
    })
}

/// Serves the stack for a kit (or a developer) to run against, until Ctrl-C.
pub fn up_with_fakes(listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stack = e2e::stack::Stack::start(listen, &[]).await?;
        println!("Serving {} on a fresh database, with a fake LiveKit and a fake push provider", stack.base_url());
        for (name, value) in stack.env() {
            println!("  export {name}={value}");
        }
        tokio::signal::ctrl_c().await?;
        stack.stop().await;
        anyhow::Ok(())
    })
}

fn npm() -> Command {
    Command::new("npm")
}

/// `node --test` with `flags` on the compiled test files under `folder`.
fn node_test(dir: &std::path::Path, flags: &[&str], folder: &str) -> Command {
    let mut command = Command::new("node");
    command.current_dir(dir).args(["--test", "--test-reporter=spec"]).args(flags).arg(folder);
    command
}

fn check_node() -> anyhow::Result<()> {
    let output = Command::new("node")
        .arg("--version")
        .output()
        .context("the client kit's tests need Node.js (node, npm) on PATH; none was found")?;
    let version = String::from_utf8_lossy(&output.stdout);
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .with_context(|| format!("unreadable node --version: {version:?}"))?;
    if major < MIN_NODE_MAJOR {
        bail!("the client kit's tests need Node.js {MIN_NODE_MAJOR} or newer; found {}", version.trim());
    }
    Ok(())
}
