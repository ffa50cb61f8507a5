//! Manifests written for one test: the application's own `spin.toml`, or a
//! small one serving the devhost's probe guest.

use std::path::{Path, PathBuf};

/// A manifest file in its own temporary directory, removed on drop.
pub struct TempManifest {
    dir: PathBuf,
    pub path: PathBuf,
}

impl TempManifest {
    /// Writes `text` with `{probe}` and `{health}` replaced by the absolute
    /// paths of those built components.
    pub fn write(text: &str) -> anyhow::Result<Self> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "devhost-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)?;
        let text = text
            .replace("{probe}", &display(&crate::paths::wasm("probe")))
            .replace("{health}", &display(&crate::paths::wasm("health")));
        let path = dir.join("spin.toml");
        std::fs::write(&path, text)?;
        Ok(Self { dir, path })
    }
}

impl Drop for TempManifest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
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
