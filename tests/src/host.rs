//! A host serving a manifest on an ephemeral port, for one test: our devhost
//! in-process, or real Spin as a child process (`E2E_RUNTIME=spin`, see
//! [`crate::spin`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use crate::spin::{SpinBinary, SpinHost};

/// What serves the tests, from `E2E_RUNTIME`: unset or `devhost` for our
/// host in-process, `spin` for `$SPIN_BIN`.
#[derive(Clone, Debug)]
pub enum Runtime {
    Devhost,
    Spin(SpinBinary),
}

impl Runtime {
    /// The runtime of this test process: [`runtime`], owned.
    ///
    /// Errors: as [`runtime`].
    pub fn from_env() -> anyhow::Result<Self> {
        runtime().cloned()
    }
}

/// The runtime of this test process, read and checked once.
///
/// Errors: `E2E_RUNTIME` is neither `devhost` nor `spin`, or `SPIN_BIN` is
/// missing or not Spin 4.0.x (see [`SpinBinary::from_env`]).
pub fn runtime() -> anyhow::Result<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let chosen = RUNTIME.get_or_init(|| {
        match std::env::var("E2E_RUNTIME").as_deref() {
            Err(_) | Ok("") | Ok("devhost") => Ok(Runtime::Devhost),
            Ok("spin") => SpinBinary::from_env().map(Runtime::Spin).map_err(|error| format!("E2E_RUNTIME=spin: {error:#}")),
            Ok(other) => Err(format!("E2E_RUNTIME={other:?}: the runtimes are \"devhost\" (the default) and \"spin\"")),
        }
    });
    chosen.as_ref().map_err(|error| anyhow::anyhow!("{error}"))
}

/// For a test that needs our host (firing cron in-process, counters, custom
/// limits, captured guest output): on Spin it writes one line,
/// `skipped on spin: <reason>`, and answers true; the test then returns.
///
/// Panics when the runtime is misconfigured (see [`runtime`]).
pub fn skipped_on_spin(reason: &str) -> bool {
    let on_spin = matches!(runtime().expect("a usable E2E_RUNTIME"), Runtime::Spin(_));
    if on_spin {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        let _ = writeln!(std::io::stderr(), "skipped on spin: {reason}");
    }
    on_spin
}

/// A running host and a client for it.
pub struct TestHost {
    backend: Option<Backend>,
    pub base_url: String,
    pub client: reqwest::Client,
}

enum Backend {
    Devhost(devhost::RunningHost),
    Spin(SpinHost),
}

impl TestHost {
    /// Serves `manifest` with `variables` as the only overrides (the process
    /// environment is not consulted), cron schedules off.
    pub async fn start(manifest: &Path, variables: BTreeMap<String, String>) -> anyhow::Result<Self> {
        let options = options(manifest, variables);
        Self::start_with(options).await
    }

    /// Serves with fully custom options, on the [`runtime`] of this process.
    /// Spin takes the manifest, the listen address, the variables, the
    /// runtime config file and the h2c authority only; a test that needs the
    /// rest asks [`skipped_on_spin`] first.
    pub async fn start_with(options: devhost::HostOptions) -> anyhow::Result<Self> {
        Self::start_on(runtime()?, options).await
    }

    /// As [`TestHost::start_with`], on `runtime` whatever `E2E_RUNTIME` says
    /// (the benchmark runs the same table on both).
    pub async fn start_on(runtime: &Runtime, options: devhost::HostOptions) -> anyhow::Result<Self> {
        let backend = match runtime {
            Runtime::Devhost => Backend::Devhost(devhost::RunningHost::start(options).await?),
            Runtime::Spin(binary) => Backend::Spin(SpinHost::start(binary, &options).await?),
        };
        let addr = match &backend {
            Backend::Devhost(host) => host.addr(),
            Backend::Spin(host) => host.addr(),
        };
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self {
            backend: Some(backend),
            base_url: format!("http://{addr}"),
            client,
        })
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Our running host, to fire cron triggers or read counters.
    ///
    /// Panics on Spin: such a test starts with [`skipped_on_spin`].
    pub fn host(&self) -> &devhost::RunningHost {
        match self.backend.as_ref().expect("host is running until stop") {
            Backend::Devhost(host) => host,
            Backend::Spin(_) => panic!("this test needs our host; it must return early when e2e::host::skipped_on_spin(..)"),
        }
    }

    /// Stops serving.
    pub async fn stop(mut self) {
        match self.backend.take() {
            Some(Backend::Devhost(host)) => host.stop().await,
            Some(Backend::Spin(host)) => host.stop().await,
            None => {}
        }
    }
}

/// Test defaults: ephemeral port, shared compile cache, no cron schedules,
/// no runtime config file, and nothing from the environment (neither
/// variables nor `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`). A test gives a
/// runtime config file (`spin up --runtime-config-file`) by setting
/// `runtime_config_file`, e.g. to a [`crate::manifests::TempRuntimeConfig`]'s
/// path or [`crate::fake_tls::FakeTls::trusted_by`]'s.
pub fn options(manifest: &Path, variables: BTreeMap<String, String>) -> devhost::HostOptions {
    let mut options = devhost::HostOptions::new(manifest.to_path_buf(), "127.0.0.1:0".parse().expect("literal address"))
        .with_variables(variables);
    options.outbound_http.h2c_prior_knowledge = None;
    options.cache_dir = Some(crate::paths::compile_cache());
    options.run_cron_schedules = false;
    options.runtime.max_instances = 64;
    // Component logs would drown the test output; E2E_GUEST_LOGS=1 shows them.
    options.runtime.guest_output = if std::env::var_os("E2E_GUEST_LOGS").is_some() {
        devhost::runtime::GuestOutput::Inherit
    } else {
        devhost::runtime::GuestOutput::Discard
    };
    options.http.log_requests = false;
    options
}

/// `BTreeMap` from pairs, for variable overrides.
pub fn vars<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
