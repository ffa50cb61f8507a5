//! Manifests written for one test: the application's own `spin.toml`, or a
//! small one serving the devhost's probe guest; runtime config files; and
//! `spin.toml` without its cron trigger, which `cargo xtask manifest
//! --without-cron` writes.

use std::path::{Path, PathBuf};

/// A manifest file in its own temporary directory, removed on drop.
pub struct TempManifest {
    _dir: TempDir,
    pub path: PathBuf,
}

impl TempManifest {
    /// Writes `text` with `{probe}` and `{health}` replaced by the absolute
    /// paths of those built components.
    pub fn write(text: &str) -> anyhow::Result<Self> {
        let text = text
            .replace("{probe}", &display(&crate::paths::wasm("probe")))
            .replace("{health}", &display(&crate::paths::wasm("health")));
        let (dir, path) = TempDir::with_file("devhost-test", "spin.toml", &text, &[])?;
        Ok(Self { _dir: dir, path })
    }
}

/// A runtime config file (`spin up --runtime-config-file`, and our host's
/// `HostOptions::runtime_config_file`) in its own temporary directory, with
/// the files it names beside it; removed on drop.
pub struct TempRuntimeConfig {
    _dir: TempDir,
    pub path: PathBuf,
}

impl TempRuntimeConfig {
    /// Writes `text` as `runtime-config.toml`, and each `(name, contents)`
    /// of `files` beside it (relative paths in the file start there).
    pub fn write(text: &str, files: &[(&str, &str)]) -> anyhow::Result<Self> {
        let (dir, path) = TempDir::with_file("runtime-config", "runtime-config.toml", text, files)?;
        Ok(Self { _dir: dir, path })
    }
}

/// A new directory `<temp>/<prefix>-<pid>-<n>`, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    /// A new directory holding `name` with `text`, and `beside` (name,
    /// contents); answers it and the path of `name`.
    fn with_file(prefix: &str, name: &str, text: &str, beside: &[(&str, &str)]) -> std::io::Result<(Self, PathBuf)> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = Self(std::env::temp_dir().join(format!(
            "{prefix}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )));
        std::fs::create_dir_all(&dir.0)?;
        for (other, contents) in beside {
            std::fs::write(dir.0.join(other), contents)?;
        }
        let path = dir.0.join(name);
        std::fs::write(&path, text)?;
        Ok((dir, path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn display(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

/// The probe behind `/...` and `/probe/...`, health behind `/health`, with a
/// database variable and outbound access to 127.0.0.1 ports 1..65535 only
/// where the test says so.
pub fn probe_app(allowed_outbound_hosts: &[&str]) -> String {
    let hosts = allowed_outbound_hosts
        .iter()
        .map(|h| format!("{h:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"spin_manifest_version = 2

[application]
name = "probe-app"
version = "0.0.1"

[variables]
db_url = {{ default = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable" }}
db_host = {{ default = "127.0.0.1:5432" }}
greeting = {{ default = "hello" }}
secret_token = {{ required = true, secret = true }}
cron_fail = {{ default = "false" }}

[[trigger.http]]
route = "/..."
component = "probe"

[[trigger.http]]
route = "/probe/:name/..."
component = "probe"

[[trigger.http]]
route = "/health"
component = "health"

[[trigger.cron]]
component = "probe"
cron_expression = "* * * * * *"

[component.probe]
source = "{{probe}}"
allowed_outbound_hosts = ["postgres://{{{{ db_host }}}}", {hosts}]
[component.probe.variables]
greeting = "{{{{ greeting }}}}, world"
db_url = "{{{{ db_url }}}}"
cron_fail = "{{{{ cron_fail }}}}"

[component.health]
source = "{{health}}"
allowed_outbound_hosts = ["postgres://{{{{ db_host }}}}"]
[component.health.variables]
database_url = "{{{{ db_url }}}}"
"#
    )
}

/// The probe guest under several component ids, each on its own routes and
/// allowed `allowed_outbound_hosts` only (no database, no variables):
/// `routes` are `(route, component id)` pairs, e.g. `("/...", "probe")` and
/// `("/other/...", "other-probe")`. The probe answers the path below its
/// route, so `/other/fetch` is `other-probe`'s `/fetch`.
pub fn probes_app(routes: &[(&str, &str)], allowed_outbound_hosts: &[&str]) -> String {
    let mut text = String::from("spin_manifest_version = 2\n\n[application]\nname = \"probes\"\n");
    for (route, component) in routes {
        text += &format!("\n[[trigger.http]]\nroute = {route:?}\ncomponent = {component:?}\n");
    }
    let mut components: Vec<&str> = routes.iter().map(|(_, component)| *component).collect();
    components.sort_unstable();
    components.dedup();
    for component in components {
        text += &format!(
            "\n[component.{component}]\nsource = \"{{probe}}\"\nallowed_outbound_hosts = {allowed_outbound_hosts:?}\n"
        );
    }
    text
}

/// What `cargo xtask manifest --without-cron` names the manifest it writes
/// beside `spin.toml`.
pub const HTTP_ONLY_MANIFEST: &str = "spin.http-only.toml";

/// `spin_toml` (a manifest's text) without its `[[trigger.cron]]` tables,
/// everything else kept as written, comments included, under a header that
/// says where it comes from. It serves on a Spin without the `trigger-cron`
/// plugin (which refuses an app with a cron trigger it cannot run); the
/// platform's scheduler then calls the swept route itself. `source` paths stay
/// relative, so the copy must sit beside the original.
///
/// Errors: the text is not TOML, or its `trigger` is not a table.
pub fn without_cron_triggers(spin_toml: &str) -> anyhow::Result<String> {
    let mut document: toml_edit::DocumentMut = spin_toml.parse()?;
    if let Some(triggers) = document.get_mut("trigger") {
        let triggers = triggers
            .as_table_like_mut()
            .ok_or_else(|| anyhow::anyhow!("`trigger` is not a table"))?;
        triggers.remove("cron");
    }
    Ok(format!(
        "# Generated by `cargo xtask manifest --without-cron` from spin.toml: the same app\n\
         # without its [[trigger.cron]] tables. Do not edit; regenerate.\n{document}"
    ))
}
