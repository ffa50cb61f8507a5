//! A Spin-compatible development host on wasmtime 44.
//!
//! It reads `spin.toml`, serves its HTTP routes and cron triggers, and gives
//! guests the Spin interfaces our components use. It knows nothing about the
//! application it runs; production runs the same manifest on real Spin.
//!
//! The modules read like a table of contents:
//! - [`manifest`]: `spin.toml`, validated strictly;
//! - [`routes`]: Spin's route syntax and precedence;
//! - [`variables`]: the `spin:variables@3.0.0` interface;
//! - [`postgres`]: `spin:postgres@4.2.0` on a shared pool;
//! - [`outbound_http`]: the `allowed_outbound_hosts` policy and the `wasi:http`
//!   client (pooled, HTTP/2 over TLS by ALPN, h2c by prior knowledge);
//! - [`runtime_config`]: the runtime config file (`[[client_tls]]`,
//!   `[outbound_http]`), as `spin up --runtime-config-file` reads it;
//! - [`cron`]: the cron trigger (`spin:cron@3.0.0`);
//! - [`http`]: the HTTP trigger, and [`answers`]: what the host answers itself;
//! - [`runtime`]: engine, compilation cache and per-instance state;
//! - [`phases`]: where a request's time goes, for benchmarks;
//! - [`build`]: `spin build`.

pub mod answers;
pub mod build;
pub mod cron;
pub mod http;
pub mod log;
pub mod manifest;
pub mod outbound_http;
pub mod phases;
pub mod postgres;
pub mod routes;
pub mod runtime;
pub mod runtime_config;
pub mod variables;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

pub use http::HttpSettings;
pub use outbound_http::OutboundHttpSettings;
pub use postgres::PostgresSettings;
pub use runtime::RuntimeLimits;

/// Looks up an environment variable by name.
pub type EnvLookup = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// How to start a host.
pub struct HostOptions {
    pub manifest: PathBuf,
    pub listen: SocketAddr,
    /// Where compiled components are cached; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Looks up `SPIN_VARIABLE_*` overrides (the process environment in the CLI).
    pub env: EnvLookup,
    pub http: HttpSettings,
    pub runtime: RuntimeLimits,
    pub postgres: PostgresSettings,
    pub outbound_http: OutboundHttpSettings,
    /// Spin's runtime config file (`spin up --runtime-config-file`); see
    /// [`runtime_config`]. `None` is Spin's defaults.
    pub runtime_config_file: Option<PathBuf>,
    /// Whether cron triggers run on their schedule (tests fire them by hand).
    pub run_cron_schedules: bool,
}

impl HostOptions {
    /// Options for `manifest` with the process environment (variables and
    /// `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`), default limits and no runtime
    /// config file.
    pub fn new(manifest: PathBuf, listen: SocketAddr) -> Self {
        Self {
            manifest,
            listen,
            cache_dir: None,
            env: Box::new(|name| std::env::var(name).ok()),
            http: HttpSettings::default(),
            runtime: RuntimeLimits::default(),
            postgres: PostgresSettings::default(),
            outbound_http: OutboundHttpSettings::from_env(),
            runtime_config_file: None,
            run_cron_schedules: true,
        }
    }

    /// Uses `overrides` (variable name → value) instead of the environment.
    pub fn with_variables(mut self, overrides: BTreeMap<String, String>) -> Self {
        let by_env_name: BTreeMap<String, String> = overrides
            .into_iter()
            .map(|(name, value)| (variables::env_name(&name), value))
            .collect();
        self.env = Box::new(move |name| by_env_name.get(name).cloned());
        self
    }
}

/// A running host; dropping it does not stop it, call [`RunningHost::stop`].
pub struct RunningHost {
    addr: SocketAddr,
    runtime: Arc<runtime::Runtime>,
    cron_jobs: Vec<Arc<cron::CronJob>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningHost {
    /// Loads the manifest and the runtime config file, compiles the
    /// components and starts serving.
    ///
    /// Errors: a manifest or runtime config file this host refuses (with the
    /// file and key), a required variable without value, a component that
    /// does not compile or link, an address that cannot be bound.
    pub async fn start(options: HostOptions) -> anyhow::Result<Self> {
        let loaded = manifest::LoadedManifest::load(&options.manifest)?;
        let variables = variables::Variables::resolve(&loaded.manifest, &options.env)?;
        let runtime_config = runtime_config::RuntimeConfig::load(options.runtime_config_file.as_deref())?;
        let outbound = outbound_http::OutboundClients::new(
            &options.outbound_http,
            &runtime_config.outbound_http,
            runtime_config.client_tls,
        );
        let runtime_limits = options.runtime.clone();
        let cache_dir = options.cache_dir.clone();
        let postgres = postgres::Postgres::new(options.postgres.clone());
        let runtime = tokio::task::spawn_blocking(move || {
            runtime::Runtime::load(&loaded, variables, postgres, &outbound, &runtime_limits, cache_dir.as_deref())
                .map(|rt| (rt, loaded))
        })
        .await
        .context("compiling components")??;
        let (runtime, loaded) = runtime;
        let runtime = Arc::new(runtime);

        let routes: Vec<(String, String)> = loaded
            .manifest
            .trigger
            .http
            .iter()
            .map(|t| (t.route.clone(), t.component.clone()))
            .collect();
        let trigger = Arc::new(http::HttpTrigger::new(runtime.clone(), &routes, options.http.clone())?);
        let cron_jobs = loaded
            .manifest
            .trigger
            .cron
            .iter()
            .map(|t| cron::CronJob::new(&runtime, &t.component, &t.cron_expression).map(Arc::new))
            .collect::<anyhow::Result<Vec<_>>>()?;

        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("binding {}", options.listen))?;
        let addr = listener.local_addr()?;
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let mut tasks = vec![tokio::spawn(trigger.serve(listener, async move {
            let _ = shutdown_rx.await;
        }))];
        if options.run_cron_schedules {
            for job in &cron_jobs {
                tasks.push(tokio::spawn(job.clone().run_forever(runtime.clone())));
            }
        }
        Ok(Self {
            addr,
            runtime,
            cron_jobs,
            shutdown: Some(shutdown_tx),
            tasks,
        })
    }

    /// The address the HTTP trigger listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Runs `component`'s cron handler once, now, as the schedule would.
    pub async fn fire_cron(&self, component: &str) -> anyhow::Result<Result<(), String>> {
        let job = self
            .cron_jobs
            .iter()
            .find(|job| job.component == component)
            .with_context(|| format!("no cron trigger for {component:?}"))?;
        Ok(job.run_once(&self.runtime).await)
    }

    /// How many times `component`'s cron handler has run, and failed.
    pub fn cron_counts(&self, component: &str) -> Option<(u64, u64)> {
        use std::sync::atomic::Ordering::Relaxed;
        self.cron_jobs
            .iter()
            .find(|job| job.component == component)
            .map(|job| (job.runs.load(Relaxed), job.failures.load(Relaxed)))
    }

    /// Stops accepting connections and cancels the cron schedules.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
    }

    /// Waits until the server stops (for the CLI).
    pub async fn wait(mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}
