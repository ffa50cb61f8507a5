//! Postgres through `spin:postgres@4.2.0`: connect, run, classify failures.
//!
//! The interface's synchronous functions only (`open`, `query`, `execute`,
//! the connection builder): the `async` facade keeps callers as they were,
//! and a statement blocks the instance, which serves one request.

use std::rc::Rc;

use crate::{config, Failure};

pub use bindings::spin::postgres::postgres::{Connection, DbValue, Error, ParameterValue, QueryError};
use bindings::spin::postgres::postgres::ConnectionBuilder;

/// Bindings of `wit/spin-postgres@4.2.0` (world `spin:postgres/imports`).
pub mod bindings {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "spin:postgres/imports",
        path: "../../wit/spin-postgres@4.2.0",
    });
}

/// A row of a result: its values, by the result's column names.
pub struct Row {
    // Invariant: `values` has one value per column, in the same order.
    columns: Rc<[String]>,
    values: Vec<DbValue>,
}

/// A Rust type a column value decodes to: exactly one `DbValue` case each,
/// as spin-sdk's `Decode` (no widening: cast in SQL instead).
pub trait Decode: Sized {
    /// The value, or `None` when it is of another type.
    fn decode(value: &DbValue) -> Option<Self>;
}

/// Opens a connection to variable `database_url`, verifying TLS against the
/// system roots plus the PEM certificate in `database_ca_root` when it is set;
/// unreachable (a failed TLS handshake included) → SERVICE_UNAVAILABLE;
/// refused by `allowed_outbound_hosts` → INTERNAL_ERROR, after one log line.
pub async fn connect() -> Result<Connection, Failure> {
    open().await.map_err(|failure| match failure {
        ConnectFailure::Misconfigured(reason) => Failure::internal(format!("database connect: {reason}")),
        ConnectFailure::Other(failure) => failure,
    })
}

/// Why [`open`] has no connection.
pub enum ConnectFailure {
    /// The allow-list refused `database_url`'s address: a configuration error
    /// (it disagrees with `database_host`), already logged. Retrying cannot help.
    Misconfigured(String),
    /// Postgres is unreachable (SERVICE_UNAVAILABLE), or a variable is missing.
    Other(Failure),
}

/// [`connect`], telling a refused address apart, for `/health`.
pub async fn open() -> Result<Connection, ConnectFailure> {
    let address = config::required("database_url").await.map_err(ConnectFailure::Other)?;
    let opened = match config::optional("database_ca_root").await {
        // Spin has no host-side Postgres TLS setting: only the guest can hand
        // it a root certificate, through a connection builder.
        Some(pem) => {
            let builder = ConnectionBuilder::new(&address);
            builder.set_ca_root(&pem).and_then(|()| builder.build())
        }
        None => Connection::open(&address),
    };
    opened.map_err(|error| match &error {
        // Spin and our host refuse an address outside `allowed_outbound_hosts`
        // with these words, before any network traffic.
        Error::ConnectionFailed(text) if text.ends_with("is not permitted") => {
            let destination = crate::outbound::origin(&address);
            crate::outbound::log_misconfigured(&destination, "database_url and database_host must agree");
            ConnectFailure::Misconfigured(format!(
                "{destination} is not in allowed_outbound_hosts: database_url and database_host must agree"
            ))
        }
        _ => ConnectFailure::Other(Failure::unavailable(format!("database connect: {}", describe(&error)))),
    })
}

/// Runs `statement` and collects its rows. It is sent with one extra row
/// ([`domain::query_sentinel`]), because Spin 4.0.2 never answers a `query` that
/// yields none; the extra row and its marker column are dropped here.
pub async fn query(connection: &Connection, statement: &str, params: Vec<ParameterValue>) -> Result<Vec<Row>, DbFailure> {
    let result = connection.query(&domain::query_sentinel::wrap(statement), &params).map_err(DbFailure)?;
    let mut columns = result.columns.into_iter().map(|column| column.name);
    if columns.next().as_deref() != Some(domain::query_sentinel::PRESENT) {
        return Err(DbFailure(Error::Other(format!("the answer has no leading {} column", domain::query_sentinel::PRESENT))));
    }
    let columns: Rc<[String]> = columns.collect();
    Ok(result
        .rows
        .into_iter()
        .filter_map(|mut values| match values.first() {
            Some(DbValue::Boolean(true)) => {
                values.remove(0);
                Some(Row { columns: columns.clone(), values })
            }
            _ => None,
        })
        .collect())
}

/// Runs `statement`, which yields exactly one row by its shape, and returns
/// that row: sent as it is, without [`query`]'s extra row, which costs
/// Postgres 50-120 µs of parsing and planning on every request.
///
/// Only for shapes that cannot yield no row, because Spin 4.0.2 never
/// answers a `query` without rows: a `SELECT` of expressions without `FROM`
/// (`SELECT f($1) AS x`), or `FROM (SELECT 1) AS one LEFT JOIN t ON t.key =
/// $1` (a row whether or not `t` has one). Our host answers 500 where Spin
/// would hang, so a test that reaches a wrong shape fails.
pub async fn query_one(connection: &Connection, statement: &str, params: Vec<ParameterValue>) -> Result<Row, DbFailure> {
    let result = connection.query(statement, &params).map_err(DbFailure)?;
    let columns: Rc<[String]> = result.columns.into_iter().map(|column| column.name).collect();
    let mut rows = result.rows.into_iter();
    match (rows.next(), rows.next()) {
        (Some(values), None) => Ok(Row { columns, values }),
        (first, _) => {
            let found = if first.is_some() { "more than one row" } else { "no row" };
            Err(DbFailure(Error::Other(format!("a statement that yields one row by its shape yielded {found}"))))
        }
    }
}

