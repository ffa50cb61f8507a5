//! The runtime config file, `devhost up --runtime-config-file FILE` (or
//! `RUNTIME_CONFIG_FILE`) as `spin up` takes it, read as Spin 4.0.2 reads it
//! (`spin-runtime-config`): TOML whose top-level keys each belong to one
//! capability, a key Spin does not read refused, relative paths starting at
//! the file's folder.
//!
//! This host implements `[[client_tls]]` and `[outbound_http]` (see
//! [`crate::outbound_http`]). It accepts the other keys Spin reads without
//! reading them, and logs one `warn` line for each: `[outbound_networking]`
//! (blocked networks), `[key_value_store.*]`, `[sqlite_database.*]`,
//! `[llm_compute]`, `[[variables_provider]]` (or `[[config_provider]]`),
//! `state_dir`, `log_dir` and `max_instance_memory`. An app that relies on
//! one of them behaves differently here than on Spin.

use std::path::Path;

use anyhow::{ensure, Context as _};

use crate::outbound_http::{ClientTlsConfigs, OutboundHttpConfig};

/// What the host takes from the runtime config file.
pub struct RuntimeConfig {
    pub client_tls: ClientTlsConfigs,
    pub outbound_http: OutboundHttpConfig,
}

/// The keys Spin 4.0.2 reads that this host implements.
const IMPLEMENTED_KEYS: [&str; 2] = ["client_tls", "outbound_http"];

/// The keys Spin 4.0.2 reads that this host accepts and ignores.
const IGNORED_KEYS: [&str; 9] = [
    "outbound_networking",
    "key_value_store",
    "sqlite_database",
    "llm_compute",
    "variables_provider",
    "config_provider",
    "state_dir",
    "log_dir",
    "max_instance_memory",
];

impl RuntimeConfig {
    /// Reads the file at `path`; without one, Spin's defaults.
    ///
    /// Errors, naming the file and, below it, the key: the file cannot be
    /// read or is not TOML, it has a key Spin would not read (Spin stops
    /// with `unused runtime config key(s)`), or the value of a key this host
    /// implements is malformed (see [`ClientTlsConfigs::parse`] and
    /// [`OutboundHttpConfig::parse`]).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self {
                client_tls: ClientTlsConfigs::defaults()?,
                outbound_http: OutboundHttpConfig::default(),
            });
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config file {}", path.display()))?;
        Self::parse(&text, path).with_context(|| format!("runtime config file {}", path.display()))
    }

    fn parse(text: &str, path: &Path) -> anyhow::Result<Self> {
        let table: toml::Table = text.parse().context("not TOML")?;
        let unused = unused_keys(&table);
        ensure!(
            unused.is_empty(),
            "unused runtime config key(s): {}",
            unused.join(", ")
        );
        for key in IGNORED_KEYS
            .into_iter()
            .filter(|key| table.contains_key(*key))
        {
            crate::log::event(
                "warn",
                "runtime config key ignored: this host does not implement it",
                &[
                    ("key", key.into()),
                    ("file", path.display().to_string().into()),
                ],
            );
        }
        // Spin takes relative paths from the file's folder (an empty path,
        // the working directory, for a bare file name).
        let dir = path.parent().unwrap_or(Path::new(""));
        let client_tls = match table.get("client_tls") {
            Some(value) => ClientTlsConfigs::parse(value, dir)?,
            None => ClientTlsConfigs::defaults()?,
        };
        let outbound_http = OutboundHttpConfig::from_runtime_config(table.get("outbound_http"))?;
        Ok(Self {
            client_tls,
            outbound_http,
        })
    }
}

/// The keys Spin would leave unread, in the file's order.
fn unused_keys(table: &toml::Table) -> Vec<&str> {
    table
        .keys()
        .map(String::as_str)
        .filter(|key| match *key {
            // Spin reads `config_provider` only when `variables_provider` is absent.
            "config_provider" => table.contains_key("variables_provider"),
            key => !IMPLEMENTED_KEYS.contains(&key) && !IGNORED_KEYS.contains(&key),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match RuntimeConfig::parse(text, Path::new("/nowhere/runtime-config.toml")) {
            Ok(_) => String::new(),
            Err(error) => format!("{error:#}"),
        }
    }

    #[test]
    fn keys_spin_reads_are_accepted_and_others_refused() {
        let accepted = [
            "",
            "[outbound_networking]\nblock_networks = [\"private\"]",
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://localhost\"",
            "[sqlite_database.default]\ntype = \"spin\"",
            "[llm_compute]\ntype = \"remote_http\"",
            "[[variables_provider]]\ntype = \"env\"",
            "[[config_provider]]\ntype = \"env\"",
            "state_dir = \"\"\nlog_dir = \"logs\"\nmax_instance_memory = 1000000",
            "[outbound_http]\nconnection_pooling = true",
        ];
        for text in accepted {
            assert_eq!(error(text), "", "{text}");
        }
        assert_eq!(
            error("baz = 1\n[wasmtime]\nx = 1"),
            "unused runtime config key(s): baz, wasmtime"
        );
        assert_eq!(
            error("[[variables_provider]]\ntype = \"env\"\n[[config_provider]]\ntype = \"env\""),
            "unused runtime config key(s): config_provider"
        );
        assert!(
            error("[[client_tls]").starts_with("not TOML"),
            "{}",
            error("[[client_tls]")
        );
    }

    #[test]
    fn a_malformed_table_is_named() {
        assert!(
            error("[outbound_http]\npool = 1").starts_with("[outbound_http]: unknown field `pool`")
        );
        let tls = error("[[client_tls]]\ncomponent_ids = [\"a\"]\nhosts = [\"h:1\"]");
        assert!(
            tls.starts_with("[[client_tls]] #1: hosts: invalid TLS host \"h:1\""),
            "{tls}"
        );
    }

    #[test]
    fn load_names_the_file() {
        let missing = RuntimeConfig::load(Some(Path::new("/nowhere/rc.toml")))
            .err()
            .unwrap();
        assert!(
            format!("{missing:#}").starts_with("reading runtime config file /nowhere/rc.toml"),
            "{missing:#}"
        );
    }
}
