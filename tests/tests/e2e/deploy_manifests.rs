//! `deploy/spinkube/` cannot drift from `spin.toml`: the SpinApp binds every
//! required variable and no unknown one, each from the Secret when spin.toml
//! marks it secret and from the ConfigMap otherwise; every key it reads is in
//! the manifests or the Secret templates; the probes hit `/health`; the CronJob
//! posts to the route the sweep really has, with the cron secret; PgBouncer
//! runs in a pool mode the app works with, with room for every connection Spin
//! may open. No host runs: it reads files.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize as _;
use serde_json::Value;

const DIR: &str = "deploy/spinkube";

/// Spin 4.0.2's connection pool size per component and database address
/// (`CONNECTION_POOL_SIZE` in its `factor-outbound-pg`); Spin never closes an
/// idle pooled connection.
const SPIN_POOL_SIZE: u64 = 64;

/// ConfigMap keys whose value a deployment must choose, so they may differ
/// from spin.toml's default; every other key keeps the default.
const CHOSEN_PER_DEPLOYMENT: &[&str] = &["database_host", "livekit_url", "livekit_api_url", "livekit_api_key", "push_provider"];

/// What replaces a secret in a template: shorter than the 32 bytes the app
/// demands of `cron_secret` and `auth_jwt_secret`, so it is refused if left.
const PLACEHOLDER: &str = "REPLACE_ME";

#[test]
fn kustomization_applies_every_manifest_but_the_templates() {
    let listed: BTreeSet<String> = kustomization()["resources"]
        .as_array()
        .expect("kustomization.yaml has a `resources` list")
        .iter()
        .map(|file| file.as_str().unwrap().to_owned())
        .collect();
    for file in yaml_files() {
        let template = file.ends_with(".template.yaml") || file.ends_with(".optional.yaml");
        if file == "kustomization.yaml" {
            continue;
        }
        assert_eq!(
            listed.contains(&file),
            !template,
            "{DIR}/{file}: kustomization.yaml lists every manifest, and no *.template.yaml (applying one \
             would overwrite a real Secret with placeholders) or *.optional.yaml"
        );
    }
    for file in &listed {
        assert!(repo_file(file).exists(), "kustomization.yaml lists {file}, which {DIR} lacks");
    }
}

#[test]
fn every_required_variable_is_bound_and_none_is_unknown() {
    let declared = spin_variables();
    let bound = bindings();
    for (name, variable) in &declared {
        if variable.required {
            assert!(bound.contains_key(name), "spin.toml requires `{name}` but spinapp.yaml does not bind it: Spin would not start");
        }
    }
    for name in bound.keys() {
        assert!(declared.contains_key(name), "spinapp.yaml binds `{name}`, which spin.toml's [variables] does not declare");
    }
}

#[test]
fn secret_variables_come_from_the_secret_and_the_rest_from_the_config_map() {
    let declared = spin_variables();
    let app_secret = secret_of_the_app();
    for (name, source) in bindings() {
        let Some(variable) = declared.get(&name) else { continue };
        match (variable.secret, &source) {
            (true, Source::Secret { name: secret, .. }) => assert_eq!(secret, &app_secret, "`{name}`"),
            (true, _) => panic!("spin.toml marks `{name}` secret: spinapp.yaml must read it from the Secret `{app_secret}`, not {source:?}"),
            (false, Source::Secret { .. }) => {
                panic!("`{name}` is not secret in spin.toml: spinapp.yaml should read it from the ConfigMap, not {source:?}")
            }
            (false, Source::ConfigMap { .. } | Source::Value) => {}
        }
    }
}

#[test]
fn every_key_the_app_reads_is_in_the_manifests_or_templates() {
    let resources = resources();
    for (name, source) in bindings() {
        let (kind, object, key, field) = match &source {
            Source::Secret { name, key } => ("Secret", name, key, "stringData"),
            Source::ConfigMap { name, key } => ("ConfigMap", name, key, "data"),
            Source::Value => continue,
        };
        let resource = one(&resources, kind, object);
        assert!(
            resource[field].get(key).is_some(),
            "spinapp.yaml reads `{name}` from {kind} {object} key `{key}`, which the {kind} in {DIR} lacks: the pod would not start"
        );
    }
}

