//! The project's commands: `cargo xtask build | up | migrate | test | bench | scale`.
//!
//! Each installs what it needs first (the wasm target), so that a fresh
//! machine needs nothing but Rust and a running Postgres.

mod bench;
mod client_kit;
mod manifest;
mod scale;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context as _};

const USAGE: &str = "usage: cargo xtask <command>
  build                     build every wasm component (release, wasm32-wasip2)
  manifest --without-cron [--out FILE]
                            write spin.toml without [[trigger.cron]] (default: spin.http-only.toml beside it)
  up [--listen ADDR] [--runtime-config-file FILE]
                            build, migrate the local database, serve spin.toml (default 127.0.0.1:3000)
                            with Spin's runtime config file if given (as `spin up`; e.g. [[client_tls]]
                            roots for a local HTTPS fake); stops when a variable pair of the
                            allow-list disagrees
  up --fakes [--listen ADDR]
                            serve on a fresh database with a fake LiveKit, a fake push provider
                            and a control API (what the client kit's integration tests use)
  migrate [--database-url URL] [--ca-root FILE]
                            apply migrations/ to URL (default: SPIN_VARIABLE_DATABASE_URL), over
                            TLS unless its sslmode is disable, trusting the system roots plus the
                            PEM root in FILE (default: SPIN_VARIABLE_DATABASE_CA_ROOT's text);
                            prints each file applied; never creates the database
  test                      run every test: unit, host, end-to-end through the wasm, client kit;
                            with SPIN_BIN=<spin 4.0.x> the end-to-end suites and the client kit
                            run again on real Spin
  test-client               build the components, run only the client kit's tests
  bench [--json FILE] [--compare FILE] [--only PART] [--statement-cache] [--no-tcp-nodelay]
                            every route of spin.toml and the host's empty handler on a fresh
                            database, through wrk (apt-get install wrk) at 1 and 16 connections:
                            req/s, p50/p90/p99, answers over 30 ms, errors; then the sweep and
                            the token route's phases. One table on our host, and one on Spin
                            with SPIN_BIN=<spin 4.0.x> (--compare: against a saved --json run;
                            --only: the routes whose name holds PART; --statement-cache: our host
                            reuses prepared statements, Spin does not; --no-tcp-nodelay: Nagle on
                            for our host's accepted sockets, as on Spin)
  scale [--pooling direct|session|transaction] [--instances N] [--seconds S] [--users U] [--workers W]
                            start N instances (default 3; Spin with SPIN_BIN) behind HAProxy, through
                            PgBouncer (default session pooling) on a fresh database, and soak them for
                            S seconds (default 300) with U users (default 2000) on W workers (default
                            32): calls rung, answered, rejected, cancelled and ended, tokens, LiveKit
                            webhooks, one instance killed and restarted in the middle; prints the
                            checks and figures, fails when a check fails
  scale --all-modes [...]   the soak (30 s, 300 users unless told) in each pooling mode, one line each";

/// The database `up` uses when `SPIN_VARIABLE_DATABASE_URL` is not set.
/// Spin reads no `sslmode` as `prefer` and verifies TLS, which the local
/// server's self-signed certificate fails for 127.0.0.1.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/livekit_dev?sslmode=disable";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("{USAGE}");
    };
    match command.as_str() {
        "build" => build(),
        "up" => up(rest),
        "migrate" => migrate(rest),
        "test" => test(rest),
        "test-client" => {
            build()?;
            client_kit::test()
        }
        "bench" => bench::run(rest),
        "scale" => scale::run(rest),
        "manifest" => manifest::run(rest),
        _ => bail!("{USAGE}"),
    }
}

fn root() -> PathBuf {
    e2e::paths::repo_root()
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
}

fn run(mut command: Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("running {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Installs the wasm target when it is missing.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (is Rust installed with rustup?)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|line| line.trim() == "wasm32-wasip2")
    {
        return Ok(());
    }
    eprintln!("Installing the wasm32-wasip2 target");
    let mut command = Command::new("rustup");
    command.args(["target", "add", "wasm32-wasip2"]);
    run(command)
}

/// Libraries that only make sense inside a component (they bind Spin's WIT).
const WASM_LIBRARIES: [&str; 1] = ["component-kit"];

/// What `up` uses for variables a local run needs and the environment does
/// not set: the keys of `livekit-server --dev`, never production values.
const DEV_DEFAULTS: [(&str, &str); 2] = [
    ("SPIN_VARIABLE_LIVEKIT_API_KEY", "devkey"),
    ("SPIN_VARIABLE_LIVEKIT_API_SECRET", "secret"),
];

/// Every wasm package: the application's functions and the host's test guests.
fn wasm_packages() -> anyhow::Result<Vec<String>> {
    let mut packages = Vec::new();
    for dir in ["functions", "crates/devhost/test-components"] {
        let Ok(entries) = std::fs::read_dir(root().join(dir)) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.join("Cargo.toml").exists() {
                if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                    packages.push(name.to_owned());
                }
            }
        }
    }
    packages.sort();
    Ok(packages)
}

