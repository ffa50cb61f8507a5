//! The wasmtime side: one engine with the pooling allocator, every component
//! compiled once (and cached on disk), and a fresh store per invocation that
//! carries each capability's per-instance state.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sha2::Digest as _;
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::{WasiHttpCtxView, WasiHttpView};
use wasmtime_wasi_http::WasiHttpCtx;

use crate::manifest::LoadedManifest;
use crate::outbound_http::{AllowedHosts, OutboundClients, OutboundHttp};
use crate::postgres::{Postgres, PostgresCtx, PostgresView, Trigger};
use crate::variables::{Variables, VariablesCtx};

/// How often the epoch ticks; guests yield to the executor at each tick, so
/// a spinning guest cannot starve other requests and can be timed out.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits of the runtime.
#[derive(Debug, Clone)]
pub struct RuntimeLimits {
    /// Invocations served at once; further ones wait for a slot. The pool
    /// holds twice as many instances, for the cron trigger's and for those
    /// still being torn down.
    pub max_instances: u32,
    /// Linear memory one instance may grow to.
    pub max_memory_bytes: usize,
    /// What becomes of the guests' stdout and stderr.
    pub guest_output: GuestOutput,
}

/// The buffer type of [`GuestOutput::CaptureStderr`].
pub use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

/// Where guest output goes.
#[derive(Debug, Clone)]
pub enum GuestOutput {
    /// To the host's stdout and stderr, as Spin logs them.
    Inherit,
    /// Nowhere (quiet tests).
    Discard,
    /// Stderr into one shared in-memory buffer, for tests that read the logs.
    CaptureStderr(MemoryOutputPipe),
}

impl Default for RuntimeLimits {
    fn default() -> Self {
        Self {
            max_instances: 256,
            max_memory_bytes: 128 << 20,
            guest_output: GuestOutput::Inherit,
        }
    }
}

/// The state of one instance: what each capability needs.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound: OutboundHttp,
    variables: VariablesCtx,
    postgres: PostgresCtx,
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.outbound,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

/// A compiled component, ready to instantiate.
pub struct LoadedComponent {
    pub id: String,
    pub pre: InstancePre<InstanceState>,
    pub allowed: AllowedHosts,
    /// What each instance's outbound HTTP starts from.
    outbound: OutboundHttp,
}

/// Everything needed to create instances of the application's components.
pub struct Runtime {
    pub engine: Engine,
    pub components: BTreeMap<String, Arc<LoadedComponent>>,
    pub variables: Variables,
    postgres: Postgres,
    slots: Arc<tokio::sync::Semaphore>,
    guest_output: GuestOutput,
}

impl Runtime {
    /// Compiles every component of the manifest and links the capabilities.
    pub fn load(
        loaded: &LoadedManifest,
        variables: Variables,
        postgres: Postgres,
        outbound: &OutboundClients,
        limits: &RuntimeLimits,
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let engine = engine(limits)?;
        let linker = linker(&engine)?;
        let mut components = BTreeMap::new();
        for (id, decl) in &loaded.manifest.component {
            let path = loaded.source_path(decl);
            let component = compile(&engine, &path, cache_dir)
                .with_context(|| format!("component {id:?} ({})", path.display()))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(|e| anyhow::anyhow!("linking component {id:?}: {e:?}"))?;
            let patterns = decl
                .allowed_outbound_hosts
                .iter()
                .map(|p| variables.expand(p))
                .collect::<anyhow::Result<Vec<_>>>()
                .with_context(|| format!("[component.{id}] allowed_outbound_hosts"))?;
            let allowed = AllowedHosts::parse(&patterns).with_context(|| format!("[component.{id}]"))?;
            components.insert(
                id.clone(),
                Arc::new(LoadedComponent {
                    id: id.clone(),
                    pre,
                    outbound: outbound.hooks(id, allowed.clone()),
                    allowed,
                }),
            );
        }
        start_epoch_ticker(&engine);
        Ok(Self {
            engine,
            components,
            variables,
            postgres,
            slots: Arc::new(tokio::sync::Semaphore::new(limits.max_instances as usize)),
            guest_output: limits.guest_output.clone(),
        })
    }

