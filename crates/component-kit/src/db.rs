//! Postgres through `spin:postgres`: connect, run, classify failures.

use spin_sdk::pg::{Certificate, Connection, Decode, Error, OpenOptions, ParameterValue, PgError, QueryError, Row};

use crate::{config, Failure};

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
            let options = OpenOptions {
                ca_root: Some(Certificate::Text(pem)),
            };
            Connection::open_with_options(address.clone(), options).await
        }
        None => Connection::open(address.clone()).await,
    };
    opened.map_err(|error| match &error {
        // Spin and our host refuse an address outside `allowed_outbound_hosts`
        // with these words, before any network traffic.
        Error::PgError(PgError::ConnectionFailed(text)) if text.ends_with("is not permitted") => {
            let destination = crate::outbound::origin(&address);
            crate::outbound::log_misconfigured(&destination, "database_url and database_host must agree");
            ConnectFailure::Misconfigured(format!(
                "{destination} is not in allowed_outbound_hosts: database_url and database_host must agree"
            ))
        }
        _ => ConnectFailure::Other(Failure::unavailable(format!("database connect: {}", describe(&error)))),
    })
}

/// Runs `statement` and collects its rows.
pub async fn query(connection: &Connection, statement: &str, params: Vec<ParameterValue>) -> Result<Vec<Row>, DbFailure> {
    let result = connection.query(statement, params).await.map_err(DbFailure)?;
    result.collect().await.map_err(DbFailure)
}

/// Runs `statement` and returns the number of rows it changed.
pub async fn execute(connection: &Connection, statement: &str, params: Vec<ParameterValue>) -> Result<u64, DbFailure> {
    connection.execute(statement, params).await.map_err(DbFailure)
}

/// A failed statement, kept whole so a caller can look at its SQLSTATE.
#[derive(Debug)]
pub struct DbFailure(pub Error);

impl DbFailure {
    /// The SQLSTATE Postgres reported, e.g. `23505` for a unique violation.
    pub fn sqlstate(&self) -> Option<&str> {
        match &self.0 {
            Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => Some(db.code.as_str()),
            _ => None,
        }
    }

    /// The constraint a violation names, from Postgres' structured fields.
    pub fn constraint(&self) -> Option<&str> {
        match &self.0 {
            Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => {
                db.extras.iter().find(|(key, _)| key == "constraint").map(|(_, value)| value.as_str()).or_else(|| {
                    // Not every host reports the constraint as an extra; the message names it.
                    db.message.split('"').nth(1)
                })
            }
            _ => None,
        }
    }
}

impl From<DbFailure> for Failure {
    fn from(failure: DbFailure) -> Self {
        let connection_lost = matches!(&failure.0, Error::PgError(PgError::ConnectionFailed(_)))
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
        Error::PgError(PgError::QueryFailed(QueryError::DbError(db))) => format!("{} ({})", db.message, db.code),
        other => other.to_string(),
    }
}

/// A uuid parameter.
pub fn uuid(value: uuid::Uuid) -> ParameterValue {
    ParameterValue::Uuid(value.hyphenated().to_string())
}

/// A non-null column, decoded by spin-sdk. Cast uuids to `text` and
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