/// Runs `statement` and returns the number of rows it changed.
pub async fn execute(connection: &Connection, statement: &str, params: Vec<ParameterValue>) -> Result<u64, DbFailure> {
    connection.execute(statement, &params).map_err(DbFailure)
}

/// A failed statement, kept whole so a caller can look at its SQLSTATE.
#[derive(Debug)]
pub struct DbFailure(pub Error);

impl DbFailure {
    /// The SQLSTATE Postgres reported, e.g. `23505` for a unique violation.
    pub fn sqlstate(&self) -> Option<&str> {
        match &self.0 {
            Error::QueryFailed(QueryError::DbError(db)) => Some(db.code.as_str()),
            Error::QueryFailed(QueryError::Text(text)) => field_in_text(text, "code: \"").filter(|code| code.len() == 5),
            _ => None,
        }
    }

    /// The constraint a violation names, from Postgres' structured fields.
    pub fn constraint(&self) -> Option<&str> {
        match &self.0 {
            Error::QueryFailed(QueryError::DbError(db)) => {
                db.extras.iter().find(|(key, _)| key == "constraint").map(|(_, value)| value.as_str()).or_else(|| {
                    // Not every host reports the constraint as an extra; the message names it.
                    db.message.split('"').nth(1)
                })
            }
            Error::QueryFailed(QueryError::Text(text)) => field_in_text(text, "(\"constraint\", \""),
            _ => None,
        }
    }
}

/// Spin 4.0.2's blocking `query` reports a failure while its statement runs
/// as text only: the debug form of the structured error (`QueryFailed(DbError(
/// DbError { as_text: .., code: "23505", .., extras: [("constraint", ..)] }))`).
/// The value that follows `prefix` there, up to its closing quote.
fn field_in_text<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let start = text.find(prefix)? + prefix.len();
    let length = text[start..].find('"')?;
    Some(&text[start..start + length])
}

impl From<DbFailure> for Failure {
    fn from(failure: DbFailure) -> Self {
        let connection_lost = matches!(&failure.0, Error::ConnectionFailed(_))
            || failure.sqlstate().is_some_and(|code| code.starts_with("08") || code == "57P01" || code == "57P03");
        let detail = format!("database: {}", describe(&failure.0));
        if connection_lost {
            Failure::unavailable(detail)
        } else {
            Failure::internal(detail)
        }
    }
}

fn describe(error: &Error) -> String {
    match error {
        Error::ConnectionFailed(text) => format!("connection failed: {text}"),
        Error::BadParameter(text) => format!("bad parameter: {text}"),
        Error::QueryFailed(QueryError::DbError(db)) => format!("{} ({})", db.message, db.code),
        Error::QueryFailed(QueryError::Text(text)) => format!("query failed: {text}"),
        Error::ValueConversionFailed(text) => format!("value conversion failed: {text}"),
        Error::Other(text) => text.clone(),
    }
}

/// A uuid parameter.
pub fn uuid(value: uuid::Uuid) -> ParameterValue {
    ParameterValue::Uuid(value.hyphenated().to_string())
}

/// A non-null column, decoded by [`Decode`]. Cast uuids to `text` and
/// integers to `bigint` in SQL so the types here stay few.
pub fn get<T: Decode>(row: &Row, column: &str) -> Result<T, Failure> {
    match row.get::<Option<T>>(column) {
        Some(Some(value)) => Ok(value),
        Some(None) => Err(Failure::internal(format!("column {column} is NULL"))),
        None => Err(Failure::internal(format!("column {column} is missing or of another type"))),
    }
}

/// A nullable column.
pub fn get_optional<T: Decode>(row: &Row, column: &str) -> Result<Option<T>, Failure> {
    row.get::<Option<T>>(column)
        .ok_or_else(|| Failure::internal(format!("column {column} is missing or of another type")))
}

/// A uuid column cast to text, as a user id.
pub fn user_id(row: &Row, column: &str) -> Result<domain::ids::UserId, Failure> {
    let text: String = get(row, column)?;
    domain::ids::UserId::parse(&text).ok_or_else(|| Failure::internal(format!("column {column} holds {text:?}, not a uuid")))
}

/// A text column holding one of an enum's stored forms.
pub fn enum_value<T>(row: &Row, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, Failure> {
    let text: String = get(row, column)?;
    parse(&text).ok_or_else(|| Failure::internal(format!("column {column} holds unknown value {text:?}")))
}

impl Row {
    /// The value of `column` as `T`; `None` when there is no such column or
    /// its value is of another type (`Option<T>` takes NULL as `Some(None)`).
    pub fn get<T: Decode>(&self, column: &str) -> Option<T> {
        let index = self.columns.iter().position(|name| name == column)?;
        T::decode(self.values.get(index)?)
    }
}

impl<T: Decode> Decode for Option<T> {
    fn decode(value: &DbValue) -> Option<Self> {
        match value {
            DbValue::DbNull => Some(None),
            other => T::decode(other).map(Some),
        }
    }
}

macro_rules! decode_case {
    ($type:ty, $case:ident) => {
        impl Decode for $type {
            fn decode(value: &DbValue) -> Option<Self> {
                match value {
                    DbValue::$case(inner) => Some(inner.clone()),
                    _ => None,
                }
            }
        }
    };
}

// The types callers decode; add one as a caller needs it.
decode_case!(bool, Boolean);
decode_case!(i32, Int32);
decode_case!(i64, Int64);
decode_case!(String, Str);
