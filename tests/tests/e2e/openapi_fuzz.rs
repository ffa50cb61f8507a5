//! An outside, property-based fuzzer (schemathesis, pinned in
//! `e2e::schemathesis`) runs every operation of `openapi.yaml` against the
//! running stack, signed in as a user, and must find nothing: positive and
//! negative cases, status codes, response schemas and headers, undeclared
//! methods, ignored authentication.
//!
//! `E2E_FUZZ_SEED` picks another seed, `E2E_FUZZ_EXAMPLES` more cases per
//! operation; the defaults keep CI repeatable.

use std::process::Command;
use std::time::Instant;

use e2e::app::App;
use e2e::users::{bearer, new_user, token};
use serde_json::json;

const CRON_SECRET: &str = "fuzz-cron-secret-of-at-least-32-bytes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    let st = e2e::schemathesis::ensure().expect("schemathesis installs");
    // No rate limit in the way: the fuzzer should reach each route's own checks.
    let app = App::start_with(&[("cron_secret", CRON_SECRET), ("token_rate_limit_per_minute", "1000000")]).await;
    let user = new_user();
    // Data the fuzzer cannot create for itself, made through public routes: a
    // callee with a device, and another host's live broadcast to watch.
    let callee = new_user();
    let registered = app.post("/push-token-register", Some(&bearer(callee)), &json!({ "token": "ExponentPushToken[fuzz]", "platform": "ios" }).to_string()).await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let started = app.post("/live-session-start", Some(&bearer(new_user())), r#"{"type":"audio_live"}"#).await;
    assert_eq!(started.status, 201, "{:?}", started.body);
    let session = started.body["session"]["id"].as_str().unwrap().to_owned();
    let work = std::env::temp_dir().join(format!("schemathesis-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work).unwrap();
    let config = work.join("schemathesis.toml");
    std::fs::write(&config, CONFIG.replace("CALLEE", &callee.to_string()).replace("SESSION", &session)).unwrap();

    let seed = std::env::var("E2E_FUZZ_SEED").unwrap_or_else(|_| "20261202".to_owned());
    let examples = std::env::var("E2E_FUZZ_EXAMPLES").unwrap_or_else(|_| "100".to_owned());
    let base = app.host.base_url.clone();
    // Two runs, each as a user of its own: the stateful phase first, so that
    // its chains (start a broadcast, then its status, token, end; ring, then
    // cancel) begin with a user who is not already live or in a call.
    for (phases, user) in [("stateful", new_user()), ("examples,coverage,fuzzing", user)] {
        let started = Instant::now();
        let output = tokio::task::spawn_blocking({
            let (st, work, config, base, seed, examples) = (st.clone(), work.clone(), config.clone(), base.clone(), seed.clone(), examples.clone());
            let user_jwt = token(user);
            move || {
                Command::new(st)
                    .current_dir(&work)
                    .env("ST_USER_JWT", user_jwt)
                    .env("ST_CRON_SECRET", CRON_SECRET)
                    .env("NO_COLOR", "1")
                    .arg("--config-file")
                    .arg(&config)
                    .arg("run")
                    .arg(e2e::paths::repo_root().join("openapi.yaml"))
                    .args(["--url", &base, "--checks", "all", "--phases", phases, "--seed", &seed, "--max-examples", &examples])
                    .args(["--workers", "2", "--no-color"])
                    .output()
                    .expect("st runs")
            }
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        let summary: Vec<&str> = stdout
            .lines()
            .map(str::trim)
            .filter(|line| ["Tested:", "generated", "Scenarios:", "API Links:"].iter().any(|word| line.contains(word)))
            .collect();
        eprintln!("schemathesis {} ({phases}) in {:.1} s: {}", e2e::schemathesis::VERSION, started.elapsed().as_secs_f64(), summary.join("; "));
        assert!(output.status.success(), "schemathesis ({phases}) found problems with seed {seed}; its report is above");
    }
    let _ = std::fs::remove_dir_all(&work);
    app.stop().await;
}

/// Each security scheme of the document gets its credential; half the
/// generated ids are ones that exist, so cases reach past 404. Calls and the
/// user's own sessions come from the document's links (stateful phase).
const CONFIG: &str = r#"
[auth.openapi.userJwt]
bearer = "${ST_USER_JWT}"

[auth.openapi.cronSecret]
bearer = "${ST_CRON_SECRET}"

# A valid request may find its target in a state that refuses it: 402 for a
# paid broadcast not bought, 409 busy or already live, 410 for a call that
# has ended (the stateful phase cancels a call, then asks for its token).
# Schemathesis' default list lacks 402 and 410.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "402", "403", "404", "409", "410", "429"]

[dictionaries.callees]
values = ["CALLEE"]

[dictionaries.sessions]
values = ["SESSION"]

[parameters]
"body.calleeId" = { dictionary = "callees", probability = 0.5 }
"body.sessionId" = { dictionary = "sessions", probability = 0.5 }
"query.sessionId" = { dictionary = "sessions", probability = 0.5 }
"#;
