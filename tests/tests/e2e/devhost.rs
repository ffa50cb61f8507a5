//! The devhost's capabilities, proven through the probe guest.

use std::collections::BTreeMap;

use e2e::db::TestDb;
use e2e::fake_tls::FakeTls;
use e2e::host::{vars, TestHost};
use e2e::manifests::{probe_app, probes_app, TempManifest};
use serde_json::Value;

async fn probe_host(allowed: &[&str], extra: &[(&str, &str)]) -> (TestHost, TempManifest) {
    let manifest = TempManifest::write(&probe_app(allowed)).unwrap();
    let mut variables = vars([("secret_token", "s3cret")]);
    for (name, value) in extra {
        variables.insert((*name).to_owned(), (*value).to_owned());
    }
    let host = TestHost::start(&manifest.path, variables).await.unwrap();
    (host, manifest)
}

/// An answer the host made itself: status, JSON body and request id.
struct HostAnswer {
    status: u16,
    body: Value,
    request_id: Option<String>,
}

/// Sends `request` with `x-request-id: req-test-1` and reads the answer,
/// checking what every answer carries: `content-length`, never chunked.
async fn host_answer(request: reqwest::RequestBuilder) -> HostAnswer {
    let response = request.header("x-request-id", "req-test-1").send().await.unwrap();
    let status = response.status().as_u16();
    assert!(response.headers().get("content-length").is_some(), "{status} without content-length");
    let request_id = response.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}"));
    HostAnswer { status, body, request_id }
}