#[test]
fn the_config_map_keeps_spin_toml_defaults_but_where_a_deployment_must_choose() {
    let declared = spin_variables();
    let resources = resources();
    for (name, source) in bindings() {
        let Source::ConfigMap { name: object, key } = source else { continue };
        let value = one(&resources, "ConfigMap", &object)["data"][&key].as_str().unwrap_or_default().to_owned();
        let Some(default) = declared.get(&name).and_then(|variable| variable.default.clone()) else { continue };
        if CHOSEN_PER_DEPLOYMENT.contains(&name.as_str()) {
            continue;
        }
        assert_eq!(
            value, default,
            "ConfigMap {object} sets `{key}` to {value:?} but spin.toml's default is {default:?}: keep the default, \
             or add the key to CHOSEN_PER_DEPLOYMENT with a comment in config.yaml"
        );
    }
}

#[test]
fn the_secret_templates_hold_placeholders_only() {
    for resource in resources() {
        if resource.body["kind"] != "Secret" {
            continue;
        }
        assert!(resource.file.ends_with(".template.yaml"), "{DIR}/{}: a Secret lives only in a *.template.yaml", resource.file);
        assert!(resource.body.get("data").is_none(), "{DIR}/{}: write `stringData`, readable placeholders", resource.file);
        for (key, value) in resource.body["stringData"].as_object().unwrap() {
            let value = value.as_str().unwrap();
            assert!(
                value.is_empty() || value.contains(PLACEHOLDER),
                "{DIR}/{} key `{key}` holds a value that is neither empty nor a {PLACEHOLDER} placeholder",
                resource.file
            );
        }
    }
}

#[test]
fn probes_hit_health() {
    let routes = http_routes();
    assert_eq!(routes.get("health").map(String::as_str), Some("/health"), "spin.toml serves the health component at /health");
    let checks = &spinapp()["spec"]["checks"];
    for probe in ["liveness", "readiness"] {
        assert_eq!(checks[probe]["httpGet"]["path"], "/health", "spinapp.yaml's {probe} probe must GET /health");
    }
}

