//! `spin.toml` (manifest version 2), read the way Spin 4 reads it.
//!
//! Unknown keys are rejected rather than ignored: a manifest that relies on a
//! feature this host does not implement must fail loudly here instead of
//! behaving differently from production.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::Deserialize;

/// The parsed application manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub trigger: Option<ApplicationTriggers>,
}

/// Application-wide trigger settings (`[application.trigger.http]`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTriggers {
    #[serde(default)]
    pub http: Option<HttpAppSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAppSettings {
    #[serde(default)]
    pub base: Option<String>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    #[serde(default)]
    pub cron: Vec<CronTrigger>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: String,
    pub component: String,
    #[serde(default)]
    pub executor: Option<HttpExecutor>,
}

/// Only the default executor is served; the field is accepted so that
/// manifests that spell it out stay valid.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct HttpExecutor {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct CronTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub component: String,
    pub cron_expression: String,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    pub source: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<BuildDecl>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// A manifest together with the directory its relative paths start from.
#[derive(Debug)]
pub struct LoadedManifest {
    pub manifest: Manifest,
    pub base_dir: PathBuf,
}

impl LoadedManifest {
    /// Reads and validates `spin.toml` at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let manifest = parse(&text).with_context(|| format!("in {}", path.display()))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = if base_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base_dir
        };
        Ok(Self { manifest, base_dir })
    }

    /// The absolute path of a component's `.wasm` file.
    pub fn source_path(&self, component: &ComponentDecl) -> PathBuf {
        self.base_dir.join(&component.source)
    }
}

/// Parses and validates manifest text.
pub fn parse(text: &str) -> anyhow::Result<Manifest> {
    let manifest: Manifest = toml::from_str(text)?;
    validate(&manifest)?;
    Ok(manifest)
}

fn validate(manifest: &Manifest) -> anyhow::Result<()> {
    if manifest.spin_manifest_version != 2 {
        bail!(
            "spin_manifest_version {} is not supported (expected 2)",
            manifest.spin_manifest_version
        );
    }
    if let Some(base) = manifest
        .application
        .trigger
        .as_ref()
        .and_then(|t| t.http.as_ref())
        .and_then(|h| h.base.as_deref())
    {
        if base != "/" {
            bail!("[application.trigger.http] base {base:?} is not supported (only \"/\")");
        }
    }
    for (name, decl) in &manifest.variables {
        crate::variables::check_name(name)
            .with_context(|| format!("[variables] {name}"))?;
        if decl.required && decl.default.is_some() {
            bail!("variable {name:?} is required and has a default: choose one");
        }
    }
    for (id, component) in &manifest.component {
        check_component_id(id)?;
        for name in component.variables.keys() {
            crate::variables::check_name(name)
                .with_context(|| format!("[component.{id}.variables] {name}"))?;
        }
        if !component.environment.is_empty() {
            bail!("[component.{id}] environment is not supported by this host");
        }
    }
    for trigger in &manifest.trigger.http {
        if !manifest.component.contains_key(&trigger.component) {
            bail!(
                "[[trigger.http]] route {:?} names unknown component {:?}",
                trigger.route,
                trigger.component
            );
        }
        if let Some(executor) = &trigger.executor {
            if executor.kind != "spin" {
                bail!("[[trigger.http]] executor {:?} is not supported", executor.kind);
            }
        }
    }
    for trigger in &manifest.trigger.cron {
        if !manifest.component.contains_key(&trigger.component) {
            bail!(
                "[[trigger.cron]] names unknown component {:?}",
                trigger.component
            );
        }
        // Before compiling anything: production would stop the whole app.
        crate::cron::Schedule::parse(&trigger.cron_expression)
            .with_context(|| format!("[[trigger.cron]] for component {:?}", trigger.component))?;
    }
    Ok(())
}

/// Spin's component ids: lower-case words of letters and digits joined by `-`.
pub(crate) fn check_component_id(id: &str) -> anyhow::Result<()> {
    let valid = !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && id.starts_with(|c: char| c.is_ascii_lowercase());
    if !valid {
        bail!("component id {id:?} must be kebab-case (a-z, 0-9, '-')");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
greeting = { default = "hi" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/hello"
component = "hello"
[[trigger.cron]]
component = "hello"
cron_expression = "*/10 * * * * *"
[component.hello]
source = "hello.wasm"
allowed_outbound_hosts = ["https://example.com"]
[component.hello.variables]
greeting = "{{ greeting }}"
[component.hello.build]
command = "true"
"#;

    #[test]
    fn parses_a_full_manifest() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.trigger.http[0].route, "/hello");
        assert_eq!(manifest.trigger.cron[0].component, "hello");
        assert!(manifest.variables["token"].secret);
        assert_eq!(manifest.component["hello"].variables["greeting"], "{{ greeting }}");
    }

    #[test]
    fn rejects_unknown_keys() {
        let text = MINIMAL.replace("[component.hello.build]", "key_value_stores = [\"default\"]\n[component.hello.build]");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn rejects_trigger_for_unknown_component() {
        let text = MINIMAL.replace("component = \"hello\"\ncron", "component = \"nope\"\ncron");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn rejects_a_cron_expression_the_plugin_refuses() {
        let text = MINIMAL.replace("*/10 * * * * *", "*/10 * * * * * *");
        let error = format!("{:#}", parse(&text).unwrap_err());
        assert!(error.contains("component \"hello\"") && error.contains("ParseSchedule"), "{error}");
    }

    #[test]
    fn rejects_required_with_default() {
        let text = MINIMAL.replace("required = true", "required = true, default = \"x\"");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn rejects_bad_component_ids() {
        for id in ["Hello", "hello_world", "-x", "x--y", ""] {
            assert!(check_component_id(id).is_err(), "{id}");
        }
        check_component_id("get-livekit-token").unwrap();
    }
}
