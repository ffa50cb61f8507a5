//! `spin:postgres@4.2.0` on connection pools kept per component, as Spin keeps them.
//!
//! A `connection` resource holds one pooled client for its whole life, so a
//! guest's `BEGIN ... COMMIT` runs on one session. Failures the guest caused
//! or that the database reports (refused, unreachable, TLS, bad SQL, closed
//! connection) go back as the interface's `error` variant; the host never
//! traps for them.
//!
//! Pools follow Spin 4.0.2 (`factor-outbound-pg`): each component has its own
//! pools (one `PooledTokioClientFactory` per component id), one per address
//! and guest root certificate, at most 64 connections each and at most 16
//! pools per component. Two components on one database therefore never share
//! a connection, and an app holds up to 64 connections per component.
//!
//! TLS follows Spin too: the address's `sslmode`
//! decides. `disable` connects in plain text; `prefer` (the default when the
//! address names none) and `require` connect with native-tls, verifying the
//! server against the system roots plus the root certificate the guest gave
//! `connection-builder.set-ca-root`. There is no host-side TLS setting, as
//! Spin's runtime config has none for Postgres.

mod values;

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use sha2::Digest as _;
use tokio_postgres::config::SslMode;
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use crate::outbound_http::AllowedHosts;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/spin-postgres@4.2.0",
        world: "spin:postgres/imports",
        // WIT `async func`s get `async | store` on top (the `*WithStore`
        // traits); the blocking ones take `&mut self` (`Host*` traits), as
        // in Spin: with `store`, a blocking function would link as async
        // and no guest importing it could be instantiated.
        imports: { default: async | trappable },
        with: {
            "spin:postgres/postgres.connection": super::Connection,
            "spin:postgres/postgres.connection-builder": super::ConnectionBuilder,
        },
        trappable_error_type: {
            "spin:postgres/postgres.error" => super::PgError,
        },
    });
}

use bindings::spin::postgres::postgres::{
    self as pg, Column, DbValue, Error as GuestError, ParameterValue, QueryError, RowSet,
};

/// How long `open` waits to connect or for a free pooled connection.
///
/// Spin sets no such bound (its pools have no wait or create timeout, and
/// tokio-postgres none unless the address names `connect_timeout`): there a
/// guest waits as long as the database takes to answer a connect (the
/// kernel's SYN retries, about two minutes, for an address that drops
/// packets) or until one of the component's 64 connections comes back. We
/// keep the bound on purpose: a guest only sees it after 5 s of an outage or
/// of 64 busy connections of its own, where Spin's caller would meet its own
/// timeout anyway; the guest then gets `connection-failed`, which our
/// components answer as unavailable (503) like a refused connection, and a
/// test of an outage does not wait minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections kept per pool, as Spin (`CONNECTION_POOL_SIZE`).
const POOL_SIZE: usize = 64;
/// Pools kept per component, as Spin (`CONNECTION_POOL_CACHE_CAPACITY`).
const POOLS_PER_COMPONENT: usize = 16;

/// How the host runs the guests' statements.
#[derive(Debug, Clone, Default)]
pub struct PostgresSettings {
    /// Prepares each distinct statement once per pooled connection and reuses
    /// it. Off by default, as on Spin, which hands tokio-postgres the SQL text
    /// on every call: a prepare round trip, then bind and execute.
    pub statement_cache: bool,
}

/// An error for the guest, or a host fault that must trap.
pub enum PgError {
    Guest(GuestError),
    Trap(wasmtime::Error),
}

impl From<GuestError> for PgError {
    fn from(error: GuestError) -> Self {
        Self::Guest(error)
    }
}

impl From<wasmtime::Error> for PgError {
    fn from(error: wasmtime::Error) -> Self {
        Self::Trap(error)
    }
}

impl From<wasmtime::component::ResourceTableError> for PgError {
    fn from(error: wasmtime::component::ResourceTableError) -> Self {
        Self::Trap(error.into())
    }
}

impl bindings::spin::postgres::postgres::Host for PostgresView<'_> {
    fn convert_error(&mut self, error: PgError) -> wasmtime::Result<GuestError> {
        match error {
            PgError::Guest(error) => Ok(error),
            PgError::Trap(error) => Err(error),
        }
    }
}

/// Which trigger runs an instance. `spin up` runs each trigger type in a
/// process of its own (the cron trigger is a plugin), each with its own
/// pools, so a component served by both holds two sets of connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    Http,
    Cron,
}