/// Builds every component in one cargo invocation (faster than one per
/// component, and the same artefacts `spin build` produces).
fn build() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let mut command = cargo();
    command
        .current_dir(root())
        .args(["build", "--target", "wasm32-wasip2", "--release"]);
    for package in wasm_packages()? {
        command.args(["-p", &package]);
    }
    run(command)
}

fn up(args: &[String]) -> anyhow::Result<()> {
    let mut listen = "127.0.0.1:3000".to_owned();
    let mut fakes = false;
    // As `spin up`, which also reads it from the environment.
    let mut runtime_config_file = std::env::var_os("RUNTIME_CONFIG_FILE").map(PathBuf::from);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--listen" => listen = args.next().context("--listen needs HOST:PORT")?.clone(),
            "--runtime-config-file" => {
                runtime_config_file = Some(PathBuf::from(args.next().context("--runtime-config-file needs a FILE")?))
            }
            "--fakes" => fakes = true,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let listen = listen.parse().context("--listen takes HOST:PORT")?;
    build()?;
    if fakes {
        return client_kit::up_with_fakes(Some(listen));
    }
    let database_url =
        std::env::var("SPIN_VARIABLE_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        // Serve even when the database is down: /health then answers 503 and
        // the components report the outage, which is what an operator needs.
        if let Err(error) = prepare_database(&database_url).await {
            eprintln!("warning: database not prepared, serving anyway: {error:#}");
        }
        let mut options = devhost::HostOptions::new(root().join("spin.toml"), listen);
        options.cache_dir = Some(e2e::paths::compile_cache());
        options.runtime_config_file = runtime_config_file;
        let env_url = database_url.clone();
        // The process environment wins, as in Spin; the database URL defaults
        // to the one just migrated.
        options.env = Box::new(move |name| {
            std::env::var(name)
                .ok()
                .or_else(|| (name == "SPIN_VARIABLE_DATABASE_URL").then(|| env_url.clone()))
                .or_else(|| DEV_DEFAULTS.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned()))
        });
        for (name, value) in DEV_DEFAULTS {
            if std::env::var(name).is_err() {
                eprintln!("note: {name} is not set; using livekit-server --dev's {value:?}");
            }
        }
        // A pair that disagrees fails every request that needs it, as an
        // INTERNAL_ERROR: say so now, in one sentence, instead of serving.
        let manifest = std::fs::read_to_string(root().join("spin.toml"))?;
        let variables = e2e::config_check::effective_variables(&manifest, &options.env).map_err(anyhow::Error::msg)?;
        if let Err(sentence) = e2e::config_check::check_pairs(&variables) {
            bail!("{sentence}");
        }
        if let Some(warning) = e2e::config_check::auth_warning(&variables) {
            eprintln!("warning: {warning}");
        }
        let host = devhost::RunningHost::start(options).await?;
        println!("Serving http://{}", host.addr());
        let manifest = std::fs::read_to_string(root().join("spin.toml"))?;
        for route in manifest.lines().filter_map(|line| line.trim().strip_prefix("route = ")) {
            println!("  http://{}{}", host.addr(), route.trim_matches('"'));
        }
        host.wait().await;
        anyhow::Ok(())
    })
}

/// Creates the (local) database if needed and applies the migrations.
async fn prepare_database(url: &str) -> anyhow::Result<()> {
    let ca_root = ca_root_from_env();
    migrate::ensure_database(url, ca_root.as_deref()).await?;
    let applied = migrate::run(url, ca_root.as_deref(), &root().join("migrations")).await?;
    for migration in applied {
        eprintln!("Applied {migration}");
    }
    Ok(())
}

