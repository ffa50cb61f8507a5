//! The migration runner: numbered SQL files applied once each, in order.
//!
//! Each file runs in its own transaction together with the row that records
//! it in `schema_migrations`, so a failing file leaves nothing half-applied
//! and a re-run is a no-op. A session advisory lock serialises concurrent
//! runners. A file edited after it was applied is refused: add a new file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use sha2::Digest as _;
use tokio_postgres::{Client, NoTls};

/// Any constant works; it only has to be the same for every runner.
const LOCK_KEY: i64 = 0x6c6b_6d69_6772;

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
    let migrations = read_dir(dir)?;
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
    let outcome = apply_locked(client, &migrations).await;
    client.execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY]).await?;
    outcome
}

async fn apply_locked(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<i64>> {
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
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[&migration.version, &migration.name, &migration.checksum()],
            )
            .await?;
        transaction.commit().await?;
        newly_applied.push(migration.version);
    }
    Ok(newly_applied)
}

/// Connects to `url`, with a message that says what to do when Postgres is down.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.with_context(|| {
        format!(
            "cannot reach Postgres at {} (is it running? `pg_ctlcluster --skip-systemctl-redirect 15 main start`)",
            redact(url)
        )
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Creates the database named in `url` if it does not exist yet.
pub async fn ensure_database(url: &str) -> anyhow::Result<()> {
    let (name, maintenance) = maintenance_database(url)?;
    let client = connect(&maintenance).await?;
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

fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::maintenance_database;

    #[test]
    fn the_maintenance_database_keeps_the_parameters() {
        let (name, url) = maintenance_database("postgres://postgres@127.0.0.1:5432/livekit_dev?sslmode=disable").unwrap();
        assert_eq!(name, "livekit_dev");
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable");
        assert!(maintenance_database("postgres://postgres@127.0.0.1:5432/?sslmode=disable").is_err());
    }
}