/// Every component's pools, created on a component's first instance.
#[derive(Clone, Default)]
pub struct Postgres {
    settings: PostgresSettings,
    components: Arc<Mutex<HashMap<(Trigger, String), ComponentPools>>>,
}

impl Postgres {
    /// No pools yet; statements run as `settings` say.
    pub fn new(settings: PostgresSettings) -> Self {
        Self {
            settings,
            components: Arc::default(),
        }
    }

    /// The pools of `component`'s instances under `trigger`.
    pub fn component(&self, trigger: Trigger, component: &str) -> ComponentPools {
        let mut components = self.components.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        components
            .entry((trigger, component.to_owned()))
            .or_insert_with(|| ComponentPools {
                statement_cache: self.settings.statement_cache,
                pools: Arc::default(),
            })
            .clone()
    }
}

/// One component's pools, as Spin's per-component `PooledTokioClientFactory`.
#[derive(Clone)]
pub struct ComponentPools {
    statement_cache: bool,
    pools: Arc<Mutex<PoolCache>>,
}

/// As Spin keys its pools: the address and the SHA-256 of the guest's root
/// certificate, so the same address with another root gets its own pool.
type PoolKey = (String, Option<String>);

/// At most [`POOLS_PER_COMPONENT`] pools; a new one evicts the least recently
/// used. Spin's moka cache has the same capacity (its eviction policy,
/// TinyLFU, may differ in which pool goes; a guest cannot tell). An evicted
/// pool closes its idle connections at once and the checked-out ones when
/// their guests drop them (a pooled connection holds only a weak reference to
/// its pool), as on Spin.
#[derive(Default)]
struct PoolCache {
    // Invariant: at most `POOLS_PER_COMPONENT` entries; each `u64` is the
    // `uses` count of its pool's last checkout, so the smallest is the least
    // recently used.
    pools: HashMap<PoolKey, (Pool, u64)>,
    uses: u64,
}

impl PoolCache {
    fn get_or_try_insert(&mut self, key: PoolKey, create: impl FnOnce() -> Result<Pool, GuestError>) -> Result<Pool, GuestError> {
        self.uses += 1;
        if let Some((pool, last_used)) = self.pools.get_mut(&key) {
            *last_used = self.uses;
            return Ok(pool.clone());
        }
        let pool = create()?;
        if self.pools.len() >= POOLS_PER_COMPONENT {
            let oldest = self.pools.iter().min_by_key(|(_, (_, last_used))| *last_used).map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.pools.remove(&oldest);
            }
        }
        self.pools.insert(key, (pool.clone(), self.uses));
        Ok(pool)
    }
}

impl ComponentPools {
    fn pool(&self, address: &str, root: Option<&RootCertificate>) -> Result<Pool, GuestError> {
        // The lock guards only the map; connecting happens outside it.
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = (address.to_owned(), root.map(|root| root.sha256.clone()));
        pools.get_or_try_insert(key, || new_pool(address, root))
    }
}

fn new_pool(address: &str, root: Option<&RootCertificate>) -> Result<Pool, GuestError> {
    let mut config = tokio_postgres::Config::from_str(address)
        .map_err(|e| GuestError::ConnectionFailed(format!("invalid address: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    // As Spin: a connection is cleaned (`RESET ALL`, `CLOSE ALL`, advisory
    // unlocks, ...) before it is reused, one round trip per checkout, so a
    // guest's session settings never leak into the next request.
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Clean,
    };
    let manager = if config.get_ssl_mode() == SslMode::Disable {
        Manager::from_config(config, tokio_postgres::NoTls, manager_config)
    } else {
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(root) = root {
            builder.add_root_certificate(root.certificate.clone());
        }
        let connector = builder
            .build()
            .map_err(|e| GuestError::ConnectionFailed(format!("cannot set up TLS: {}", with_causes(&e))))?;
        Manager::from_config(config, postgres_native_tls::MakeTlsConnector::new(connector), manager_config)
    };
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| GuestError::ConnectionFailed(e.to_string()))
}

/// A root certificate a guest gave `set-ca-root`, with the digest that keys its pool.
#[derive(Clone)]
struct RootCertificate {
    certificate: native_tls::Certificate,
    sha256: String,
}

impl RootCertificate {
    /// Parses PEM text as Spin does: native-tls reads the first certificate only.
    fn from_pem(text: &str) -> Result<Self, GuestError> {
        let certificate = native_tls::Certificate::from_pem(text.as_bytes())
            .map_err(|e| GuestError::Other(format!("invalid root certificate: {}", with_causes(&e))))?;
        Ok(Self {
            certificate,
            sha256: hex::encode(sha2::Sha256::digest(text.as_bytes())),
        })
    }
}

/// Per-instance state.
pub struct PostgresCtx {
    /// The pools of the instance's component.
    pub pools: ComponentPools,
    pub allowed: AllowedHosts,
}

/// What the bindings see: the instance state and its resource table.
pub struct PostgresView<'a> {
    pub ctx: &'a mut PostgresCtx,
    pub table: &'a mut ResourceTable,
}

