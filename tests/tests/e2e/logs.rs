//! Component logs: one JSON object per line, every line of a request with its
//! request id, and never a token, a secret or a JWT.

use devhost::runtime::{GuestOutput, MemoryOutputPipe};
use e2e::app::App;
use e2e::fake_livekit::Mode;
use e2e::users::{bearer, new_user, AUTH_SECRET};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_line_is_json_with_the_request_id_and_no_secrets() {
    if e2e::host::skipped_on_spin("reads the guest's stderr, which only our host captures in-process") {
        return;
    }
    let logs = MemoryOutputPipe::new(64 << 20);
    let captured = logs.clone();
    let app = App::start_adjusting(&[("livekit_timeout_seconds", "1")], move |options| {
        options.runtime.guest_output = GuestOutput::CaptureStderr(captured);
    })
    .await;
    let host = new_user();
    let authorization = bearer(host);
    let started = app.post_with("/live-session-start", Some(&authorization), r#"{"type":"video_live"}"#, &[("x-request-id", "start-1")]).await;
    let session = started.body["session"]["id"].as_str().unwrap().to_owned();
    app.livekit.set_mode(Mode::Fail);
    // An end whose room deletion fails writes two lines: the warning and the request.
    let ended = app
        .post_with("/live-session-end", Some(&authorization), &format!(r#"{{"sessionId":"{session}"}}"#), &[("x-request-id", "end-1")])
        .await;
    assert_eq!(ended.body["roomDeletion"], "pending");
    app.post_with("/get-livekit-token", Some("Bearer nonsense"), "{}", &[("x-request-id", "bad-1")]).await;

    let text = String::from_utf8(logs.contents().to_vec()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"))).collect();
    let of = |id: &str| lines.iter().filter(|line| line["requestId"] == id).count();
    assert_eq!(of("start-1"), 1);
    assert_eq!(of("end-1"), 2, "{text}");
    assert_eq!(of("bad-1"), 1);
    for line in &lines {
        assert!(line["requestId"].is_string(), "{line}");
        assert!(line["level"].is_string() && line["component"].is_string(), "{line}");
    }
    let request = lines.iter().find(|line| line["requestId"] == "end-1" && line["msg"] == "request").unwrap();
    assert_eq!(request["component"], "live-session-end");
    assert_eq!(request["status"], 200);
    assert_eq!(request["userId"], host.to_string());
    assert!(request["durationMs"].is_number());
    let refused = lines.iter().find(|line| line["requestId"] == "bad-1").unwrap();
    assert_eq!(refused["errorCode"], "UNAUTHORIZED");
    assert!(!text.contains(authorization.trim_start_matches("Bearer ")), "no JWT in the logs");
    assert!(!text.contains(AUTH_SECRET) && !text.contains("nonsense"), "no secret or presented token in the logs");
    app.stop().await;
}

/// The host's lines and the components' lines share one schema, so a log
/// pipeline needs one parser: `level`, `component`, `msg`, `requestId` as
/// strings, `status` and `durationMs` as numbers; and a request the caller
/// sent without an id gets the same new one on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_and_component_lines_share_one_schema() {
    if e2e::host::skipped_on_spin("reads our host's own log lines") {
        return;
    }
    let component_logs = MemoryOutputPipe::new(16 << 20);
    let captured = component_logs.clone();
    let host_logs = devhost::log::capture();
    let app = App::start_adjusting(&[], move |options| {
        options.runtime.guest_output = GuestOutput::CaptureStderr(captured);
        options.http.log_requests = true;
    })
    .await;
    let answer = app.post("/get-livekit-token", Some("Bearer nonsense"), "{}").await;
    let request_id = answer.header("x-request-id").unwrap().to_owned();

    let component_text = String::from_utf8(component_logs.contents().to_vec()).unwrap();
    let component_line: serde_json::Value = component_text
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|line| line["requestId"] == request_id.as_str())
        .expect("the component logged the request");
    let host_line: serde_json::Value = host_logs
        .lines()
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|line| line["requestId"] == request_id.as_str() && line["msg"] == "request")
        .expect("the host logged the request with the same id");
    for line in [&component_line, &host_line] {
        for field in ["level", "component", "msg", "requestId", "method", "path"] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
        assert!(line["status"].is_u64() && line["durationMs"].is_number(), "{line}");
        assert_eq!(line["status"], 401, "{line}");
        assert_eq!(line["level"], "warn", "{line}");
        assert_eq!(line["component"], "get-livekit-token", "{line}");
    }
    assert_eq!(host_line["source"], "devhost");
    app.stop().await;
}