#[test]
fn the_cron_job_posts_to_the_sweep_route_with_the_cron_secret() {
    let manifest = spin_toml();
    let sweeper = manifest["trigger"]["cron"][0]["component"].as_str().expect("spin.toml has a [[trigger.cron]]").to_owned();
    let route = http_routes().remove(&sweeper).unwrap_or_else(|| panic!("spin.toml serves `{sweeper}` on no HTTP route"));

    let resources = resources();
    let cron_jobs: Vec<&Resource> = resources.iter().filter(|resource| resource.body["kind"] == "CronJob").collect();
    assert_eq!(cron_jobs.len(), 1, "{DIR} has one CronJob, the sweep's");
    let cron_job = &cron_jobs[0].body["spec"];
    assert_eq!(cron_job["schedule"], "* * * * *", "the sweep runs every minute (docs/deploy.md, \"With a sweep once a minute\")");
    assert_eq!(cron_job["concurrencyPolicy"], "Forbid", "one sweep Job at a time");
    let job = &cron_job["jobTemplate"]["spec"];
    let deadline = job["activeDeadlineSeconds"].as_u64().expect("the Job is bounded by activeDeadlineSeconds");
    assert!(deadline < 60, "activeDeadlineSeconds {deadline} must end a run before the next minute's");

    let containers = job["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|arg| arg.as_str().unwrap()).collect();
    let after = |flag: &str| args.iter().position(|arg| *arg == flag).map(|at| args[at + 1]);
    assert_eq!(after("-X"), Some("POST"), "the sweep's route takes POST: {args:?}");
    assert!(args.iter().any(|arg| arg.starts_with("--fail")), "curl must fail the Job on a non-2xx answer (--fail...): {args:?}");
    let max_time: u64 = after("--max-time").expect("curl is bounded by --max-time").parse().unwrap();
    assert!(max_time < deadline, "curl's --max-time {max_time} must end before activeDeadlineSeconds {deadline}");

    let url = reqwest::Url::parse(args.last().unwrap()).expect("the URL comes last");
    assert_eq!(url.path(), route, "the CronJob must call the route spin.toml has for `{sweeper}`");
    assert_eq!(url.host_str(), spinapp()["metadata"]["name"].as_str(), "the CronJob calls the SpinApp's Service");

    let header = after("-H").expect("the CronJob sends a header");
    let variable = header
        .strip_prefix("Authorization: Bearer $(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("the header must be `Authorization: Bearer $(<env>)`, not {header:?}"));
    let env = container["env"].as_array().unwrap().iter().find(|env| env["name"] == variable).unwrap_or_else(|| panic!("no env `{variable}`"));
    let from = &env["valueFrom"]["secretKeyRef"];
    let Some(Source::Secret { name, key }) = bindings().remove("cron_secret") else {
        panic!("spinapp.yaml binds cron_secret from a Secret")
    };
    assert_eq!((from["name"].as_str(), from["key"].as_str()), (Some(name.as_str()), Some(key.as_str())), "the CronJob sends the app's cron_secret");
}

#[test]
fn database_url_goes_through_the_pooler_named_in_database_host() {
    let resources = resources();
    let Some(Source::Secret { name, key }) = bindings().remove("database_url") else { panic!("database_url comes from a Secret") };
    let url = one(&resources, "Secret", &name)["stringData"][&key].as_str().unwrap().to_owned();
    let url = reqwest::Url::parse(&url).expect("database_url is a URL");
    let address = format!("{}:{}", url.host_str().unwrap(), url.port().expect("database_url names its port"));

    let Some(Source::ConfigMap { name: config, key: host_key }) = bindings().remove("database_host") else {
        panic!("database_host comes from the ConfigMap")
    };
    let database_host = one(&resources, "ConfigMap", &config)["data"][&host_key].as_str().unwrap().to_owned();
    assert_eq!(address, database_host, "database_host must be database_url's host:port (Spin's allow-list)");

    let service = one(&resources, "Service", url.host_str().unwrap());
    let port = url.port().unwrap();
    assert!(
        service["spec"]["ports"].as_array().unwrap().iter().any(|entry| entry["port"] == port),
        "the pooler's Service listens on {port}"
    );
    let ini = pgbouncer_ini(&resources);
    let database = url.path().trim_start_matches('/');
    assert!(ini["databases"].contains_key(database), "pgbouncer.ini's [databases] has no `{database}`, the one database_url asks for");
}

#[test]
fn pgbouncer_runs_in_a_pool_mode_the_app_works_with() {
    let resources = resources();
    let ini = pgbouncer_ini(&resources);
    let settings = &ini["pgbouncer"];
    let setting = |key: &str| settings.get(key).map(String::as_str).unwrap_or_default();
    let image = one(&resources, "Deployment", "livekit-backend-pgbouncer")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    let version: Vec<u32> = image.rsplit(':').next().unwrap().split('.').take(2).map(|part| part.parse().unwrap()).collect();

    // docs/spinkube.md, "PgBouncer": Spin prepares a named statement for every
    // query, which PgBouncer follows across server connections only from 1.21,
    // with max_prepared_statements above 0.
    assert_eq!(
        setting("pool_mode"),
        "transaction",
        "the app needs transaction mode: in session mode Spin's idle pooled connections (one pool per component) pin server connections"
    );
    assert!(version >= vec![1, 21], "transaction mode needs PgBouncer >= 1.21, the image is {image}");
    assert!(
        setting("max_prepared_statements").parse::<u64>().unwrap_or(0) > 0,
        "transaction mode needs max_prepared_statements > 0 (Spin prepares every query)"
    );

    let components = postgres_components();
    let replicas = spinapp()["spec"]["replicas"].as_u64().expect("spinapp.yaml sets replicas");
    let needed = replicas * components * SPIN_POOL_SIZE;
    let max_client_conn: u64 = setting("max_client_conn").parse().unwrap_or(0);
    assert!(
        max_client_conn >= needed,
        "max_client_conn {max_client_conn} < {replicas} replicas x {components} components using Postgres x {SPIN_POOL_SIZE} (Spin's pool)"
    );
}

/// One YAML document of one file in `deploy/spinkube`.
struct Resource {
    file: String,
    body: Value,
}

/// Where the SpinApp takes a variable's value from.
#[derive(Debug)]
enum Source {
    /// An inline `value`.
    Value,
    Secret { name: String, key: String },
    ConfigMap { name: String, key: String },
}

/// A variable of spin.toml's `[variables]`.
struct Variable {
    secret: bool,
    required: bool,
    default: Option<String>,
}

fn repo_file(file: &str) -> std::path::PathBuf {
    e2e::paths::repo_root().join(DIR).join(file)
}

fn yaml_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(e2e::paths::repo_root().join(DIR))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    files
}

fn kustomization() -> Value {
    serde_norway::from_str(&std::fs::read_to_string(repo_file("kustomization.yaml")).unwrap()).unwrap()
}

/// Every document of every manifest and template (kustomization.yaml aside).
fn resources() -> Vec<Resource> {
    let mut resources = Vec::new();
    for file in yaml_files().into_iter().filter(|file| file != "kustomization.yaml") {
        let text = std::fs::read_to_string(repo_file(&file)).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let body = Value::deserialize(document).unwrap_or_else(|error| panic!("{DIR}/{file}: {error}"));
            resources.push(Resource { file: file.clone(), body });
        }
    }
    resources
}

