//! `openapi.yaml` cannot drift: its paths are exactly the routes of
//! `spin.toml` (but the catch-all), its error codes exactly the domain's table,
//! and the served document is the file.

use std::collections::BTreeSet;

use e2e::app::App;

/// The route of the component that answers NOT_FOUND for every path no other
/// route serves. OpenAPI has no path for "any other path", so the document
/// describes it in `info.description` instead of listing it.
const CATCH_ALL: &str = "/...";

fn document() -> serde_json::Value {
    let text = std::fs::read_to_string(e2e::paths::repo_root().join("openapi.yaml")).unwrap();
    serde_norway::from_str(&text).expect("openapi.yaml is valid YAML")
}

#[test]
fn paths_are_the_routes_of_spin_toml() {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(e2e::paths::spin_toml()).unwrap()).unwrap();
    let routes: BTreeSet<String> = manifest["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trigger| trigger["route"].as_str().unwrap().to_owned())
        .filter(|route| route != CATCH_ALL)
        .collect();
    let paths: BTreeSet<String> = document()["paths"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(paths, routes);
}

#[test]
fn the_catch_all_is_described_not_listed() {
    let description = document()["info"]["description"].as_str().unwrap().to_owned();
    assert!(description.contains(&format!("`route = \"{CATCH_ALL}\"`")), "{description}");
    assert!(description.contains("NOT_FOUND"), "{description}");
}

#[test]
fn error_codes_are_the_domain_table() {
    let documented: BTreeSet<String> = document()["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    let table: BTreeSet<String> = domain::errors::ALL_CODES.iter().map(|code| code.as_str().to_owned()).collect();
    assert_eq!(documented, table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served() {
    let app = App::start().await;
    let answer = app.host.client.get(app.host.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"].to_str().unwrap().starts_with("application/yaml"));
    let served = answer.text().await.unwrap();
    assert_eq!(served, std::fs::read_to_string(e2e::paths::repo_root().join("openapi.yaml")).unwrap());
    app.stop().await;
}

/// A 405 carries `Allow` (RFC 9110 §15.5.6): the shared error answer says so,
/// and `tests/answers.rs` checks it equals each path's operations here.
#[test]
fn the_error_answer_documents_allow() {
    let allow = &document()["components"]["responses"]["Error"]["headers"]["Allow"];
    assert!(allow["description"].as_str().is_some_and(|text| text.contains("METHOD_NOT_ALLOWED")), "{allow}");
}

/// The docs' tables of error codes and variables are hand-written prose, but
/// every fact in them that the code also states is checked against the code.
mod docs {
    use std::collections::BTreeSet;

    use domain::errors::{ApiError, Language, RetryPolicy, ALL_CODES};

    fn read(path: &str) -> String {
        std::fs::read_to_string(e2e::paths::repo_root().join(path)).unwrap()
    }

    /// The cells of each row of the first table whose header starts with `header`.
    fn table(text: &str, header: &str) -> Vec<Vec<String>> {
        let mut lines = text.lines().skip_while(|line| !line.starts_with(header));
        assert!(lines.next().is_some(), "no table headed {header:?}");
        lines
            .skip(1)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                // A `\|` inside a cell is a literal bar, not a column.
                let line = line.replace("\\|", "\u{0}");
                line.trim_matches('|').split('|').map(|cell| cell.trim().replace('\u{0}', "|")).collect()
            })
            .collect()
    }

    /// The names in backticks of a cell, in order.
    fn quoted(cell: &str) -> Vec<String> {
        cell.split('`').skip(1).step_by(2).map(str::to_owned).collect()
    }

    #[test]
    fn the_error_table_is_the_domain_table() {
        let rows = table(&read("docs/errors.md"), "| errorCode |");
        let mut seen = BTreeSet::new();
        for row in &rows {
            let [code, status, retry, tr, en] = &row[..] else { panic!("row {row:?} has not five cells") };
            let name = quoted(code).first().cloned().unwrap_or_default();
            let Some(known) = ALL_CODES.iter().find(|known| known.as_str() == name) else {
                panic!("docs/errors.md lists {name:?}, which crates/domain/src/errors.rs does not have");
            };
            assert!(seen.insert(name.clone()), "{name} is listed twice");
            assert_eq!(status, &known.http_status().to_string(), "{name}'s status");
            let policy = match known.retry_policy() {
                RetryPolicy::Never => "no".to_owned(),
                RetryPolicy::AfterSeconds(seconds) => format!("after {seconds} s"),
                RetryPolicy::Backoff { attempts } => format!("{attempts} times"),
            };
            assert!(retry.starts_with(&policy), "{name}'s retry is {retry:?}, the domain says {policy:?}");
            let error = ApiError::new(*known);
            for (cell, language) in [(tr, Language::Tr), (en, Language::En)] {
                let text = error.message(language);
                assert!(cell.starts_with(&text), "{name}'s {language:?} text is {cell:?}, the domain says {text:?}");
            }
        }
        let all: BTreeSet<String> = ALL_CODES.iter().map(|code| code.as_str().to_owned()).collect();
        assert_eq!(seen, all, "docs/errors.md must list every code once");
    }

    #[test]
    fn the_variable_table_is_spin_toml() {
        let manifest: toml::Value = toml::from_str(&read("spin.toml")).unwrap();
        let variables = manifest["variables"].as_table().unwrap();
        let rows = table(&read("docs/variables.md"), "| variable |");
        let mut seen = BTreeSet::new();
        for row in &rows {
            let [names, defaults, secret, _meaning] = &row[..] else { panic!("row {row:?} has not four cells") };
            let names = quoted(names);
            let defaults: Vec<String> = match defaults.as_str() {
                "empty" | "required" => vec![defaults.clone(); names.len()],
                _ => quoted(defaults),
            };
            assert_eq!(defaults.len(), names.len(), "row {row:?}: one default per variable");
            for (name, default) in names.iter().zip(&defaults) {
                let Some(declared) = variables.get(name) else {
                    panic!("docs/variables.md lists {name:?}, which spin.toml does not declare");
                };
                assert!(seen.insert(name.clone()), "{name} is listed twice");
                let expected = match (declared.get("required"), declared.get("default")) {
                    (Some(toml::Value::Boolean(true)), _) => "required".to_owned(),
                    (_, Some(toml::Value::String(value))) if value.is_empty() => "empty".to_owned(),
                    (_, Some(toml::Value::String(value))) => value.clone(),
                    other => panic!("{name}: {other:?}"),
                };
                assert_eq!(default, &expected, "{name}'s default");
                let is_secret = declared.get("secret").and_then(toml::Value::as_bool).unwrap_or(false);
                assert_eq!(secret, if is_secret { "yes" } else { "no" }, "{name}'s secret");
            }
        }
        let all: BTreeSet<String> = variables.keys().cloned().collect();
        assert_eq!(seen, all, "docs/variables.md must list every variable of spin.toml once");
    }

    #[test]
    fn the_readme_is_a_front_door() {
        let readme = read("README.md");
        assert!(readme.lines().count() <= 200, "README.md has {} lines; details go to docs/", readme.lines().count());
        for entry in std::fs::read_dir(e2e::paths::repo_root().join("docs")).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".md") {
                assert!(readme.contains(&format!("](docs/{name})")), "README.md does not link docs/{name}");
            }
        }
        // Commands and links the README gives must exist.
        assert!(readme.contains("cargo xtask up") && readme.contains("cargo xtask test"));
    }
}

/// A component that verifies users needs every key source: one that missed
/// `auth_jwks_url` would answer 500 to every user of a Supabase project with
/// rotating keys while the others admit them.
#[test]
fn every_component_that_verifies_users_has_every_key_source() {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(e2e::paths::spin_toml()).unwrap()).unwrap();
    let auth = ["auth_jwt_secret", "auth_jwks", "auth_audience", "auth_issuer", "auth_jwks_url", "auth_jwks_timeout_seconds", "auth_jwks_max_age_seconds"];
    for (id, component) in manifest["component"].as_table().unwrap() {
        let Some(variables) = component.get("variables").and_then(toml::Value::as_table) else { continue };
        if !variables.contains_key("auth_jwt_secret") {
            continue;
        }
        for name in auth {
            assert!(variables.contains_key(name), "{id} verifies users but lacks the variable {name}");
        }
        let hosts: Vec<&str> = component["allowed_outbound_hosts"].as_array().unwrap().iter().filter_map(toml::Value::as_str).collect();
        assert!(hosts.contains(&"{{ auth_jwks_origin }}"), "{id} verifies users but cannot reach auth_jwks_origin");
    }
}

/// The `call_ended` push's statuses (the client kit's stop-ringing list is
/// generated from them) are the states the call state machine moves a ringing
/// call to.
#[test]
fn call_ended_statuses_are_the_transitions_out_of_ringing() {
    use domain::call::{CallStatus, TRANSITIONS};
    let documented: BTreeSet<String> = document()["components"]["schemas"]["CallEndedStatus"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|status| status.as_str().unwrap().to_owned())
        .collect();
    let out_of_ringing: BTreeSet<String> =
        TRANSITIONS.iter().filter(|t| t.from.contains(&CallStatus::Ringing)).map(|t| t.to.as_str().to_owned()).collect();
    assert_eq!(documented, out_of_ringing);
}