/// The host side of a `connection` resource.
pub struct Connection {
    client: Arc<deadpool_postgres::Object>,
    // Set once the guest starts a transaction, so that dropping the
    // connection rolls it back before the client returns to the pool.
    in_transaction: Arc<std::sync::atomic::AtomicBool>,
    statement_cache: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.in_transaction.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let client = self.client.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = client.simple_query("ROLLBACK").await;
            });
        }
    }
}

/// The host side of a `connection-builder` resource.
pub struct ConnectionBuilder {
    address: String,
    root: Option<RootCertificate>,
}

struct HostPostgres;

impl HasData for HostPostgres {
    type Data<'a> = PostgresView<'a>;
}

/// Adds `spin:postgres@4.2.0` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> PostgresView<'_>,
) -> wasmtime::Result<()> {
    pg::add_to_linker::<T, HostPostgres>(linker, get)
}

/// Checks `address` against the allow-list and takes a pooled connection.
async fn connect(
    pools: &ComponentPools,
    allowed: &AllowedHosts,
    address: &str,
    root: Option<&RootCertificate>,
) -> Result<Connection, GuestError> {
    if !allowed.allows_postgres(address) {
        // The same words Spin uses, so guests and logs read alike.
        return Err(GuestError::ConnectionFailed(format!(
            "address {} is not permitted",
            redact_password(address)
        )));
    }
    let pool = pools.pool(address, root)?;
    let timing = crate::phases::start();
    let checkout = pool.get().await;
    crate::phases::finish(crate::phases::Phase::PostgresConnect, timing);
    let client = match checkout {
        Ok(client) => client,
        Err(error) => {
            let reason = connect_error_text(&error);
            if is_tls_failure(&error) {
                // The guest only sees a failed connection; whoever runs the
                // host needs to know that the certificate or sslmode is wrong.
                crate::log::event(
                    "error",
                    "postgres TLS handshake failed",
                    &[("address", redact_password(address).into()), ("error", reason.as_str().into())],
                );
            }
            return Err(GuestError::ConnectionFailed(reason));
        }
    };
    Ok(Connection {
        client: Arc::new(client),
        in_transaction: Default::default(),
        statement_cache: pools.statement_cache,
    })
}

/// [`connect`] for a `*-async` function, the result in the instance's table.
async fn connect_async<T>(
    accessor: &Accessor<T, HostPostgres>,
    address: &str,
    root: Option<&RootCertificate>,
) -> Result<Resource<Connection>, PgError> {
    let (pools, allowed) = accessor.with(|mut access| {
        let view = access.get();
        (view.ctx.pools.clone(), view.ctx.allowed.clone())
    });
    let connection = connect(&pools, &allowed, address, root).await?;
    Ok(accessor.with(|mut access| access.get().table.push(connection))?)
}

fn connect_error_text(error: &PoolError) -> String {
    match error {
        PoolError::Timeout(_) => "timed out waiting for a database connection".to_owned(),
        PoolError::Backend(e) => format!("cannot connect to database: {}", with_causes(e)),
        other => format!("cannot connect to database: {}", with_causes(other)),
    }
}

/// Whether connecting failed in TLS: the handshake, verifying the server, or
/// a server without TLS under `sslmode=require`.
fn is_tls_failure(error: &PoolError) -> bool {
    // tokio-postgres exposes no error kind; its TLS kind displays exactly
    // this text (the cause comes separately, through `source`).
    matches!(error, PoolError::Backend(e) if e.to_string() == "error performing TLS handshake")
}

/// `error` and its causes, `outer: inner: ...`: tokio-postgres leaves the
/// cause (the refused connection, the failed verification) out of `Display`.
/// A cause whose text is already there is skipped.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn redact_password(address: &str) -> String {
    match url::Url::parse(address) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => address.to_owned(),
    }
}

