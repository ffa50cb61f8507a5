//! `spin:postgres@4.2.0` on a connection pool shared by every instance.
//!
//! A `connection` resource holds one pooled client for its whole life, so a
//! guest's `BEGIN ... COMMIT` runs on one session. Failures the guest caused
//! or that the database reports (refused, unreachable, bad SQL, closed
//! connection) go back as the interface's `error` variant; the host never
//! traps for them.

mod values;

use std::collections::HashMap;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use wasmtime::component::{Accessor, FutureReader, HasData, Resource, ResourceTable, StreamReader};

use crate::outbound_http::AllowedHosts;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-postgres@4.2.0",
        world: "spin:postgres/host",
        imports: { default: async | store | trappable },
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
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections kept per database address.
const POOL_SIZE: usize = 32;

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

/// The pools of every database address the guests have opened.
#[derive(Clone, Default)]
pub struct Postgres {
    pools: Arc<Mutex<HashMap<String, Pool>>>,
}

impl Postgres {
    fn pool(&self, address: &str) -> Result<Pool, GuestError> {
        // The lock guards only the map; connecting happens outside it.
        let mut pools = self.pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let mut config = tokio_postgres::Config::from_str(address)
            .map_err(|e| GuestError::ConnectionFailed(format!("invalid address: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| GuestError::ConnectionFailed(e.to_string()))?;
        pools.insert(address.to_owned(), pool.clone());
        Ok(pool)
    }
}

/// Per-instance state.
pub struct PostgresCtx {
    pub postgres: Postgres,
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

async fn open<T>(accessor: &Accessor<T, HostPostgres>, address: String) -> Result<Resource<Connection>, PgError> {
    let (postgres, allowed) = accessor.with(|mut access| {
        let view = access.get();
        (view.ctx.postgres.clone(), view.ctx.allowed.clone())
    });
    if !allowed.allows_url(&address) {
        // The same words Spin uses, so guests and logs read alike.
        return Err(GuestError::ConnectionFailed(format!(
            "address {} is not permitted",
            redact_password(&address)
        ))
        .into());
    }
    let pool = postgres.pool(&address)?;
    let client = pool
        .get()
        .await
        .map_err(|e| GuestError::ConnectionFailed(connect_error_text(&e)))?;
    let connection = Connection {
        client: Arc::new(client),
        in_transaction: Default::default(),
    };
    Ok(accessor.with(|mut access| access.get().table.push(connection))?)
}

fn connect_error_text(error: &deadpool_postgres::PoolError) -> String {
    use deadpool_postgres::PoolError;
    match error {
        PoolError::Timeout(_) => "timed out waiting for a database connection".to_owned(),
        PoolError::Backend(e) => format!("cannot connect to database: {e}"),
        other => format!("cannot connect to database: {other}"),
    }
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

struct Prepared {
    client: Arc<deadpool_postgres::Object>,
    in_transaction: Arc<std::sync::atomic::AtomicBool>,
}

fn prepared<T>(accessor: &Accessor<T, HostPostgres>, connection: &Resource<Connection>) -> Result<Prepared, PgError> {
    accessor.with(|mut access| {
        let connection = access.get().table.get(connection)?;
        Ok(Prepared {
            client: connection.client.clone(),
            in_transaction: connection.in_transaction.clone(),
        })
    })
}

async fn run_query(
    prepared: &Prepared,
    statement: &str,
    params: Vec<ParameterValue>,
) -> Result<(Vec<Column>, Vec<Vec<DbValue>>), GuestError> {
    note_transaction(prepared, statement);
    let params = values::to_sql_params(params)?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let stmt = prepared.client.prepare_cached(statement).await.map_err(query_error)?;
    let rows = prepared.client.query(&stmt, &refs).await.map_err(query_error)?;
    let columns = values::columns(stmt.columns());
    let rows = rows
        .iter()
        .map(values::row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((columns, rows))
}

async fn run_execute(prepared: &Prepared, statement: &str, params: Vec<ParameterValue>) -> Result<u64, GuestError> {
    note_transaction(prepared, statement);
    let params = values::to_sql_params(params)?;
    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let stmt = prepared.client.prepare_cached(statement).await.map_err(query_error)?;
    prepared.client.execute(&stmt, &refs).await.map_err(query_error)
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
            as_text: error.to_string(),
            severity: db.severity().to_owned(),
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
            detail: db.detail().map(str::to_owned),
            extras: db
                .hint()
                .map(|hint| vec![("hint".to_owned(), hint.to_owned())])
                .unwrap_or_default(),
        })),
        None if error.is_closed() => GuestError::ConnectionFailed(format!("connection closed: {error}")),
        None => GuestError::QueryFailed(QueryError::Text(error.to_string())),
    }
}

impl pg::HostConnectionWithStore for HostPostgres {
    async fn open<T>(accessor: &Accessor<T, Self>, address: String) -> Result<Resource<Connection>, PgError> {
        open(accessor, address).await
    }

    async fn open_async<T>(accessor: &Accessor<T, Self>, address: String) -> Result<Resource<Connection>, PgError> {
        open(accessor, address).await
    }

    async fn query<T>(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, PgError> {
        let prepared = prepared(accessor, &connection)?;
        let (columns, rows) = run_query(&prepared, &statement, params).await?;
        Ok(RowSet { columns, rows })
    }

    async fn query_async<T>(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<(Vec<Column>, StreamReader<Vec<DbValue>>, FutureReader<Result<(), GuestError>>), PgError> {
        let prepared = prepared(accessor, &connection)?;
        let (columns, rows) = run_query(&prepared, &statement, params).await?;
        // The rows are already buffered: hand them over as a finished stream
        // and an already-resolved completion future.
        let (stream, future) = accessor.with(|mut access| -> wasmtime::Result<_> {
            let stream = StreamReader::new(&mut access, rows)?;
            let future = FutureReader::new(&mut access, async { Ok::<_, wasmtime::Error>(Ok(())) })?;
            Ok((stream, future))
        })?;
        Ok((columns, stream, future))
    }

    async fn execute<T>(
        accessor: &Accessor<T, Self>,
        connection: Resource<Connection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, PgError> {
        let prepared = prepared(accessor, &connection)?;
        Ok(run_execute(&prepared, &statement, params).await?)
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

    async fn drop<T>(accessor: &Accessor<T, Self>, connection: Resource<Connection>) -> wasmtime::Result<()> {
        accessor.with(|mut access| access.get().table.delete(connection))?;
        Ok(())
    }
}

impl pg::HostConnection for PostgresView<'_> {}

impl pg::HostConnectionBuilderWithStore for HostPostgres {
    async fn new<T>(accessor: &Accessor<T, Self>, address: String) -> wasmtime::Result<Resource<ConnectionBuilder>> {
        Ok(accessor.with(|mut access| access.get().table.push(ConnectionBuilder { address }))?)
    }

    async fn set_ca_root<T>(
        _accessor: &Accessor<T, Self>,
        _builder: Resource<ConnectionBuilder>,
        _certificate: String,
    ) -> Result<(), PgError> {
        Err(GuestError::Other("TLS connections are not supported by the devhost".to_owned()).into())
    }

    async fn build<T>(accessor: &Accessor<T, Self>, builder: Resource<ConnectionBuilder>) -> Result<Resource<Connection>, PgError> {
        let address = accessor.with(|mut access| Ok::<_, PgError>(access.get().table.get(&builder)?.address.clone()))?;
        open(accessor, address).await
    }

    async fn build_async<T>(
        accessor: &Accessor<T, Self>,
        builder: Resource<ConnectionBuilder>,
    ) -> Result<Resource<Connection>, PgError> {
        let address = accessor.with(|mut access| Ok::<_, PgError>(access.get().table.get(&builder)?.address.clone()))?;
        open(accessor, address).await
    }

    async fn drop<T>(accessor: &Accessor<T, Self>, builder: Resource<ConnectionBuilder>) -> wasmtime::Result<()> {
        accessor.with(|mut access| access.get().table.delete(builder))?;
        Ok(())
    }
}

impl pg::HostConnectionBuilder for PostgresView<'_> {}
