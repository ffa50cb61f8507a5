//! The migration runner: numbered SQL files applied once each, in order.
//!
//! Each file runs in its own transaction together with the row that records
//! it in `schema_migrations`, so a failing file leaves nothing half-applied
//! and a re-run is a no-op. A session advisory lock serialises concurrent
//! runners. A file edited after it was applied is refused: add a new file.
//!
//! Once a migration has created `app_lock_down()` (0014), every migration's
//! transaction and every run end with it ([`lock_down`]): whatever a file
//! adds, and whatever was granted by hand, is out of reach of every role
//! but the app's own (Supabase's `anon`, `authenticated`, `service_role`).
//!
//! Connections secure themselves as the URL's `sslmode` says, the way Spin
//! 4.0.2 and the devhost do ([`Security`]), so whatever URL the app reaches
//! its database with, the runner reaches it too. [`run`] is what `cargo xtask
//! migrate` does against a production database; [`ensure_database`] (create
//! it when missing) is for local databases only.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use sha2::Digest as _;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, GenericClient, NoTls};

/// Any constant works; it only has to be the same for every runner.
const LOCK_KEY: i64 = 0x6c6b_6d69_6772;

/// How long connecting may take when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a connection is secured, from its URL's `sslmode` (as on Spin 4.0.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `sslmode=disable`: plain text.
    Plain,
    /// `sslmode=require`, or `prefer` (what a URL without `sslmode` means):
    /// TLS through native-tls, the server's certificate and name verified
    /// against the system roots plus the root certificate given, if any.
    /// `prefer` falls back to plain text only when the server offers no TLS,
    /// never when verification fails.
    Tls,
}

/// One migration file.
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub path: PathBuf,
    pub sql: String,
}

impl Migration {
    fn checksum(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.sql.as_bytes()))
    }
}

/// The file's name as on disk, its number and name (`0001_create_users.sql`).
impl fmt::Display for Migration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path.file_name() {
            Some(name) => write!(f, "{}", name.to_string_lossy()),
            None => write!(f, "{:04}_{}.sql", self.version, self.name),
        }
    }
}

/// Applies the pending migrations of `dir` to the database `url` names and
/// returns them in the order applied (none: nothing to apply). The session
/// is secured as `url`'s `sslmode` says ([`Security`]), with `ca_root` (PEM
/// text; as on Spin only its first certificate is read) trusted beside the
/// system roots.
///
/// Never creates the database: when it is missing this fails saying so, and
/// nothing is written. Also fails, naming the server with its password
/// redacted, when `dir` holds a misnamed file, the server cannot be reached
/// or its certificate not verified, a file fails (its transaction is rolled
/// back; the files before it stay applied), or an applied file was edited.
pub async fn run(url: &str, ca_root: Option<&str>, dir: &Path) -> anyhow::Result<Vec<Migration>> {
    let migrations = read_dir(dir)?;
    let mut client = connect_with_root(url, ca_root).await?;
    apply_migrations(&mut client, &migrations).await
}

/// Reads `dir`'s `NNNN_verb_noun.sql` files in version order.
pub fn read_dir(dir: &Path) -> anyhow::Result<Vec<Migration>> {
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        let Some((number, name)) = stem.split_once('_') else {
            bail!("{}: name migrations NNNN_verb_noun.sql", path.display());
        };
        let version: i64 = number
            .parse()
            .with_context(|| format!("{}: name migrations NNNN_verb_noun.sql", path.display()))?;
        let sql = std::fs::read_to_string(&path)?;
        migrations.push(Migration {
            version,
            name: name.to_owned(),
            path,
            sql,
        });
    }
    migrations.sort_by_key(|m| m.version);
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            bail!("two migrations share version {}", pair[0].version);
        }
    }
    Ok(migrations)
}

/// Applies every pending migration of `dir`; returns the versions applied.
pub async fn apply(client: &mut Client, dir: &Path) -> anyhow::Result<Vec<i64>> {
    let applied = apply_migrations(client, &read_dir(dir)?).await?;
    Ok(applied.iter().map(|migration| migration.version).collect())
}

async fn apply_migrations(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<Migration>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version bigint PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .context("creating schema_migrations")?;
    client.execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY]).await?;
    let mut outcome = apply_locked(client, migrations).await;
    if outcome.is_ok() {
        // On every run, even one that applied nothing: it also undoes a grant
        // made by hand since the last run.
        if let Err(error) = lock_down(&*client).await {
            outcome = Err(error);
        }
    }
    client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await?;
    outcome
}