async fn get_json(host: &TestHost, path: &str) -> (u16, Value) {
    let response = host.client.get(host.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let json = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{path}: not JSON: {body}"));
    (status, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_pick_the_most_specific_and_set_spin_headers() {
    let (host, _manifest) = probe_host(&[], &[]).await;

    let response = host
        .client
        .post(host.url("/probe/abc/x/y?q=1"))
        .header("spin-path-info", "/spoofed")
        .body("12345")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = response.json().await.unwrap();
    let headers = &echo["headers"];
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["bodyLength"], 5);
    assert_eq!(headers["spin-path-info"], "/x/y");
    assert_eq!(headers["spin-matched-route"], "/probe/:name/...");
    assert_eq!(headers["spin-raw-component-route"], "/probe/:name/...");
    assert_eq!(headers["spin-component-route"], "/probe/:name");
    assert_eq!(headers["spin-path-match-name"], "abc");
    assert_eq!(headers["spin-base-path"], "/");
    assert_eq!(headers["spin-full-url"], format!("{}/probe/abc/x/y?q=1", host.base_url));
    assert!(headers["spin-client-addr"].as_str().unwrap().starts_with("127.0.0.1:"));

    let (_, echo) = get_json(&host, "/other/path").await;
    assert_eq!(echo["headers"]["spin-matched-route"], "/...");
    assert_eq!(echo["headers"]["spin-path-info"], "/other/path");

    // The exact route beats the catch-all.
    let (status, health) = get_json(&host, "/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_answers_an_empty_404_as_spin_does() {
    let manifest = TempManifest::write(
        r#"spin_manifest_version = 2
[application]
name = "only-health"
[[trigger.http]]
route = "/health"
component = "health"
[component.health]
source = "{health}"
"#,
    )
    .unwrap();
    let host = TestHost::start(&manifest.path, BTreeMap::new()).await.unwrap();
    // Spin 4.0.2 answers an unrouted path itself, with no body; an app that
    // wants its own 404 adds a catch-all `/...` route (ours does).
    let response = host.client.get(host.url("/nothing/here")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_come_from_defaults_env_and_the_component_map_only() {
    let (host, _manifest) = probe_host(&[], &[]).await;
    let (_, body) = get_json(&host, "/var?name=greeting").await;
    assert_eq!(body["value"], "hello, world");
    // Declared for the application but not mapped into this component.
    let (_, body) = get_json(&host, "/var?name=secret_token").await;
    assert!(body["error"].as_str().unwrap().contains("Undefined"), "{body}");
    let (_, body) = get_json(&host, "/var?name=Not-Valid").await;
    assert!(body["error"].as_str().unwrap().contains("InvalidName"), "{body}");
    host.stop().await;

    let (host, _manifest) = probe_host(&[], &[("greeting", "merhaba")]).await;
    let (_, body) = get_json(&host, "/var?name=greeting").await;
    assert_eq!(body["value"], "merhaba, world");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_variable_without_value_stops_start_up() {
    let manifest = TempManifest::write(&probe_app(&[])).unwrap();
    let outcome = TestHost::start(&manifest.path, BTreeMap::new()).await;
    let error = outcome.err().expect("start-up must fail").to_string();
    // Spin 4.0.2's words; our host adds which environment variable to set.
    assert!(error.contains(r#"no provider resolved required variable(s): [Key("secret_token")]"#), "{error}");
}

/// Spin 4.0.2's blocking `query` never returns for a statement without
/// rows (it waits for the column list a first row would send); our host
/// traps instead, so the mistake fails at once here too. Components send
/// every query with an extra row (`domain::query_sentinel`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_without_rows_never_answers_on_spin_and_traps_here() {
    let db = TestDb::empty().await.unwrap();
    let (host, _manifest) = probe_host(&[], &[("db_url", &db.url)]).await;
    let answer = host.client.get(host.url("/pg/empty")).timeout(std::time::Duration::from_secs(3)).send().await;
    match e2e::host::runtime().unwrap() {
        e2e::host::Runtime::Devhost => assert_eq!(answer.unwrap().status(), 500),
        e2e::host::Runtime::Spin(_) => assert!(answer.is_err_and(|error| error.is_timeout()), "Spin answered a query without rows"),
    }
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_round_trips_every_value_type() {
    let db = TestDb::empty().await.unwrap();
    let (host, _manifest) = probe_host(&[], &[("db_url", &db.url)]).await;
    let (status, body) = get_json(&host, "/pg/roundtrip").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["columns"],
        serde_json::json!([
            "t:DbDataType::Str",
            "i:DbDataType::Int32",
            "b:DbDataType::Int64",
            "flag:DbDataType::Boolean",
            "f:DbDataType::Floating64",
            "u:DbDataType::Uuid",
            "j:DbDataType::Jsonb",
            "n:DbDataType::Str",
            "s:DbDataType::Int16",
            "r:DbDataType::Floating32",
            "ts:DbDataType::Datetime"
        ]),
        "{body}"
    );
    assert_eq!(
        body["values"],
        serde_json::json!([
            "DbValue::Str(\"héllo\")",
            "DbValue::Int32(-7)",
            "DbValue::Int64(1099511627776)",
            "DbValue::Boolean(true)",
            "DbValue::Floating64(2.5)",
            "DbValue::Uuid(\"7f1c2b0e-3c1d-4b6a-9a51-0e7c5f1d2a3b\")",
            "Jsonb({\"a\":[1,2]})",
            "DbValue::DbNull",
            "DbValue::Int16(12)",
            "DbValue::Floating32(0.5)",
            "DbValue::Datetime((2024, 1, 2, 3, 4, 5, 500000000))"
        ]),
        "{body}"
    );
    // Spin 4.0.2 reads `timestamp` and `timestamptz` through `NaiveDateTime`,
    // which tokio-postgres refuses for `timestamptz`: the whole query fails.
    let (status, body) = get_json(&host, "/pg/timestamptz").await;
    assert_eq!(status, 200);
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("QueryFailed"), "{body}");
    assert!(error.contains("error deserializing column 1: cannot convert between the Rust type"), "{body}");
    assert!(error.contains("NaiveDateTime") && error.contains("the Postgres type `timestamptz`"), "{body}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failures_are_clean_errors_for_the_guest() {
    let db = TestDb::empty().await.unwrap();
    let (host, _manifest) = probe_host(&[], &[("db_url", &db.url)]).await;
    let (status, body) = get_json(&host, "/pg/bad").await;
    assert_eq!(status, 200);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("QueryFailed") && error.contains("nowhere_at_all"), "{error}");
    assert!(error.contains("42P01"), "the SQLSTATE reaches the guest: {error}");
    host.stop().await;

    // Allowed but nobody listening: a connection error, not a host crash.
    let (host, _manifest) = probe_host(
        &[],
        &[("db_url", "postgres://postgres@127.0.0.1:1/nope"), ("db_host", "127.0.0.1:1")],
    )
    .await;
    let (_, body) = get_json(&host, "/pg/roundtrip").await;
    assert!(body["error"].as_str().unwrap().contains("ConnectionFailed"), "{body}");
    let (status, body) = get_json(&host, "/health").await;
    assert_eq!((status, body["database"].as_str()), (503, Some("unreachable")));
    host.stop().await;

    // Listening but not in allowed_outbound_hosts: refused as Spin refuses it.
    let (host, _manifest) = probe_host(&[], &[("db_url", &db.url), ("db_host", "127.0.0.1:5433")]).await;
    let (_, body) = get_json(&host, "/pg/roundtrip").await;
    assert!(body["error"].as_str().unwrap().contains("is not permitted"), "{body}");
    host.stop().await;
}

/// Spin 4.0.2 gives each component its own pools (a client factory per
/// component id), so two components on one database never share a session
/// and an app holds up to 64 connections per component. A host that shared
/// them would hold fewer, and hide a shortage Spin shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_component_has_its_own_postgres_connections() {
    let db = TestDb::empty().await.unwrap();
    let mut text = probes_app(&[("/...", "probe"), ("/other/...", "other-probe")], &["postgres://127.0.0.1:5432"]);
    for component in ["probe", "other-probe"] {
        text += &format!("\n[component.{component}.variables]\ndb_url = {:?}\n", db.url);
    }
    let manifest = TempManifest::write(&text).unwrap();
    let host = TestHost::start(&manifest.path, BTreeMap::new()).await.unwrap();

    // One request at a time: a component's pool hands its one idle
    // connection out again, and the other component's pool opens its own.
    let mut sessions: BTreeMap<&str, std::collections::BTreeSet<i64>> = BTreeMap::new();
    for _ in 0..3 {
        for prefix in ["", "/other"] {
            let (status, body) = get_json(&host, &format!("{prefix}/pg/backend")).await;
            assert_eq!(status, 200, "{body}");
            let pid = body["pid"].as_i64().unwrap_or_else(|| panic!("{prefix}: {body}"));
            sessions.entry(prefix).or_default().insert(pid);
        }
    }
    let (probe, other) = (&sessions[""], &sessions["/other"]);
    assert_eq!((probe.len(), other.len()), (1, 1), "each component reuses its pooled session: {sessions:?}");
    assert_ne!(probe, other, "the components share a session");

    // The server agrees: two sessions on the database besides ours.
    let client = db.client().await.unwrap();
    let row = client
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", &[&db.name])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);
    host.stop().await;
}

/// A local HTTP server that answers 204 to everything.
async fn tiny_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    let mut response = hyper::Response::new(http_body_util::Empty::<bytes::Bytes>::new());
                    *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                    Ok::<_, std::convert::Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_is_limited_to_allowed_hosts() {
    let allowed = tiny_server().await;
    let refused = tiny_server().await;
    let pattern = format!("http://127.0.0.1:{}", allowed.port());
    let (host, _manifest) = probe_host(&[&pattern], &[]).await;

    let (_, body) = get_json(&host, &format!("/fetch?url=http://127.0.0.1:{}/x", allowed.port())).await;
    assert_eq!(body["status"], 204, "{body}");

    let (_, body) = get_json(&host, &format!("/fetch?url=http://127.0.0.1:{}/x", refused.port())).await;
    assert!(body["error"].as_str().unwrap().contains("HttpRequestDenied"), "{body}");
    let (_, body) = get_json(&host, "/fetch?url=https://example.com/").await;
    assert!(body["error"].as_str().unwrap().contains("HttpRequestDenied"), "{body}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_answers_500_json_and_the_next_request_succeeds() {
    if e2e::host::skipped_on_spin("the 500 JSON after a trap is our host's own answer") {
        return;
    }
    let (host, _manifest) = probe_host(&[], &[]).await;
    let (status, body) = get_json(&host, "/trap").await;
    assert_eq!(status, 500);
    assert_eq!(body["errorCode"], "INTERNAL_ERROR");
    assert_eq!(body["success"], false);
    assert_eq!(body["retryable"], true);
    assert_eq!(body["error"], "Bir hata oluştu, tekrar deneyin");
    let english = host_answer(host.client.get(host.url("/trap")).header("accept-language", "en-GB,tr;q=0.5")).await;
    assert_eq!(english.body["error"], "Something went wrong, please try again");
    assert_eq!(english.request_id.as_deref(), Some("req-test-1"));
    let (status, _) = get_json(&host, "/empty").await;
    assert_eq!(status, 200);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    if e2e::host::skipped_on_spin("sets our host's body limit") {
        return;
    }
    let manifest = TempManifest::write(&probe_app(&[])).unwrap();
    let mut options = e2e::host::options(&manifest.path, vars([("secret_token", "x")]));
    options.http.max_body_bytes = 1024;
    let host = TestHost::start_with(options).await.unwrap();

    let declared = host.client.post(host.url("/echo")).body(vec![b'a'; 2000]).send().await.unwrap();
    assert_eq!(declared.status(), 413);
    let body: Value = declared.json().await.unwrap();
    assert_eq!(body["errorCode"], "PAYLOAD_TOO_LARGE");
    assert_eq!(body["retryable"], false);
    assert_eq!(body["error"], "İstek çok büyük");
    let english =
        host_answer(host.client.post(host.url("/echo")).header("accept-language", "en").body(vec![b'a'; 2000])).await;
    assert_eq!(english.status, 413);
    assert_eq!(english.body["error"], "The request is too large");
    assert_eq!(english.request_id.as_deref(), Some("req-test-1"));

    // Chunked, so the size is only known while reading.
    let chunks = futures_util::stream::iter([vec![b'a'; 700], vec![b'b'; 700]].map(Ok::<_, std::io::Error>));
    let streamed = host
        .client
        .post(host.url("/echo"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 413);

    let small = host.client.post(host.url("/echo")).body(vec![b'a'; 1000]).send().await.unwrap();
    assert_eq!(small.status(), 200);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_request_body_gets_400_json() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    if e2e::host::skipped_on_spin("our host's own JSON answer to a body it cannot read") {
        return;
    }
    let (host, _manifest) = probe_host(&[], &[]).await;
    let address = host.base_url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "POST /echo HTTP/1.1\r\nhost: {address}\r\naccept-language: en\r\nx-request-id: broken-1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("x-request-id: broken-1"), "{answer}");
    assert!(answer.contains(r#""errorCode":"INVALID_REQUEST""#) && answer.contains("Invalid request"), "{answer}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_past_the_request_timeout_gets_504_json() {
    if e2e::host::skipped_on_spin("sets our host's request timeout") {
        return;
    }
    let manifest = TempManifest::write(&probe_app(&[])).unwrap();
    let mut options = e2e::host::options(&manifest.path, vars([("secret_token", "x")]));
    options.http.request_timeout = std::time::Duration::from_millis(300);
    let host = TestHost::start_with(options).await.unwrap();
    let slow = host_answer(host.client.get(host.url("/sleep?ms=5000"))).await;
    assert_eq!(slow.status, 504);
    assert_eq!(slow.body["errorCode"], "TIMEOUT");
    assert_eq!(slow.body["retryable"], true);
    assert_eq!(slow.body["error"], "İstek zaman aşımına uğradı, tekrar deneyin");
    assert_eq!(slow.request_id.as_deref(), Some("req-test-1"));
    let (status, body) = get_json(&host, "/sleep?ms=10").await;
    assert_eq!((status, body["slept"].as_u64()), (200, Some(10)));
    host.stop().await;
}

/// Spin 4.0.2 serves every request of a `wasi:http@0.2` component with a
/// fresh instance, so a component's globals never outlive a request; ours
/// must do the same, or a component that caches in a global would look
/// faster here than in production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_a_fresh_instance_as_on_spin() {
    let (host, _manifest) = probe_host(&[], &[]).await;
    let mut counts = Vec::new();
    for _ in 0..50 {
        let (status, body) = get_json(&host, "/served").await;
        assert_eq!(status, 200);
        counts.push(body["served"].as_u64().unwrap());
    }
    assert!(counts.iter().all(|&count| count == 1), "{counts:?}");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_are_all_answered() {
    let (host, _manifest) = probe_host(&[], &[]).await;
    let url = host.url("/empty");
    let report = e2e::load::run(100, 100, std::sync::Arc::new(move |client, _| client.get(&url))).await;
    assert_eq!(report.statuses.get(&200), Some(&100), "{report:?}");
    assert_eq!(report.errors, 0);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_expression_the_plugin_refuses_stops_start_up() {
    // Spin's trigger-cron 0.5.0 takes six fields, seconds first; anything else
    // is `Error: ParseSchedule` there and the whole app stops.
    let with_expression = |expression: &str| {
        let text = probe_app(&[]).replace("cron_expression = \"* * * * * *\"", &format!("cron_expression = {expression:?}"));
        assert!(text.contains(expression));
        TempManifest::write(&text).unwrap()
    };
    for (expression, reason) in [
        ("*/10 * * * * * *", "Pattern must consist of five or six fields"),
        ("*/10 * * * *", "Pattern must consist of six fields, seconds can not be omitted"),
        ("*/10 * * * * MONDAY", "Component error: Invalid number"),
    ] {
        let manifest = with_expression(expression);
        // Our host itself, whatever E2E_RUNTIME says: this is its start-up check.
        let started = devhost::RunningHost::start(e2e::host::options(&manifest.path, vars([("secret_token", "x")]))).await;
        let error = match started {
            Ok(host) => {
                host.stop().await;
                panic!("{expression:?} was accepted");
            }
            Err(error) => format!("{error:#}"),
        };
        assert!(error.contains("[[trigger.cron]] for component \"probe\""), "{error}");
        assert!(error.contains(reason) && error.contains("`Error: ParseSchedule`"), "{expression:?}: {error}");
    }
    let manifest = with_expression("*/10 * * * * *");
    let host = devhost::RunningHost::start(e2e::host::options(&manifest.path, vars([("secret_token", "x")]))).await.unwrap();
    assert_eq!(host.cron_counts("probe"), Some((0, 0)));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fires_on_schedule_and_survives_a_failing_run() {
    if e2e::host::skipped_on_spin("Spin 4.0.2 has no cron trigger; this reads our host's cron counters") {
        return;
    }
    let db = TestDb::empty().await.unwrap();
    db.client()
        .await
        .unwrap()
        .batch_execute("CREATE TABLE probe_rows (value text NOT NULL)")
        .await
        .unwrap();
    let manifest = TempManifest::write(&probe_app(&[])).unwrap();
    let mut options = e2e::host::options(&manifest.path, vars([("secret_token", "x"), ("db_url", &db.url)]));
    options.run_cron_schedules = true;
    let host = TestHost::start_with(options).await.unwrap();

    // The schedule fires every second: wait for a row, with a deadline.
    let client = db.client().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let count: i64 = client
            .query_one("SELECT count(*) FROM probe_rows WHERE value LIKE 'cron:%'", &[])
            .await
            .unwrap()
            .get(0);
        if count > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "cron never ran");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (runs, failures) = host.host().cron_counts("probe").unwrap();
    assert!(runs >= 1 && failures == 0, "{runs} runs, {failures} failures");
    host.stop().await;

    let manifest = TempManifest::write(&probe_app(&[])).unwrap();
    let options = e2e::host::options(
        &manifest.path,
        vars([("secret_token", "x"), ("db_url", &db.url), ("cron_fail", "true")]),
    );
    let host = TestHost::start_with(options).await.unwrap();
    let outcome = host.host().fire_cron("probe").await.unwrap();
    assert_eq!(outcome, Err("asked to fail".to_owned()));
    assert_eq!(host.host().cron_counts("probe"), Some((1, 1)));
    // The HTTP side is unaffected by a failing cron run.
    let (status, _) = get_json(&host, "/empty").await;
    assert_eq!(status, 200);
    host.stop().await;
}

/// `probe` on `/...` and `other-probe`, the same guest, on `/other/...`,
/// both allowed `allowed`.
fn two_probes(allowed: &[&str]) -> TempManifest {
    TempManifest::write(&probes_app(&[("/...", "probe"), ("/other/...", "other-probe")], allowed)).unwrap()
}

/// A host for `manifest` with a runtime config file and an h2c authority.
async fn outbound_host(manifest: &TempManifest, runtime_config: Option<&std::path::Path>, h2c: Option<String>) -> TestHost {
    let mut options = e2e::host::options(&manifest.path, BTreeMap::new());
    options.runtime_config_file = runtime_config.map(std::path::Path::to_path_buf);
    options.outbound_http.h2c_prior_knowledge = h2c;
    TestHost::start_with(options).await.unwrap()
}

/// What the probe under `prefix` (`""` or `/other`) got for GET `url`.
async fn fetch(host: &TestHost, prefix: &str, url: &str) -> Value {
    let (status, body) = get_json(host, &format!("{prefix}/fetch?url={url}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A fake's answer: the HTTP version the request came in on.
async fn version_answer(request: hyper::Request<hyper::body::Incoming>) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
    hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(format!("{:?}", request.version()))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_https_speaks_http2_when_the_server_offers_it() {
    let h2 = FakeTls::https(version_answer).await.unwrap();
    let http1 = FakeTls::https_offering(e2e::fake_tls::HTTP1_ONLY, version_answer).await.unwrap();
    let trust = e2e::fake_tls::client_tls_config(&[&h2, &http1], &["probe"], &["127.0.0.1"], "").unwrap();
    let manifest = two_probes(&[&format!("https://127.0.0.1:{}", h2.port()), &format!("https://127.0.0.1:{}", http1.port())]);
    let host = outbound_host(&manifest, Some(&trust.path), None).await;

    for _ in 0..2 {
        let answer = fetch(&host, "", &format!("{}/push", h2.origin)).await;
        assert_eq!((answer["status"].as_u64(), answer["body"].as_str()), (Some(200), Some("HTTP/2.0")), "{answer}");
    }
    assert_eq!(h2.versions(), [hyper::Version::HTTP_2, hyper::Version::HTTP_2]);
    // The pool kept the connection: both requests went over one.
    assert_eq!(h2.connections(), 1);

    let answer = fetch(&host, "", &format!("{}/push", http1.origin)).await;
    assert_eq!(answer["body"], "HTTP/1.1", "{answer}");
    assert_eq!(http1.versions(), [hyper::Version::HTTP_11]);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_server_is_refused_unless_client_tls_trusts_it_for_that_component() {
    let fake = FakeTls::https(version_answer).await.unwrap();
    let url = format!("{}/push", fake.origin);
    let manifest = two_probes(&[&format!("https://127.0.0.1:{}", fake.port())]);

    // Without a runtime config: the platform and webpki roots, which do not
    // know the fake's authority.
    let host = outbound_host(&manifest, None, None).await;
    let answer = fetch(&host, "", &url).await;
    assert!(answer["error"].as_str().unwrap().contains("TlsProtocolError"), "{answer}");
    host.stop().await;

    // Trusted for `other-probe` only: `probe` is still refused.
    let trust = fake.trusted_by(&["other-probe"], &["127.0.0.1"]).unwrap();
    let host = outbound_host(&manifest, Some(&trust.path), None).await;
    let answer = fetch(&host, "", &url).await;
    assert!(answer["error"].as_str().unwrap().contains("TlsProtocolError"), "{answer}");
    let answer = fetch(&host, "/other", &url).await;
    assert_eq!(answer["body"], "HTTP/2.0", "{answer}");
    assert_eq!(fake.versions(), [hyper::Version::HTTP_2]);

    // Spin's pool is keyed by scheme and authority only, so once
    // `other-probe` has a verified connection, `probe` sends over it too; a
    // test that means to show a refusal must send before anyone is trusted.
    let answer = fetch(&host, "", &url).await;
    assert_eq!(answer["body"], "HTTP/2.0", "{answer}");
    assert_eq!(fake.connections(), 3, "two refused handshakes, then one connection for both components");
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_is_for_the_one_authority_it_names() {
    let h2c = FakeTls::plain(version_answer).await.unwrap();
    let http1 = FakeTls::plain(version_answer).await.unwrap();
    let manifest = two_probes(&[&format!("http://127.0.0.1:{}", h2c.port()), &format!("http://127.0.0.1:{}", http1.port())]);
    let host = outbound_host(&manifest, None, Some(format!("127.0.0.1:{}", h2c.port()))).await;

    let answer = fetch(&host, "", &format!("{}/x", h2c.origin)).await;
    assert_eq!(answer["body"], "HTTP/2.0", "{answer}");
    let answer = fetch(&host, "", &format!("{}/x", http1.origin)).await;
    assert_eq!(answer["body"], "HTTP/1.1", "{answer}");
    assert_eq!((h2c.versions(), http1.versions()), (vec![hyper::Version::HTTP_2], vec![hyper::Version::HTTP_11]));
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_failures_reach_the_guest_as_spin_reports_them() {
    let denied = FakeTls::https(version_answer).await.unwrap();
    let plain = FakeTls::plain(version_answer).await.unwrap();
    let trust = denied.trusted_by(&["probe"], &["127.0.0.1"]).unwrap();
    // Port 1: allowed, and nobody listens there.
    let manifest = two_probes(&["http://127.0.0.1:1", &format!("https://127.0.0.1:{}", plain.port())]);
    let host = outbound_host(&manifest, Some(&trust.path), None).await;

    // Trusted but not allowed: refused before anything is sent.
    let answer = fetch(&host, "", &format!("{}/push", denied.origin)).await;
    assert!(answer["error"].as_str().unwrap().contains("HttpRequestDenied"), "{answer}");
    assert_eq!(denied.connections(), 0);

    let answer = fetch(&host, "", "http://127.0.0.1:1/").await;
    assert!(answer["error"].as_str().unwrap().contains("ConnectionRefused"), "{answer}");

    // TLS to a server that speaks plain HTTP.
    let answer = fetch(&host, "", &format!("https://127.0.0.1:{}/", plain.port())).await;
    assert!(answer["error"].as_str().unwrap().contains("TlsProtocolError"), "{answer}");
    assert_eq!(plain.versions(), []);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbound_http_table_turns_pooling_off_as_on_spin() {
    let fake = FakeTls::https(version_answer).await.unwrap();
    // Spin reads a missing `connection_pooling` as false once the table is there.
    let trust = e2e::fake_tls::client_tls_config(&[&fake], &["probe"], &["127.0.0.1"], "[outbound_http]\n").unwrap();
    let manifest = two_probes(&[&format!("https://127.0.0.1:{}", fake.port())]);
    let host = outbound_host(&manifest, Some(&trust.path), None).await;
    for _ in 0..2 {
        let answer = fetch(&host, "", &format!("{}/push", fake.origin)).await;
        assert_eq!(answer["body"], "HTTP/2.0", "{answer}");
    }
    assert_eq!(fake.connections(), 2);
    host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_runtime_config_stops_start_up() {
    let manifest = two_probes(&[]);
    // Our host itself, whatever E2E_RUNTIME says: this is its start-up check.
    let start = |runtime_config: &std::path::Path| {
        let mut options = e2e::host::options(&manifest.path, BTreeMap::new());
        options.runtime_config_file = Some(runtime_config.to_path_buf());
        devhost::RunningHost::start(options)
    };
    for (text, reason) in [
        ("[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = [\"127.0.0.1:8443\"]\n", "[[client_tls]] #1: hosts: invalid TLS host \"127.0.0.1:8443\": ports are not supported"),
        ("[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = [\"127.0.0.1\"]\nca_roots_file = \"missing.pem\"\n", "[[client_tls]] #1: ca_roots_file: reading certificates from "),
        ("[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = []\n", "[[client_tls]] #1: hosts: the list may not be empty"),
        ("[[client_tls]]\ncomponent_ids = [\"probe\"]\nhosts = [\"127.0.0.1\"]\nca_roots = \"x.pem\"\n", "[[client_tls]] #1: unknown field `ca_roots`"),
        ("[outbound_http]\nconnection_pooling = \"yes\"\n", "[outbound_http]: invalid type"),
        ("client_tls = 1\n", "[[client_tls]] must be an array of tables"),
        ("bogus = 1\n", "unused runtime config key(s): bogus"),
        ("[[client_tls]\n", "not TOML"),
    ] {
        let file = e2e::manifests::TempRuntimeConfig::write(text, &[]).unwrap();
        let error = match start(&file.path).await {
            Ok(host) => {
                host.stop().await;
                panic!("accepted:\n{text}");
            }
            Err(error) => format!("{error:#}"),
        };
        let expected = format!("runtime config file {}: {reason}", file.path.display());
        assert!(error.starts_with(&expected), "{text}\nexpected: {expected}\n     got: {error}");
    }

    // The tables Spin reads and this host does not implement: started, with a warning each.
    let logs = devhost::log::capture();
    let file = e2e::manifests::TempRuntimeConfig::write(
        "[outbound_networking]\nblock_networks = [\"private\"]\n\n[key_value_store.default]\ntype = \"spin\"\n",
        &[],
    )
    .unwrap();
    start(&file.path).await.unwrap().stop().await;
    let path = file.path.display().to_string();
    let warned: Vec<String> = logs
        .lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["file"] == path.as_str() && line["level"] == "warn")
        .map(|line| line["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(warned, ["outbound_networking", "key_value_store"]);
}
