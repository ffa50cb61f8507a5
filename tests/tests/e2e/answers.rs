//! What every answer carries, whoever makes it: `content-length` (never a
//! chunked body, which costs a delayed ACK on Spin), `x-request-id`, and for
//! errors the JSON contract. Unknown paths reach the catch-all component, so
//! they get `NOT_FOUND` on Spin too, where the runtime's own 404 is empty.
//! A method a route does not take gets 405 with `Allow` (RFC 9110 §15.5.6),
//! the route's methods in `openapi.yaml`.

use std::collections::BTreeMap;

use e2e::app::App;
use e2e::users::{bearer, new_user};
use serde_json::Value;

/// One request of the table below: method, path, `Authorization`, body,
/// expected status, and the expected `Allow` (only a 405 has one).
struct Case {
    method: &'static str,
    path: String,
    authorization: Option<String>,
    body: String,
    status: u16,
    allow: Option<Vec<String>>,
}

fn case(method: &'static str, path: &str, authorization: Option<&str>, body: &str, status: u16) -> Case {
    Case {
        method,
        path: path.to_owned(),
        authorization: authorization.map(str::to_owned),
        body: body.to_owned(),
        status,
        allow: None,
    }
}

/// Every path of `openapi.yaml` and its operations' methods (upper case, sorted).
fn documented_methods() -> BTreeMap<String, Vec<String>> {
    const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let text = std::fs::read_to_string(e2e::paths::repo_root().join("openapi.yaml")).unwrap();
    let document: Value = serde_norway::from_str(&text).unwrap();
    let paths = document["paths"].as_object().unwrap();
    paths
        .iter()
        .map(|(path, item)| {
            let mut methods: Vec<String> = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(|method| method.to_uppercase())
                .collect();
            methods.sort();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_with_content_length_and_never_chunked() {
    let app = App::start_with(&[("cron_secret", "sweep-secret-of-at-least-32-bytes")]).await;
    let host = new_user();
    let viewer = new_user();
    // Never signed in: no row, no device, whoever creates users.
    let stranger = new_user();
    let started = app.post("/live-session-start", Some(&bearer(host)), r#"{"type":"video_live"}"#).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let session = started.body["session"]["id"].as_str().unwrap().to_owned();
    let host_bearer = bearer(host);
    let viewer_bearer = bearer(viewer);
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(e2e::paths::spin_toml()).unwrap()).unwrap();
    let routes: Vec<String> = manifest["trigger"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|trigger| trigger["route"].as_str().unwrap().to_owned())
        .collect();

    let mut cases = vec![
        case("GET", "/health", None, "", 200),
        case("HEAD", "/health", None, "", 200),
        case("GET", "/openapi.yaml", None, "", 200),
        case("POST", "/get-livekit-token", Some(&viewer_bearer), &format!(r#"{{"sessionId":"{session}"}}"#), 200),
        case("GET", &format!("/live-session-status?sessionId={session}"), Some(&viewer_bearer), "", 200),
        case("POST", "/push-token-register", Some(&viewer_bearer), r#"{"token":"ExponentPushToken[a]","platform":"ios"}"#, 200),
        case("POST", "/push-token-unregister", Some(&viewer_bearer), r#"{"token":"ExponentPushToken[a]"}"#, 200),
        case("POST", "/cleanup-orphans", Some("Bearer sweep-secret-of-at-least-32-bytes"), "{}", 200),
        case("POST", "/live-session-end", Some(&host_bearer), &format!(r#"{{"sessionId":"{session}"}}"#), 200),
        case("POST", "/call-initiate", Some(&viewer_bearer), &format!(r#"{{"calleeId":"{stranger}","callType":"audio"}}"#), 404),
        case("POST", "/call-action", Some(&viewer_bearer), r#"{"callId":"nope"}"#, 400),
        case("POST", "/livekit-webhook", Some("not-a-jwt"), "{}", 401),
        case("POST", "/no/such/route", None, "{}", 404),
        case("DELETE", "/", None, "", 404),
    ];
    // Every route, wrongly: no bearer, and each method it does not take.
    let documented = documented_methods();
    for route in routes.iter().filter(|route| !route.ends_with("...")) {
        let methods = &documented[route];
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"].into_iter().filter(|method| !methods.iter().any(|m| m == method)) {
            cases.push(Case { allow: Some(methods.clone()), ..case(method, route, None, "", 405) });
        }
    }

    for case in cases {
        let mut request = app
            .host
            .client
            .request(case.method.parse().unwrap(), app.host.url(&case.path))
            .header("x-request-id", "contract-1")
            .body(case.body.clone());
        if let Some(authorization) = &case.authorization {
            request = request.header("authorization", authorization);
        }
        let response = request.send().await.unwrap();
        let what = format!("{} {}", case.method, case.path);
        assert_eq!(response.status().as_u16(), case.status, "{what}");
        let headers = response.headers().clone();
        assert!(headers.get("transfer-encoding").is_none(), "{what} answered chunked");
        let length: usize = headers
            .get("content-length")
            .unwrap_or_else(|| panic!("{what} has no content-length"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(headers.get("x-request-id").and_then(|v| v.to_str().ok()), Some("contract-1"), "{what}");
        let allow = headers.get("allow").map(|value| {
            let mut methods: Vec<String> = value.to_str().unwrap().split(", ").map(str::to_owned).collect();
            methods.sort();
            methods
        });
        assert_eq!(allow, case.allow, "{what}: Allow");
        let body = response.bytes().await.unwrap();
        if case.method != "HEAD" {
            assert_eq!(body.len(), length, "{what}");
        }
        if case.status >= 400 {
            let error: Value = serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{what}: not JSON"));
            assert_eq!(error["success"], false, "{what}");
            assert!(error["errorCode"].is_string(), "{what}");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_answer_not_found_in_either_language() {
    let app = App::start().await;
    let turkish = app.post("/get-livekit-token/extra", None, "{}").await;
    assert_eq!(turkish.status, 404);
    assert_eq!(turkish.code(), "NOT_FOUND");
    assert_eq!(turkish.body["error"], "İstenen adres bulunamadı");
    assert_eq!(turkish.body["retryable"], false);
    let english = app.post_with("/nothing", None, "", &[("accept-language", "en")]).await;
    assert_eq!(english.body["error"], "The requested address was not found");
    assert!(english.header("x-request-id").is_some());
    app.stop().await;
}

/// The host answers 413, 500 and 504 itself; its texts must be the app's.
#[test]
fn the_host_answers_with_the_apps_texts() {
    use devhost::answers::{HostError, Language};
    use domain::errors::{ApiError, ErrorCode, Language as AppLanguage};
    let pairs = [
        (HostError::InvalidRequest, ErrorCode::InvalidRequest),
        (HostError::PayloadTooLarge, ErrorCode::PayloadTooLarge),
        (HostError::Internal, ErrorCode::InternalError),
        (HostError::Timeout, ErrorCode::Timeout),
    ];
    for (host, app) in pairs {
        assert_eq!(host.code(), app.as_str());
        assert_eq!(host.status().as_u16(), app.http_status());
        assert_eq!(host.retryable(), app.retry_policy().retryable(), "{app:?}");
        assert_eq!(host.message(Language::Tr), ApiError::new(app).message(AppLanguage::Tr));
        assert_eq!(host.message(Language::En), ApiError::new(app).message(AppLanguage::En));
    }
    for header in [None, Some("en"), Some("tr-TR,en;q=0.5"), Some("fr, en;q=0.5"), Some("en;q=0, tr"), Some("en;q=abc")] {
        let host = Language::from_accept_language(header) == Language::En;
        let app = AppLanguage::from_accept_language(header) == AppLanguage::En;
        assert_eq!(host, app, "{header:?}");
    }
}
