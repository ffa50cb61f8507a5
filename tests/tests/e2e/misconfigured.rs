//! A destination that `allowed_outbound_hosts` refuses, because one variable
//! of a pair (`database_url` and `database_host`, `sentry_dsn` and
//! `sentry_origin`) was changed without the other, is a configuration error,
//! not an outage: 500 INTERNAL_ERROR (not 503, not PUSH_FAILED), one log line naming
//! the destination, the component and the pair, and `/health` says
//! `misconfigured`.

use devhost::runtime::{GuestOutput, MemoryOutputPipe};
use e2e::app::App;
use e2e::fake_sentry::FakeSentry;
use e2e::users::{bearer, new_user};
use serde_json::{json, Value};

/// Starts the app with `overrides`, capturing the components' stderr.
async fn app_with_logs(overrides: &[(&str, &str)]) -> (App, MemoryOutputPipe) {
    let logs = MemoryOutputPipe::new(16 << 20);
    let captured = logs.clone();
    let app = App::start_adjusting(overrides, move |options| {
        options.runtime.guest_output = GuestOutput::CaptureStderr(captured);
    })
    .await;
    (app, logs)
}

/// The captured lines whose `msg` names a misconfigured destination.
fn misconfigured_lines(logs: &MemoryOutputPipe) -> Vec<Value> {
    let text = String::from_utf8(logs.contents().to_vec()).unwrap();
    let lines: Vec<Value> = text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let found: Vec<Value> = lines.into_iter().filter(|line| line["msg"] == "misconfigured outbound destination").collect();
    for line in &found {
        println!("{line}");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_url_and_database_host_that_disagree_are_named() {
    if e2e::host::skipped_on_spin("reads the guest's stderr") {
        return;
    }
    let sentry = FakeSentry::start().await;
    let (app, logs) = app_with_logs(&[
        ("database_host", "127.0.0.1:1"),
        ("sentry_dsn", sentry.dsn.as_str()),
        ("sentry_origin", sentry.origin.as_str()),
    ])
    .await;
    let answer = app.post("/live-session-start", Some(&bearer(new_user())), r#"{"type":"video_live"}"#).await;
    assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"), "{:?}", answer.body);
    assert_eq!(sentry.envelopes().len(), 1, "the misconfiguration is reported to Sentry");

    let health = app.host.client.get(app.host.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 500);
    let body: Value = health.json().await.unwrap();
    assert_eq!((&body["status"], &body["database"]), (&json!("degraded"), &json!("misconfigured")));
    let reason = body["reason"].as_str().unwrap();
    assert!(reason.contains("database_url and database_host"), "{reason}");
    assert!(!reason.contains("postgres@"), "no user or password in the reason: {reason}");

    let lines = misconfigured_lines(&logs);
    let line = lines.iter().find(|line| line["component"] == "live-session-start").expect("a line names the component");
    assert_eq!(line["level"], "error");
    assert!(line["destination"].as_str().unwrap().starts_with("postgres://"), "{line}");
    assert!(line["variables"].as_str().unwrap().contains("database_host"), "{line}");
    assert!(lines.iter().any(|line| line["component"] == "health"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_has_no_pair_to_get_wrong() {
    if e2e::host::skipped_on_spin("reads the guest's stderr") {
        return;
    }
    // spin.toml derives push_url from push_origin: moving push_origin to
    // another host moves the ring there, with nothing else to change.
    let elsewhere = e2e::fake_push::FakePush::start().await;
    let origin = format!("http://{}", elsewhere.host());
    let (app, logs) = app_with_logs(&[("push_provider", "expo"), ("push_origin", origin.as_str())]).await;
    let manifest: toml::Table = std::fs::read_to_string(e2e::paths::spin_toml()).unwrap().parse().unwrap();
    assert!(!manifest["variables"].as_table().unwrap().contains_key("push_url"), "push_url is not an application variable");
    // Both people made through public routes: the callee registers a device.
    let (caller, callee) = (new_user(), new_user());
    let device = json!({ "token": "ExponentPushToken[device]", "platform": "ios" }).to_string();
    let registered = app.post("/push-token-register", Some(&bearer(callee)), &device).await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let answer = app.post("/call-initiate", Some(&bearer(caller)), &json!({ "calleeId": callee, "callType": "audio" }).to_string()).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert_eq!(elsewhere.received().len(), 1, "the ring went to push_origin");
    assert!(app.push.received().is_empty());
    assert!(misconfigured_lines(&logs).is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentry_dsn_and_sentry_origin_that_disagree_are_named() {
    if e2e::host::skipped_on_spin("reads the guest's stderr") {
        return;
    }
    let sentry = FakeSentry::start().await;
    // The DSN points at a self-hosted Sentry; sentry_origin keeps its default.
    // A TTL that is not a number makes token minting fail with INTERNAL_ERROR.
    let (app, logs) = app_with_logs(&[("sentry_dsn", sentry.dsn.as_str()), ("token_ttl_seconds", "six hours")]).await;
    let answer = app.post("/live-session-start", Some(&bearer(new_user())), r#"{"type":"video_live"}"#).await;
    assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"));
    assert!(sentry.envelopes().is_empty());

    let lines = misconfigured_lines(&logs);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["component"], "live-session-start");
    assert_eq!(lines[0]["destination"], sentry.origin.as_str());
    assert!(lines[0]["variables"].as_str().unwrap().contains("sentry_dsn and sentry_origin"));
    app.stop().await;
}
