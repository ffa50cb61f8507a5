//! INTERNAL_ERRORs and failed sweep steps reach Sentry as envelopes with the
//! request id, component, release, environment and user id, and no secrets;
//! without a DSN nothing is sent; a hanging Sentry delays nothing much.

use std::time::{Duration, Instant};

use e2e::app::App;
use e2e::fake_livekit::Mode;
use e2e::fake_sentry::FakeSentry;
use e2e::users::{bearer, new_user};

async fn broken_app(sentry: &FakeSentry, extra: &[(&str, &str)]) -> App {
    // A broken deployment: the TTL variable is not a number, so minting fails.
    let mut variables = vec![
        ("sentry_dsn", sentry.dsn.as_str()),
        ("sentry_origin", sentry.origin.as_str()),
        ("sentry_environment", "test"),
        ("token_ttl_seconds", "six hours"),
        ("cron_secret", "sentry-cron-secret-of-at-least-32-bytes"),
    ];
    variables.extend_from_slice(extra);
    App::start_with(&variables).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_is_reported_with_context_and_without_secrets() {
    let sentry = FakeSentry::start().await;
    let app = broken_app(&sentry, &[]).await;
    let user = new_user();
    let authorization = bearer(user);
    let answer = app
        .post_with("/live-session-start", Some(&authorization), r#"{"type":"video_live"}"#, &[("x-request-id", "req-123")])
        .await;
    assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"));
    assert_eq!(answer.header("x-request-id"), Some("req-123"));
    let envelopes = sentry.envelopes();
    assert_eq!(envelopes.len(), 1);
    let event = &envelopes[0].event;
    assert_eq!(envelopes[0].item["type"], "event");
    assert_eq!(envelopes[0].header["event_id"], event["event_id"]);
    assert_eq!(event["event_id"].as_str().unwrap().len(), 32);
    assert_eq!(event["tags"]["requestId"], "req-123");
    assert_eq!(event["tags"]["component"], "live-session-start");
    assert_eq!(event["tags"]["errorCode"], "INTERNAL_ERROR");
    assert_eq!(event["environment"], "test");
    assert_eq!(event["release"], "0.1.0");
    assert_eq!(event["user"]["id"], user.to_string());
    let token = authorization.trim_start_matches("Bearer ");
    assert!(!envelopes[0].raw.contains(token), "no JWT in the report");
    assert!(!envelopes[0].raw.contains(e2e::users::AUTH_SECRET), "no secret in the report");
    // Client errors are not reported.
    app.post("/live-session-start", None, r#"{"type":"video_live"}"#).await;
    assert_eq!(sentry.envelopes().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_sent_without_a_dsn_and_a_hanging_sentry_costs_at_most_its_timeout() {
    let sentry = FakeSentry::start().await;
    let app = App::start_with(&[("sentry_origin", sentry.origin.as_str()), ("token_ttl_seconds", "six hours")]).await;
    assert_eq!(app.post("/live-session-start", Some(&bearer(new_user())), r#"{"type":"video_live"}"#).await.status, 500);
    assert!(sentry.envelopes().is_empty());
    app.stop().await;

    let app = broken_app(&sentry, &[]).await;
    sentry.hang();
    let began = Instant::now();
    let answer = app.post("/live-session-start", Some(&bearer(new_user())), r#"{"type":"video_live"}"#).await;
    assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"));
    assert!(began.elapsed() < Duration::from_secs(4), "took {:?}", began.elapsed());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_step_that_livekit_failed_is_reported() {
    let sentry = FakeSentry::start().await;
    let app = broken_app(&sentry, &[("livekit_timeout_seconds", "1")]).await;
    app.sql()
        .await
        .execute(
            "INSERT INTO live_sessions (creator_id, type, livekit_room_name, updated_at) VALUES (gen_random_uuid(), 'video_live', 'live_x', now() - interval '1 hour')",
            &[],
        )
        .await
        .unwrap();
    app.livekit.set_mode(Mode::Fail);
    // The sweep's HTTP entry: the same run as the cron trigger's, on every runtime.
    let swept = app.post("/cleanup-orphans", Some("Bearer sentry-cron-secret-of-at-least-32-bytes"), "").await;
    assert_eq!(swept.status, 200, "{:?}", swept.body);
    let envelopes = sentry.envelopes();
    assert_eq!(envelopes.len(), 1, "{envelopes:?}");
    assert_eq!(envelopes[0].event["tags"]["component"], "cleanup-orphans");
    assert!(envelopes[0].event["extra"]["summary"]["livekitErrors"].as_u64().unwrap() >= 1);
    app.stop().await;
}
