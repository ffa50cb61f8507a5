//! A fresh, uniquely named, migrated database per test, dropped afterwards.

use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context as _;

/// The server tests create their databases on; `TEST_DATABASE_URL` overrides.
/// Components reach it with this URL too, and on them (as on Spin) a URL
/// without `sslmode` means verified TLS, which the local server's self-signed
/// certificate fails for 127.0.0.1.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".to_owned())
}

/// A database that exists for one test.
pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    /// Creates a database with every migration applied.
    pub async fn migrated() -> anyhow::Result<Self> {
        let db = Self::empty().await?;
        let mut client = migrate::connect(&db.url).await?;
        migrate::apply(&mut client, &crate::paths::repo_root().join("migrations")).await?;
        Ok(db)
    }

    /// Creates an empty database.
    pub async fn empty() -> anyhow::Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = server_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!(
            "lkt_{}_{}_{:08x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            nanos
        );
        let admin = migrate::connect(&admin_url).await.context(
            "the tests need PostgreSQL on 127.0.0.1:5432 (or TEST_DATABASE_URL)",
        )?;
        admin
            .batch_execute(&format!("CREATE DATABASE {}", migrate::quote_ident(&name)))
            .await
            .with_context(|| format!("creating test database {name}"))?;
        let url = with_database(&admin_url, &name);
        Ok(Self { name, url, admin_url })
    }

    /// A client on this database.
    pub async fn client(&self) -> anyhow::Result<tokio_postgres::Client> {
        migrate::connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async; a short-lived thread owns its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = migrate::connect(&admin_url).await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", migrate::quote_ident(&name)))
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    match url.rfind('/') {
        Some(slash) if url[..slash].contains("://") && slash > url.find("://").unwrap_or(0) + 2 => {
            let query = url[slash..].find('?').map(|q| &url[slash + q..]).unwrap_or("");
            format!("{}/{}{}", &url[..slash], name, query)
        }
        _ => format!("{}/{}", url.trim_end_matches('/'), name),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_the_parameters_kept() {
        let check = |url: &str, expected: &str| assert_eq!(with_database(url, "lkt_1"), expected, "{url}");
        check("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/lkt_1");
        check(
            "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
            "postgres://postgres@127.0.0.1:5432/lkt_1?sslmode=disable",
        );
        check(
            "postgres://app:pw@localhost:5432/app?sslmode=require&application_name=x",
            "postgres://app:pw@localhost:5432/lkt_1?sslmode=require&application_name=x",
        );
        check("postgres://postgres@127.0.0.1:5432", "postgres://postgres@127.0.0.1:5432/lkt_1");
    }
}