/// Shuts every role but the app's own out of the app's objects by calling
/// `app_lock_down()` (migrations/0014_lock_down_roles.sql), when a migration
/// created it; returns the statements it had to run (none when nothing had
/// changed since). Called inside each migration's transaction, so an object
/// a migration adds is never committed reachable, and after every run.
pub async fn lock_down(client: &impl GenericClient) -> anyhow::Result<Vec<String>> {
    let exists: bool = client
        .query_one("SELECT to_regprocedure('public.app_lock_down()') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let statements = client
        .query("SELECT * FROM public.app_lock_down()", &[])
        .await
        .context("locking down the app's objects (app_lock_down)")?;
    Ok(statements.iter().map(|row| row.get(0)).collect())
}

async fn apply_locked(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<Migration>> {
    let applied: std::collections::BTreeMap<i64, String> = client
        .query("SELECT version, checksum FROM schema_migrations", &[])
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut newly_applied = Vec::new();
    for migration in migrations {
        if let Some(checksum) = applied.get(&migration.version) {
            if *checksum != migration.checksum() {
                bail!(
                    "{} was changed after it was applied; add a new migration instead",
                    migration.path.display()
                );
            }
            continue;
        }
        let transaction = client.transaction().await?;
        transaction
            .batch_execute(&migration.sql)
            .await
            .with_context(|| format!("applying {}", migration.path.display()))?;
        lock_down(&transaction)
            .await
            .with_context(|| format!("applying {}", migration.path.display()))?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[&migration.version, &migration.name, &migration.checksum()],
            )
            .await?;
        transaction.commit().await?;
        newly_applied.push(migration.clone());
    }
    Ok(newly_applied)
}

/// Connects to `url` as [`connect_with_root`] does, trusting the system roots only.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    connect_with_root(url, None).await
}

/// Connects to `url`, securing the session as its `sslmode` says
/// ([`Security`]) with `ca_root` (PEM text, first certificate) trusted beside
/// the system roots. Errors name the server with its password redacted, say
/// when the database does not exist, and carry the TLS failure's cause.
pub async fn connect_with_root(url: &str, ca_root: Option<&str>) -> anyhow::Result<Client> {
    let mut config = parse(url)?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let connected = match Security::of(&config) {
        Security::Plain => config.connect(NoTls).await.map(|(client, connection)| {
            tokio::spawn(connection);
            client
        }),
        Security::Tls => {
            let connector = postgres_native_tls::MakeTlsConnector::new(tls_connector(ca_root)?);
            config.connect(connector).await.map(|(client, connection)| {
                tokio::spawn(connection);
                client
            })
        }
    };
    connected.map_err(|error| connect_error(url, error))
}

/// How a session with `url` is secured; fails when tokio-postgres cannot read `url`.
pub fn security(url: &str) -> anyhow::Result<Security> {
    Ok(Security::of(&parse(url)?))
}

impl Security {
    fn of(config: &Config) -> Self {
        match config.get_ssl_mode() {
            SslMode::Disable => Self::Plain,
            _ => Self::Tls,
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Plain => "in plain text (sslmode=disable)",
            Self::Tls => "over verified TLS",
        })
    }
}

fn parse(url: &str) -> anyhow::Result<Config> {
    if url.contains("sslmode=verify") {
        // libpq's strictest modes; tokio-postgres (so Spin too) refuses them.
        bail!(
            "{}: tokio-postgres takes sslmode disable, prefer or require (require verifies the certificate and the name)",
            redact(url)
        );
    }
    Config::from_str(url).with_context(|| format!("reading the database URL {}", redact(url)))
}

fn tls_connector(ca_root: Option<&str>) -> anyhow::Result<native_tls::TlsConnector> {
    let mut builder = native_tls::TlsConnector::builder();
    if let Some(pem) = ca_root {
        let certificate = native_tls::Certificate::from_pem(pem.as_bytes()).context("reading the root certificate (PEM)")?;
        builder.add_root_certificate(certificate);
    }
    builder.build().context("setting up TLS")
}

/// What to tell the operator when connecting to `url` failed.
fn connect_error(url: &str, error: tokio_postgres::Error) -> anyhow::Error {
    if let Some(database_error) = error.as_db_error() {
        if *database_error.code() == SqlState::INVALID_CATALOG_NAME {
            return anyhow!(
                "{} at {}: create it first; migrations never create a database",
                database_error.message(),
                redact(url)
            );
        }
    }
    let refused = std::error::Error::source(&error)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    let hint = if refused {
        " (is it running? locally: `pg_ctlcluster --skip-systemctl-redirect 15 main start`)"
    } else {
        ""
    };
    anyhow::Error::new(error).context(format!("cannot connect to Postgres at {}{hint}", redact(url)))
}

/// Creates the database named in `url` if it does not exist yet, through
/// the server's `postgres` database. For local databases (`cargo xtask up`);
/// [`run`] never creates one.
pub async fn ensure_database(url: &str, ca_root: Option<&str>) -> anyhow::Result<()> {
    let (name, maintenance) = maintenance_database(url)?;
    let client = connect_with_root(&maintenance, ca_root).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    Ok(())
}

