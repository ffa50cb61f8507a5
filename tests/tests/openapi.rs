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