    /// Waits for an instance slot; holding the permit keeps the pool from
    /// running out of instances.
    pub async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        // Invariant: the semaphore is never closed.
        self.slots.clone().acquire_owned().await.expect("semaphore closed")
    }

    fn wasi_ctx(&self) -> WasiCtx {
        let mut builder = WasiCtxBuilder::new();
        match &self.guest_output {
            GuestOutput::Inherit => {
                builder.inherit_stdout().inherit_stderr();
            }
            GuestOutput::Discard => {}
            GuestOutput::CaptureStderr(pipe) => {
                builder.stderr(pipe.clone());
            }
        }
        builder.build()
    }

    /// A fresh store for one instance of `component`, run by `trigger`.
    pub fn store(&self, component: &LoadedComponent, trigger: Trigger) -> Store<InstanceState> {
        let state = InstanceState {
            table: ResourceTable::new(),
            wasi: self.wasi_ctx(),
            http: WasiHttpCtx::new(),
            outbound: component.outbound.clone(),
            variables: VariablesCtx {
                component: component.id.clone(),
                variables: self.variables.clone(),
            },
            postgres: PostgresCtx {
                pools: self.postgres.component(trigger, &component.id),
                allowed: component.allowed.clone(),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        store
    }
}

fn engine(limits: &RuntimeLimits) -> anyhow::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    let instances = limits.max_instances * 2;
    pooling
        .total_component_instances(instances)
        .total_core_instances(instances * 16)
        .total_memories(instances * 4)
        .total_tables(instances * 16)
        .total_stacks(instances * 4)
        .max_memory_size(limits.max_memory_bytes);
    let mut config = Config::new();
    config
        .wasm_component_model_async(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    // `perf record` can name the guests' functions with a perf map
    // (/tmp/perf-<pid>.map): DEVHOST_PROFILER=perfmap.
    if std::env::var("DEVHOST_PROFILER").as_deref() == Ok("perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Engine::new(&config).map_err(|e| anyhow::anyhow!("creating engine: {e}"))
}

fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::<InstanceState>::new(engine);
    // Guests are WASI 0.2 components serving `wasi:http/incoming-handler@0.2`.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(to_anyhow)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(to_anyhow)?;
    crate::variables::add_to_linker(&mut linker, |state| &mut state.variables).map_err(to_anyhow)?;
    crate::postgres::add_to_linker(&mut linker, |state| PostgresView {
        ctx: &mut state.postgres,
        table: &mut state.table,
    })
    .map_err(to_anyhow)?;
    Ok(linker)
}

/// wasmtime 44 has its own error type, which does not convert implicitly.
pub fn to_anyhow(error: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{error:?}")
}

/// Compiles `path`, reusing a cached compilation keyed by the bytes and the
/// engine's settings: compiling takes seconds, loading the cache milliseconds.
fn compile(engine: &Engine, path: &Path, cache_dir: Option<&Path>) -> anyhow::Result<Component> {
    let bytes = std::fs::read(path).with_context(|| {
        format!("reading {} (run the build first: `cargo xtask build`)", path.display())
    })?;
    let Some(cache_dir) = cache_dir else {
        return Component::new(engine, &bytes).map_err(to_anyhow);
    };
    let cached = cache_path(engine, cache_dir, &bytes);
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine
        // with the same compatibility hash (part of the file name), and only
        // this host writes into the cache directory.
        if let Ok(component) = unsafe { Component::deserialize_file(engine, &cached) } {
            return Ok(component);
        }
    }
    let component = Component::new(engine, &bytes).map_err(to_anyhow)?;
    if let Ok(serialized) = component.serialize() {
        let _ = std::fs::create_dir_all(cache_dir);
        // Write then rename, so a concurrent reader never sees half a file.
        let temporary = cached.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&temporary, serialized).is_ok() {
            let _ = std::fs::rename(&temporary, &cached);
        }
    }
    Ok(component)
}

fn cache_path(engine: &Engine, cache_dir: &Path, bytes: &[u8]) -> PathBuf {
    use std::hash::{Hash as _, Hasher as _};
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let digest = sha2::Sha256::digest(bytes);
    cache_dir.join(format!("{}-{:016x}.cwasm", hex::encode(&digest[..16]), engine_hash.finish()))
}

fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("devhost-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawning the epoch thread");
}