/// What a statement needs of a connection, taken out of the table so that
/// no borrow of the instance is held while the database works.
struct Prepared {
    client: Arc<deadpool_postgres::Object>,
    in_transaction: Arc<std::sync::atomic::AtomicBool>,
    statement_cache: bool,
}

impl Prepared {
    fn of(connection: &Connection) -> Self {
        Self {
            client: connection.client.clone(),
            in_transaction: connection.in_transaction.clone(),
            statement_cache: connection.statement_cache,
        }
    }
}

fn prepared<T>(accessor: &Accessor<T, HostPostgres>, connection: &Resource<Connection>) -> Result<Prepared, PgError> {
    accessor.with(|mut access| Ok(Prepared::of(access.get().table.get(connection)?)))
}

/// Runs a query; `blocking` for the blocking `query`, whose failures while
/// the statement runs reach the guest as Spin 4.0.2 reports them.
async fn run_query(
    prepared: &Prepared,
    statement: &str,
    params: Vec<ParameterValue>,
    blocking: bool,
) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), GuestError> {
    let timing = crate::phases::start();
    note_transaction(prepared, statement);
    let params = values::to_sql_params(params)?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let running = |error| if blocking { as_spin_query_text(query_error(error)) } else { query_error(error) };
    let (columns, rows) = if prepared.statement_cache {
        let stmt = prepared.client.prepare_cached(statement).await.map_err(query_error)?;
        let rows = prepared.client.query(&stmt, &refs).await.map_err(running)?;
        (values::columns(stmt.columns()), rows)
    } else {
        let stmt = prepared.client.prepare(statement).await.map_err(query_error)?;
        let rows = prepared.client.query(&stmt, &refs).await.map_err(running)?;
        // Spin takes the columns from the first row: none without rows.
        let columns = rows.first().map(|row| values::columns(row.columns())).unwrap_or_default();
        (columns, rows)
    };
    let rows = rows
        .iter()
        .map(values::row)
        .collect::<Result<Vec<_>, _>>()?;
    crate::phases::finish(crate::phases::Phase::PostgresStatement, timing);
    Ok((columns, rows))
}

async fn run_execute(prepared: &Prepared, statement: &str, params: Vec<ParameterValue>) -> Result<u64, GuestError> {
    let timing = crate::phases::start();
    note_transaction(prepared, statement);
    let params = values::to_sql_params(params)?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let changed = if prepared.statement_cache {
        let stmt = prepared.client.prepare_cached(statement).await.map_err(query_error)?;
        prepared.client.execute(&stmt, &refs).await.map_err(query_error)
    } else {
        prepared.client.execute(statement, &refs).await.map_err(query_error)
    };
    crate::phases::finish(crate::phases::Phase::PostgresStatement, timing);
    changed
}