/// The database `url` names, and `url` on the server's `postgres` database
/// instead (its parameters, `sslmode` among them, kept).
fn maintenance_database(url: &str) -> anyhow::Result<(String, String)> {
    let mut parsed = url::Url::parse(url).context("database URL")?;
    let name = parsed.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        bail!("the database URL {} names no database", redact(url));
    }
    parsed.set_path("/postgres");
    Ok((name, parsed.into()))
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` fit to print: its password, in the user info or a `password`
/// parameter, replaced by `***`. A key-value connection string
/// (`host=... password=...`) gets the same; a URL that does not parse is not
/// shown at all.
pub fn redact(url: &str) -> String {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return redact_key_values(url);
    }
    let Ok(mut parsed) = url::Url::parse(url) else {
        return "[a database URL that does not parse]".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query_pairs().any(|(key, _)| key == "password") {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" { "***".to_owned() } else { value.into_owned() };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.into()
}

/// libpq's `key = value` form with the `password` value replaced; a value is
/// bare, or single-quoted, with backslash escapes.
fn redact_key_values(conninfo: &str) -> String {
    let chars: Vec<char> = conninfo.chars().collect();
    let mut redacted = String::with_capacity(conninfo.len());
    let mut at = 0;
    while at < chars.len() {
        if chars[at].is_whitespace() {
            redacted.push(chars[at]);
            at += 1;
            continue;
        }
        let key_start = at;
        while at < chars.len() && chars[at] != '=' && !chars[at].is_whitespace() {
            at += 1;
        }
        let key: String = chars[key_start..at].iter().collect();
        redacted.push_str(&key);
        let mut separator = at;
        while separator < chars.len() && chars[separator].is_whitespace() {
            separator += 1;
        }
        if chars.get(separator) != Some(&'=') {
            // A key without a value: what follows is the next key.
            continue;
        }
        redacted.extend(&chars[at..=separator]);
        at = separator + 1;
        while at < chars.len() && chars[at].is_whitespace() {
            redacted.push(chars[at]);
            at += 1;
        }
        let quoted = chars.get(at) == Some(&'\'');
        let value_start = at;
        if quoted {
            at += 1;
        }
        while at < chars.len() {
            match chars[at] {
                '\\' => at += 2,
                '\'' if quoted => {
                    at += 1;
                    break;
                }
                c if c.is_whitespace() && !quoted => break,
                _ => at += 1,
            }
        }
        at = at.min(chars.len());
        if key == "password" {
            redacted.push_str(if quoted { "'***'" } else { "***" });
        } else {
            redacted.extend(&chars[value_start..at]);
        }
    }
    redacted
}

#[cfg(test)]
mod tests {
    use super::{maintenance_database, redact, security, tls_connector, Security};

    #[test]
    fn the_maintenance_database_keeps_the_parameters() {
        let (name, url) = maintenance_database("postgres://postgres@127.0.0.1:5432/livekit_dev?sslmode=disable").unwrap();
        assert_eq!(name, "livekit_dev");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable");
        assert!(maintenance_database("postgres://postgres@127.0.0.1:5432/?sslmode=disable").is_err());
    }

    #[test]
    fn passwords_are_never_printed() {
        let check = |url: &str, expected: &str| assert_eq!(redact(url), expected, "{url}");
        check(
            "postgres://app:s3cret@db.example.com:5432/app?sslmode=require",
            "postgres://app:***@db.example.com:5432/app?sslmode=require",
        );
        check("postgresql://app:p%40ss@db.example.com/app", "postgresql://app:***@db.example.com/app");
        check("postgres://postgres@127.0.0.1:5432/livekit_dev?sslmode=disable", "postgres://postgres@127.0.0.1:5432/livekit_dev?sslmode=disable");
        check(
            "postgres://app@db.example.com/app?password=s3cret&sslmode=require",
            "postgres://app@db.example.com/app?password=***&sslmode=require",
        );
        check("host=db.example.com password=s3cret dbname=app", "host=db.example.com password=*** dbname=app");
        check("host=db password = 's3 \\'cret' sslmode=require", "host=db password = '***' sslmode=require");
        check("password=s3cret", "password=***");
        check("host=db user password=s3cret", "host=db user password=***");
        check("postgres://app:s3cret@[::1:5432/app", "[a database URL that does not parse]");
    }

    #[test]
    fn sslmode_decides_tls_as_on_spin() {
        let check = |url: &str, expected: Security| assert_eq!(security(url).unwrap(), expected, "{url}");
        check("postgres://postgres@127.0.0.1:5432/app?sslmode=disable", Security::Plain);
        check("postgres://app@db.example.com:5432/app?sslmode=require", Security::Tls);
        check("postgres://app@db.example.com:5432/app?sslmode=prefer", Security::Tls);
        check("postgres://app@db.example.com:5432/app", Security::Tls);
        check("host=db.example.com dbname=app sslmode=disable", Security::Plain);
        check("host=db.example.com dbname=app", Security::Tls);
        for refused in ["postgres://app:s3cret@db.example.com/app?sslmode=verify-full", "postgres://app:s3cret@db/app?sslmode=allow"] {
            let error = format!("{:#}", security(refused).unwrap_err());
            assert!(!error.contains("s3cret"), "{error}");
            assert!(error.contains("app:***@db"), "{error}");
        }
    }

    #[test]
    fn a_root_certificate_must_be_pem() {
        let error = tls_connector(Some("not a certificate")).unwrap_err();
        assert!(format!("{error:#}").contains("root certificate"), "{error:#}");
        assert!(tls_connector(None).is_ok());
    }
}
