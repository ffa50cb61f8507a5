//! `fermyon:spin/variables@2.0.0`: application variables with defaults from
//! `[variables]`, overridden by `SPIN_VARIABLE_<UPPER_NAME>` from the
//! environment (Spin's environment provider), and exposed to a component only
//! through its own `[component.<id>.variables]` templates.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context as _};
use wasmtime::component::HasData;

use crate::manifest::Manifest;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/spin-variables@2.0.0",
        world: "fermyon:spin/host",
    });
}

pub use bindings::fermyon::spin::variables::Error as VariableError;

/// Every component's variables, resolved once at start-up.
#[derive(Clone)]
pub struct Variables {
    // Invariant: every value here is fully expanded; `get` never fails on a
    // declared name.
    by_component: Arc<BTreeMap<String, BTreeMap<String, String>>>,
    application: Arc<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Variables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variables").finish_non_exhaustive()
    }
}

impl Variables {
    /// Resolves application variables (environment first, then default) and
    /// expands every component template. Fails when a required variable has
    /// no value or a template names an undeclared variable.
    pub fn resolve(
        manifest: &Manifest,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let mut application = BTreeMap::new();
        let mut unresolved = Vec::new();
        for (name, decl) in &manifest.variables {
            let value = match (env(&env_name(name)), &decl.default) {
                (Some(value), _) => value,
                (None, Some(default)) => default.clone(),
                (None, None) if decl.required => {
                    unresolved.push(name.as_str());
                    continue;
                }
                (None, None) => bail!(
                    "variable {name:?} has neither a default nor `required = true`"
                ),
            };
            application.insert(name.clone(), value);
        }
        if !unresolved.is_empty() {
            // Spin's words first (`spin up` stops with them), then how to fix it.
            let keys = unresolved.iter().map(|name| format!("Key({name:?})")).collect::<Vec<_>>().join(", ");
            let settings = unresolved.iter().map(|name| env_name(name)).collect::<Vec<_>>().join(", ");
            bail!("no provider resolved required variable(s): [{keys}]; set {settings} in the environment");
        }
        let mut by_component = BTreeMap::new();
        for (id, component) in &manifest.component {
            let mut values = BTreeMap::new();
            for (name, template) in &component.variables {
                let value = expand(template, &application)
                    .with_context(|| format!("[component.{id}.variables] {name}"))?;
                values.insert(name.clone(), value);
            }
            by_component.insert(id.clone(), values);
        }
        Ok(Self {
            by_component: Arc::new(by_component),
            application: Arc::new(application),
        })
    }

    /// A component variable, as `spin:variables/get` answers it.
    pub fn get(&self, component: &str, name: &str) -> Result<String, VariableError> {
        if check_name(name).is_err() {
            return Err(VariableError::InvalidName(name.to_owned()));
        }
        self.by_component
            .get(component)
            .and_then(|values| values.get(name))
            .cloned()
            .ok_or_else(|| VariableError::Undefined(format!("no variable for {component:?}.{name:?}")))
    }

    /// Expands `{{ name }}` references to application variables, as Spin does
    /// in `allowed_outbound_hosts`.
    pub fn expand(&self, template: &str) -> anyhow::Result<String> {
        expand(template, &self.application)
    }
}

/// Spin's variable names: lower-case letters, digits and single underscores,
/// starting with a letter.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.contains("__")
        && !name.ends_with('_');
    if valid {
        Ok(())
    } else {
        bail!("invalid variable name {name:?}: use a-z, 0-9 and single '_', starting with a letter")
    }
}

/// The environment variable that overrides application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

fn expand(template: &str, values: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| anyhow!("unclosed '{{{{' in {template:?}"))?;
        let name = after[..end].trim();
        check_name(name)?;
        let value = values
            .get(name)
            .ok_or_else(|| anyhow!("template {template:?} names undeclared variable {name:?}"))?;
        out.push_str(value);
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        bail!("stray '}}}}' in {template:?}");
    }
    out.push_str(rest);
    Ok(out)
}

/// Per-instance state: which component is asking.
pub struct VariablesCtx {
    pub component: String,
    pub variables: Variables,
}

impl bindings::fermyon::spin::variables::Host for VariablesCtx {
    fn get(&mut self, name: String) -> Result<String, VariableError> {
        let timing = crate::phases::start();
        let value = self.variables.get(&self.component, &name);
        crate::phases::finish(crate::phases::Phase::Variables, timing);
        value
    }
}

struct HostVariables;

impl HasData for HostVariables {
    type Data<'a> = &'a mut VariablesCtx;
}

/// Adds `fermyon:spin/variables@2.0.0` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut VariablesCtx,
) -> wasmtime::Result<()> {
    bindings::fermyon::spin::variables::add_to_linker::<T, HostVariables>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(extra_component_vars: &str) -> Manifest {
        crate::manifest::parse(&format!(
            r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
region = {{ default = "eu" }}
api_key = {{ required = true, secret = true }}
[component.one]
source = "one.wasm"
[component.one.variables]
url = "https://{{{{ region }}}}.example.com"
key = "{{{{api_key}}}}"
{extra_component_vars}
[component.two]
source = "two.wasm"
"#
        ))
        .unwrap()
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_and_env_overrides() {
        let vars = Variables::resolve(&manifest(""), env(&[("SPIN_VARIABLE_API_KEY", "k1")])).unwrap();
        assert_eq!(vars.get("one", "url").unwrap(), "https://eu.example.com");
        assert_eq!(vars.get("one", "key").unwrap(), "k1");

        let vars = Variables::resolve(
            &manifest(""),
            env(&[("SPIN_VARIABLE_API_KEY", "k1"), ("SPIN_VARIABLE_REGION", "us")]),
        )
        .unwrap();
        assert_eq!(vars.get("one", "url").unwrap(), "https://us.example.com");
    }

    #[test]
    fn components_see_only_their_own_variables() {
        let vars = Variables::resolve(&manifest(""), env(&[("SPIN_VARIABLE_API_KEY", "k1")])).unwrap();
        assert!(matches!(vars.get("two", "url"), Err(VariableError::Undefined(_))));
        assert!(matches!(vars.get("one", "region"), Err(VariableError::Undefined(_))));
        assert!(matches!(vars.get("one", "Bad-Name"), Err(VariableError::InvalidName(_))));
    }

    #[test]
    fn required_variable_without_value_fails_start_up() {
        let err = Variables::resolve(&manifest(""), env(&[])).unwrap_err().to_string();
        assert!(err.starts_with(r#"no provider resolved required variable(s): [Key("api_key")]"#), "{err}");
        assert!(err.contains("SPIN_VARIABLE_API_KEY"), "{err}");
    }

    #[test]
    fn template_naming_undeclared_variable_fails() {
        let err = Variables::resolve(
            &manifest("oops = \"{{ missing }}\""),
            env(&[("SPIN_VARIABLE_API_KEY", "k1")]),
        );
        assert!(err.is_err());
    }

    #[test]
    fn names() {
        for good in ["a", "db_url", "x1"] {
            check_name(good).unwrap();
        }
        for bad in ["", "A", "1a", "a__b", "a_", "a-b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