/// Applies the migrations to a database that must already exist, such as
/// production's; the work is `migrate::run`'s.
fn migrate(args: &[String]) -> anyhow::Result<()> {
    let mut database_url = None;
    let mut ca_root_file = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--database-url" => database_url = Some(args.next().context("--database-url needs a URL")?.clone()),
            "--ca-root" => ca_root_file = Some(args.next().context("--ca-root needs a PEM file")?.clone()),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    let url = match database_url.or_else(|| std::env::var("SPIN_VARIABLE_DATABASE_URL").ok()) {
        Some(url) => url,
        None => bail!("which database? set SPIN_VARIABLE_DATABASE_URL or pass --database-url URL"),
    };
    let ca_root = match ca_root_file {
        Some(file) => Some(std::fs::read_to_string(&file).with_context(|| format!("reading --ca-root {file}"))?),
        None => ca_root_from_env(),
    };
    println!("Migrating {} {}", migrate::redact(&url), migrate::security(&url)?);
    let runtime = tokio::runtime::Runtime::new()?;
    let applied = runtime.block_on(migrate::run(&url, ca_root.as_deref(), &root().join("migrations")))?;
    if applied.is_empty() {
        println!("Nothing to apply");
    }
    for migration in applied {
        println!("Applied {migration}");
    }
    Ok(())
}

/// The root certificate the components hand Spin (`database_ca_root`), when set.
fn ca_root_from_env() -> Option<String> {
    std::env::var("SPIN_VARIABLE_DATABASE_CA_ROOT").ok().filter(|pem| !pem.trim().is_empty())
}

/// The packages the test run covers: the workspace but xtask and what only
/// compiles for wasm.
fn workspace_tests(command: &mut Command) -> anyhow::Result<()> {
    command.args(["--workspace", "--exclude", "xtask"]);
    for package in wasm_packages()?.iter().map(String::as_str).chain(WASM_LIBRARIES) {
        command.args(["--exclude", package]);
    }
    Ok(())
}

fn test(args: &[String]) -> anyhow::Result<()> {
    // Checked first: a wrong SPIN_BIN should not wait for the whole run.
    let spin = match std::env::var_os("SPIN_BIN") {
        Some(_) => Some(e2e::spin::SpinBinary::from_env()?),
        None => None,
    };
    build()?;
    // The scale-out suite (e2e::fleet) runs our host as `devhost up`
    // processes; built here so that no test builds it, with the very package
    // and target selection of the test run below: `cargo build -p devhost`
    // alone unifies other features and compiles wasmtime a second time.
    let mut devhost = cargo();
    devhost.current_dir(root()).args(["build", "--all-targets"]);
    workspace_tests(&mut devhost)?;
    run(devhost)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime
        .block_on(migrate::connect(&e2e::db::server_url()))
        .context("the tests need PostgreSQL; none answered")?;
    // The OpenAPI fuzzer (tests/tests/e2e/openapi_fuzz.rs), pinned, from PyPI.
    e2e::schemathesis::ensure()?;
    // The scale-out suite's balancer and pooler (Debian's haproxy, pgbouncer).
    e2e::fleet::ensure_installed()?;
    let mut command = cargo();
    command.current_dir(root()).arg("test");
    workspace_tests(&mut command)?;
    command.args(args);
    run(command)?;
    // A filtered run (`cargo xtask test calls`) is about the Rust tests only.
    if args.is_empty() {
        client_kit::test()?;
    }
    match spin {
        Some(spin) => test_on_spin(&spin, args),
        None => {
            println!("SPIN_BIN not set: end-to-end suites ran on our host only");
            Ok(())
        }
    }
}

/// The end-to-end suites again, on real Spin (`e2e::spin`), and the client
/// kit's tests against a stack on it; tests that need our host say they
/// were skipped.
fn test_on_spin(spin: &e2e::spin::SpinBinary, args: &[String]) -> anyhow::Result<()> {
    let name = spin.version.clone().unwrap_or_else(|| format!("{} (version unchecked)", spin.path.display()));
    println!("End-to-end suites on {name}");
    let mut command = cargo();
    command.current_dir(root()).args(["test", "-p", "e2e"]).args(args).env("E2E_RUNTIME", "spin");
    run(command)?;
    if args.is_empty() {
        // Its own process, so that the stack's runtime comes from E2E_RUNTIME
        // as the test kit reads it (once per process).
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("test-client").env("E2E_RUNTIME", "spin");
        run(command)?;
    }
    Ok(())
}