fn note_transaction(prepared: &Prepared, statement: &str) {
    let head = statement.trim_start().get(..5).unwrap_or_default().to_ascii_lowercase();
    if head == "begin" || head == "start" {
        prepared
            .in_transaction
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn query_error(error: tokio_postgres::Error) -> GuestError {
    match error.as_db_error() {
        Some(db) => GuestError::QueryFailed(QueryError::DbError(pg::DbError {
            as_text: format!("{error:?}"),
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras: db_extras(db),
        })),
        None if error.is_closed() => GuestError::ConnectionFailed(format!("connection closed: {error}")),
        None => GuestError::QueryFailed(QueryError::Text(error.to_string())),
    }
}

/// The error's optional fields, named and ordered as Spin 4.0.2 lists them.
fn db_extras(db: &tokio_postgres::error::DbError) -> Vec<(String, String)> {
    let line = db.line().map(|line| line.to_string());
    [
        ("column", db.column()),
        ("constraint", db.constraint()),
        ("routine", db.routine()),
        ("hint", db.hint()),
        ("table", db.table()),
        ("datatype", db.datatype()),
        ("schema", db.schema()),
        ("file", db.file()),
        ("line", line.as_deref()),
        ("where_", db.where_()),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|value| (name.to_owned(), value.to_owned())))
    .collect()
}

/// Spin 4.0.2's blocking `query` reports a failure while the statement runs
/// (after it was prepared: a unique violation, a failed cast) as text, the
/// error's debug form, with no SQLSTATE field; only a failure to prepare
/// keeps its structure. `execute` keeps it always.
fn as_spin_query_text(error: GuestError) -> GuestError {
    match error {
        GuestError::QueryFailed(QueryError::DbError(_)) => GuestError::QueryFailed(QueryError::Text(format!("{error:?}"))),
        other => other,
    }
}

impl pg::HostConnection for PostgresView<'_> {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, PgError> {
        let connection = connect(&self.ctx.pools, &self.ctx.allowed, &address, None).await?;
        Ok(self.table.push(connection)?)
    }

    async fn query(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, PgError> {
        let prepared = Prepared::of(self.table.get(&connection)?);
        let (columns, rows) = run_query(&prepared, &statement, params, true).await?;
        if rows.is_empty() {
            // Spin 4.0.2's blocking `query` collects the rows, then waits for
            // the column list that only a first row sends: without rows it
            // never returns, and the request hangs. A trap here (500) makes
            // the same mistake fail at once instead of passing.
            return Err(PgError::Trap(wasmtime::Error::msg(format!(
                "spin:postgres `query` yielded no row: Spin 4.0.2 never returns from that (its columns wait for a first row); \
                 statement: {}",
                statement.chars().take(200).collect::<String>()
            ))));
        }
        Ok(RowSet { columns, rows })
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, PgError> {
        let prepared = Prepared::of(self.table.get(&connection)?);
        Ok(run_execute(&prepared, &statement, params).await?)
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl pg::HostConnectionWithStore for HostPostgres {
    async fn open_async<T>(accessor: &Accessor<T, Self>, address: String) -> Result<Resource<Connection>, PgError> {
        connect_async(accessor, &address, None).await
    }

    async fn query_async<T>(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(Vec<Column>, StreamReader<Vec<DbValue>>, FutureReader<Result<(), GuestError>>), PgError> {
        let prepared = prepared(accessor, &connection)?;
        let (columns, rows) = run_query(&prepared, &statement, params, false).await?;
        // The rows are already buffered: hand them over as a finished stream
        // and an already-resolved completion future.
        let (stream, future) = accessor.with(|mut access| -> wasmtime::Result<_> {
            let stream = StreamReader::new(&mut access, rows)?;
            let future = FutureReader::new(&mut access, async { Ok::<_, wasmtime::Error>(Ok(())) })?;
            Ok((stream, future))
        })?;
        Ok((columns, stream, future))
    }

    async fn execute_async<T>(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, PgError> {
        let prepared = prepared(accessor, &connection)?;
        Ok(run_execute(&prepared, &statement, params).await?)
    }
}

impl pg::HostConnectionBuilder for PostgresView<'_> {
    async fn new(&mut self, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        Ok(self.table.push(ConnectionBuilder { address, root: None })?)
    }

    async fn set_ca_root(&mut self, builder: Resource<ConnectionBuilder>, certificate: String) -> Result<(), PgError> {
        let root = RootCertificate::from_pem(&certificate)?;
        self.table.get_mut(&builder)?.root = Some(root);
        Ok(())
    }

    async fn build(&mut self, builder: Resource<ConnectionBuilder>) -> Result<Resource<Connection>, PgError> {
        let builder = self.table.get(&builder)?;
        let (address, root) = (builder.address.clone(), builder.root.clone());
        let connection = connect(&self.ctx.pools, &self.ctx.allowed, &address, root.as_ref()).await?;
        Ok(self.table.push(connection)?)
    }

    async fn drop(&mut self, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        self.table.delete(builder)?;
        Ok(())
    }
}

impl pg::HostConnectionBuilderWithStore for HostPostgres {
    async fn build_async<T>(
        accessor: &Accessor<T, Self>,
        builder: Resource<ConnectionBuilder>,
    ) -> Result<Resource<Connection>, PgError> {
        let (address, root) = accessor.with(|mut access| {
            let builder = access.get().table.get(&builder)?;
            Ok::<_, PgError>((builder.address.clone(), builder.root.clone()))
        })?;
        connect_async(accessor, &address, root.as_ref()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_ROOT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBjjCCATWgAwIBAgIUFkKtTR0h0YuAFGkuidqLXCiTfwUwCgYIKoZIzj0EAwIw\n\
HDEaMBgGA1UEAwwRZGV2aG9zdCB0ZXN0IHJvb3QwIBcNMjYxMjAyMDc1NzQ1WhgP\n\
MjEyNjExMDgwNzU3NDVaMBwxGjAYBgNVBAMMEWRldmhvc3QgdGVzdCByb290MFkw\n\
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAGPjQ82KOeWWKv2lQUsBISuU+3TUPT1G\n\
hGX0ANfaK+swLHhXu31UG3LhLeJrsvszX5F29Ni8iM29Y+DZ3DBsXaNTMFEwHQYD\n\
VR0OBBYEFOAS1r4sHQGeNnDdyv3KcYx8RUpCMB8GA1UdIwQYMBaAFOAS1r4sHQGe\n\
NnDdyv3KcYx8RUpCMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg\n\
XnOc6CPaAfa1smb3DZTcM3xx/AtHs7Vu2bou2i6+unACIDcfj0Dr6MmDTOZcNAul\n\
4b7dHTLFchyqQa5d1MvzLKGS\n\
-----END CERTIFICATE-----\n\
";

    #[test]
    fn causes_are_joined_once() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("error connecting to server")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Outer(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused"));
        assert_eq!(with_causes(&refused), "error connecting to server: Connection refused");
        let io = std::io::Error::other("already said");
        assert_eq!(with_causes(&io), "already said");
    }

    #[test]
    fn root_certificates_are_pem_and_keyed_by_their_text() {
        // A throwaway self-signed certificate (`openssl req -x509 -newkey ec`).
        let pem = TEST_ROOT;
        let root = RootCertificate::from_pem(pem).unwrap_or_else(|_| panic!("parses"));
        assert_eq!(root.sha256, hex::encode(sha2::Sha256::digest(pem.as_bytes())));
        match RootCertificate::from_pem("not a certificate") {
            Err(GuestError::Other(text)) => assert!(text.starts_with("invalid root certificate"), "{text}"),
            _ => panic!("garbage must be refused as `other`"),
        }
    }

    fn address(port: u16) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/app?sslmode=disable")
    }

    fn cached(pools: &ComponentPools) -> Vec<PoolKey> {
        let mut keys: Vec<PoolKey> = pools.pools.lock().unwrap().pools.keys().cloned().collect();
        keys.sort();
        keys
    }

    #[test]
    fn each_component_and_trigger_has_its_own_pools() {
        let postgres = Postgres::new(PostgresSettings::default());
        let probe = postgres.component(Trigger::Http, "probe");
        assert!(Arc::ptr_eq(&probe.pools, &postgres.component(Trigger::Http, "probe").pools));
        assert!(!Arc::ptr_eq(&probe.pools, &postgres.component(Trigger::Http, "other-probe").pools));
        assert!(!Arc::ptr_eq(&probe.pools, &postgres.component(Trigger::Cron, "probe").pools));
        // Building a pool connects nothing, so no database is needed here.
        probe.pool(&address(1), None).unwrap_or_else(|_| panic!("a pool"));
        assert_eq!(cached(&probe).len(), 1);
        assert!(cached(&postgres.component(Trigger::Http, "other-probe")).is_empty());
    }

    #[test]
    fn a_component_keeps_sixteen_pools_and_drops_the_least_recently_used() {
        let pools = Postgres::default().component(Trigger::Http, "probe");
        for port in 1..=16 {
            pools.pool(&address(port), None).unwrap_or_else(|_| panic!("a pool"));
        }
        pools.pool(&address(1), None).unwrap_or_else(|_| panic!("a pool"));
        pools.pool(&address(17), None).unwrap_or_else(|_| panic!("a pool"));
        let keys = cached(&pools);
        assert_eq!(keys.len(), POOLS_PER_COMPONENT);
        assert!(keys.contains(&(address(1), None)), "used again, so kept");
        assert!(keys.contains(&(address(17), None)));
        assert!(!keys.contains(&(address(2), None)), "the least recently used goes");
        // Another root certificate is another pool.
        let root = RootCertificate::from_pem(TEST_ROOT).unwrap_or_else(|_| panic!("parses"));
        pools.pool(&address(1), Some(&root)).unwrap_or_else(|_| panic!("a pool"));
        assert!(cached(&pools).contains(&(address(1), Some(root.sha256.clone()))));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("postgres://app:hunter2@db.example.com:5432/app?sslmode=require"),
            "postgres://app:***@db.example.com:5432/app?sslmode=require"
        );
        assert_eq!(redact_password("postgres://app@db:5432/app"), "postgres://app@db:5432/app");
    }
}