fn one<'a>(resources: &'a [Resource], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Resource> = resources.iter().filter(|resource| resource.body["kind"] == kind && resource.body["metadata"]["name"] == name).collect();
    assert_eq!(found.len(), 1, "{DIR} must hold one {kind} named {name}");
    &found[0].body
}

fn spinapp() -> Value {
    let resources = resources();
    let spinapps: Vec<&Resource> = resources.iter().filter(|resource| resource.body["kind"] == "SpinApp").collect();
    assert_eq!(spinapps.len(), 1, "{DIR} holds one SpinApp");
    assert_eq!(spinapps[0].body["apiVersion"], "core.spinkube.dev/v1alpha1");
    spinapps[0].body.clone()
}

/// The SpinApp's `variables`, by name.
fn bindings() -> BTreeMap<String, Source> {
    let mut bound = BTreeMap::new();
    for variable in spinapp()["spec"]["variables"].as_array().expect("spinapp.yaml has `variables`") {
        let name = variable["name"].as_str().unwrap().to_owned();
        let from = &variable["valueFrom"];
        let reference = |selector: &str| {
            let selector = &from[selector];
            (selector["name"].as_str().unwrap().to_owned(), selector["key"].as_str().unwrap().to_owned())
        };
        let source = if variable.get("value").is_some() {
            Source::Value
        } else if from.get("secretKeyRef").is_some() {
            let (name, key) = reference("secretKeyRef");
            Source::Secret { name, key }
        } else if from.get("configMapKeyRef").is_some() {
            let (name, key) = reference("configMapKeyRef");
            Source::ConfigMap { name, key }
        } else {
            panic!("spinapp.yaml: `{name}` has neither `value` nor a secretKeyRef / configMapKeyRef");
        };
        assert!(bound.insert(name.clone(), source).is_none(), "spinapp.yaml binds `{name}` twice");
    }
    bound
}

/// The Secret the app's secret variables come from (that of database_url).
fn secret_of_the_app() -> String {
    match bindings().remove("database_url") {
        Some(Source::Secret { name, .. }) => name,
        other => panic!("database_url comes from a Secret, not {other:?}"),
    }
}

fn spin_toml() -> toml::Value {
    toml::from_str(&std::fs::read_to_string(e2e::paths::spin_toml()).unwrap()).unwrap()
}

fn spin_variables() -> BTreeMap<String, Variable> {
    spin_toml()["variables"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(name, table)| {
            let flag = |key: &str| table.get(key).and_then(toml::Value::as_bool).unwrap_or(false);
            let default = table.get("default").and_then(toml::Value::as_str).map(str::to_owned);
            (name.clone(), Variable { secret: flag("secret"), required: flag("required"), default })
        })
        .collect()
}

/// spin.toml's HTTP routes, by component.
fn http_routes() -> BTreeMap<String, String> {
    spin_toml()["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trigger| (trigger["component"].as_str().unwrap().to_owned(), trigger["route"].as_str().unwrap().to_owned()))
        .collect()
}

/// How many components may open Postgres connections (a `postgres://` entry
/// in their allow-list): each has its own pool in Spin.
fn postgres_components() -> u64 {
    let manifest = spin_toml();
    let components = manifest["component"].as_table().unwrap();
    let count = components
        .values()
        .filter(|component| {
            component
                .get("allowed_outbound_hosts")
                .and_then(toml::Value::as_array)
                .is_some_and(|hosts| hosts.iter().any(|host| host.as_str().unwrap_or_default().starts_with("postgres://")))
        })
        .count();
    count as u64
}

/// pgbouncer.ini from the ConfigMap the pooler mounts: section, then key, then
/// value (`;` and `#` start comments).
fn pgbouncer_ini(resources: &[Resource]) -> BTreeMap<String, BTreeMap<String, String>> {
    let deployment = one(resources, "Deployment", "livekit-backend-pgbouncer");
    let config = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|volume| volume["configMap"]["name"].as_str())
        .expect("the pooler mounts a ConfigMap");
    let text = one(resources, "ConfigMap", config)["data"]["pgbouncer.ini"].as_str().expect("the ConfigMap holds pgbouncer.ini").to_owned();
    let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("pgbouncer.ini: not `key = value`: {line}"));
        sections.entry(section.clone()).or_default().insert(key.trim().to_owned(), value.trim().to_owned());
    }
    sections
}
