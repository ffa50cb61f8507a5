//! Every JWT attack the token issue lists, end to end: each is 401 UNAUTHORIZED
//! in Turkish and English, and nothing is written.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use e2e::app::App;
use e2e::users::{new_user, token_with, AUTH_SECRET};
use jwt_simple::prelude::*;
use serde_json::{json, Value};

const ISSUER: &str = "https://auth.example.test/auth/v1";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims_for(user: uuid::Uuid) -> Value {
    json!({ "sub": user.to_string(), "aud": "authenticated", "iss": ISSUER, "exp": now() + 3600, "iat": now() - 5, "role": "authenticated" })
}

fn raw(header: Value, claims: &Value, signature: &[u8]) -> String {
    format!("{}.{}.{}", b64(header.to_string()), b64(claims.to_string()), b64(signature))
}

fn custom(claims: Value) -> JWTClaims<serde_json::Map<String, Value>> {
    let Value::Object(custom) = claims else { panic!("object") };
    JWTClaims { issued_at: None, expires_at: None, invalid_before: None, issuer: None, subject: None, audiences: None, jwt_id: None, nonce: None, custom }
}

fn hs256(secret: &[u8], claims: Value) -> String {
    HS256Key::from_bytes(secret).authenticate(custom(claims)).unwrap()
}

fn with(user: uuid::Uuid, changes: Value) -> Value {
    let mut claims = claims_for(user);
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_jwt_attack_is_401_and_writes_nothing() {
    let ec = ES256KeyPair::generate().with_key_id("ec-1");
    let rsa = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-1");
    let point = ec.public_key().public_key().to_bytes_uncompressed();
    let components = rsa.public_key().to_components();
    let jwks = json!({ "keys": [
        { "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "ec-1", "x": b64(&point[1..33]), "y": b64(&point[33..65]) },
        { "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "rsa-1", "n": b64(&components.n), "e": b64(&components.e) },
    ]})
    .to_string();
    let app = App::start_with(&[("auth_jwks", &jwks), ("auth_issuer", ISSUER)]).await;
    let user = new_user();
    let session_body = json!({ "sessionId": uuid::Uuid::new_v4() }).to_string();

    // Positive controls: each configured key works, so the refusals below are about the attack.
    for token in [
        hs256(AUTH_SECRET.as_bytes(), claims_for(user)),
        ec.sign(custom(claims_for(user))).unwrap(),
        rsa.sign(custom(claims_for(user))).unwrap(),
    ] {
        let answer = app.post("/get-livekit-token", Some(&format!("Bearer {token}")), &session_body).await;
        assert_eq!(answer.code(), "SESSION_NOT_FOUND", "a valid token passes auth: {:?}", answer.body);
    }

    let rsa_public_pem = rsa.public_key().to_pem().unwrap();
    let attacks: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("empty header", Some(String::new())),
        ("bearer with garbage", Some("Bearer garbage".into())),
        ("bearer alone", Some("Bearer".into())),
        ("basic scheme", Some("Basic dXNlcjpwYXNz".into())),
        ("token without scheme", Some(hs256(AUTH_SECRET.as_bytes(), claims_for(user)))),
        ("alg none", Some(format!("Bearer {}", raw(json!({"alg": "none", "typ": "JWT"}), &claims_for(user), b"")))),
        ("alg NONE", Some(format!("Bearer {}", raw(json!({"alg": "NONE"}), &claims_for(user), b"")))),
        ("hs256 signed with the rsa public key (CVE-2015-9235)", Some(format!("Bearer {}", hs256(rsa_public_pem.as_bytes(), claims_for(user))))),
        ("hs256 signed with the jwks text", Some(format!("Bearer {}", hs256(jwks.as_bytes(), claims_for(user))))),
        ("ecdsa r = s = 0 (CVE-2022-21449)", Some(format!("Bearer {}", raw(json!({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}), &claims_for(user), &[0u8; 64])))),
        ("expired", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"exp": now() - 3600})))))),
        ("not yet valid", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"nbf": now() + 3600})))))),
        ("wrong audience", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"aud": "anon"})))))),
        ("wrong issuer", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"iss": "https://evil.test"})))))),
        ("wrong signature", Some(format!("Bearer {}", hs256(b"another-secret-of-sufficient-length!!", claims_for(user))))),
        ("wrong ec key", Some(format!("Bearer {}", ES256KeyPair::generate().with_key_id("ec-1").sign(custom(claims_for(user))).unwrap()))),
        ("missing exp", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"exp": null})))))),
        ("missing sub", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"sub": null})))))),
        ("sub not a uuid", Some(format!("Bearer {}", hs256(AUTH_SECRET.as_bytes(), with(user, json!({"sub": "admin"})))))),
        ("hs512", Some(format!("Bearer {}", HS512Key::from_bytes(AUTH_SECRET.as_bytes()).authenticate(custom(claims_for(user))).unwrap()))),
    ];
    for (name, authorization) in attacks {
        for (language, text) in [(None, "Oturum süresi doldu, tekrar giriş yapın"), (Some("en"), "Your session has expired, please sign in again")] {
            let headers: Vec<(&str, &str)> = language.map(|l| vec![("accept-language", l)]).unwrap_or_default();
            let answer = app.post_with("/get-livekit-token", authorization.as_deref(), &session_body, &headers).await;
            assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"), "{name}: {:?}", answer.body);
            assert_eq!(answer.body["error"], text, "{name}");
            assert_eq!(answer.body["retryable"], false, "{name}");
        }
    }
    // The users' default token helper works against this app too (leeway etc.).
    let fine = token_with(user, |claims| claims.with_issuer(ISSUER));
    assert_eq!(app.post("/get-livekit-token", Some(&format!("Bearer {fine}")), &session_body).await.code(), "SESSION_NOT_FOUND");
    let counted = app.sql().await.query_one("SELECT coalesce(sum(hits), 0)::bigint FROM token_rate_limits", &[]).await.unwrap();
    assert_eq!(counted.get::<_, i64>(0), 4, "only the four authenticated requests were counted");
    app.stop().await;
}

/// RFC 7518 asks HS256 keys for 256 bits: a shorter `auth_jwt_secret` is a
/// misconfiguration, answered as the others are (500 INTERNAL_ERROR, one log
/// line naming the variable), never a 401 that would look like the user's fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hs256_secret_under_32_bytes_is_refused() {
    let short = &AUTH_SECRET[..31];
    let logs = devhost::runtime::MemoryOutputPipe::new(1 << 20);
    let captured = logs.clone();
    let capture = !e2e::host::skipped_on_spin("reads the guest's stderr, which only our host captures in-process");
    let app = App::start_adjusting(&[("auth_jwt_secret", short)], move |options| {
        if capture {
            options.runtime.guest_output = devhost::runtime::GuestOutput::CaptureStderr(captured);
        }
    })
    .await;
    let user = new_user();
    let signed_with_the_short_secret = format!("Bearer {}", hs256(short.as_bytes(), claims_for(user)));
    let answer = app.post("/get-livekit-token", Some(&signed_with_the_short_secret), &json!({ "sessionId": new_user() }).to_string()).await;
    assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"), "{:?}", answer.body);
    let written: i64 = app.sql().await.query_one("SELECT count(*) FROM users", &[]).await.unwrap().get(0);
    assert_eq!(written, 0);
    if capture {
        let text = String::from_utf8(logs.contents().to_vec()).unwrap();
        assert!(text.contains("auth_jwt_secret is shorter than 32 bytes"), "{text}");
        assert!(!text.contains(short), "no secret in the logs");
    }
    app.stop().await;
}

/// Keys by URL (`auth_jwks_url`): the set the auth provider publishes is
/// fetched, shared through `auth_jwks_cache`, and fetched again for an
/// unknown `kid` at most once a minute; the fetch time is back-dated rather
/// than waited for.
mod keys_by_url {
    use e2e::app::{Answer, App};
    use e2e::fake_jwks::{FakeJwks, SigningKey};
    use e2e::users::{bearer, new_user};
    use serde_json::json;

    async fn token_request(app: &App, authorization: &str) -> Answer {
        let body = json!({ "sessionId": uuid::Uuid::new_v4() }).to_string();
        app.post("/get-livekit-token", Some(authorization), &body).await
    }

    /// Past the once-a-minute rule, as if the last fetch were two minutes old.
    async fn back_date_the_fetch(app: &App) {
        let moved = app
            .sql()
            .await
            .execute("UPDATE auth_jwks_cache SET attempted_at = attempted_at - interval '2 minutes'", &[])
            .await
            .unwrap();
        assert_eq!(moved, 1, "one shared row");
    }

    async fn shared_row(app: &App) -> (i64, Option<String>, Option<String>) {
        let row = app.sql().await.query_one("SELECT version, jwks, last_failure FROM auth_jwks_cache", &[]).await.unwrap();
        (row.get(0), row.get(1), row.get(2))
    }

    fn assert_admitted(answer: &Answer, what: &str) {
        assert_eq!(answer.code(), "SESSION_NOT_FOUND", "{what} passes auth: {:?}", answer.body);
    }

    fn assert_refused(answer: &Answer, what: &str) {
        assert_eq!((answer.status, answer.code()), (401, "UNAUTHORIZED"), "{what}: {:?}", answer.body);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotated_key_is_admitted_without_a_restart() {
        let key_a = SigningKey::generate("key-a");
        let key_b = SigningKey::generate("key-b");
        let jwks = FakeJwks::start(&[&key_a]).await;
        let app = App::start_with(&[("auth_jwks_url", &jwks.url), ("auth_jwks_origin", &jwks.origin)]).await;
        let user = new_user();

        assert_admitted(&token_request(&app, &key_a.bearer(user)).await, "key A");
        assert_eq!(jwks.requests(), 1, "the first token fetched the set");
        assert_admitted(&token_request(&app, &key_a.bearer(user)).await, "key A again");
        assert_admitted(&token_request(&app, &bearer(user)).await, "the HS256 secret beside the URL");
        assert_eq!(jwks.requests(), 1, "a known kid and the secret fetch nothing");

        // The URL failing in every way keeps the last good set.
        for (status, body, fetches) in [(503, "upstream down", 2), (200, "<html>", 1), (200, r#"{"keys": []}"#, 1), (404, "{}", 1)] {
            back_date_the_fetch(&app).await;
            jwks.answer_with(status, body);
            let before = jwks.requests();
            assert_refused(&token_request(&app, &SigningKey::generate("key-x").bearer(user)).await, "an unknown kid while the URL fails");
            assert_eq!(jwks.requests() - before, fetches, "{status} {body}: one refetch (a 503 retried once)");
            assert_admitted(&token_request(&app, &key_a.bearer(user)).await, "key A while the URL fails");
            let (version, document, failure) = shared_row(&app).await;
            assert_eq!(version, 1, "{status} {body}: the good set stays");
            assert!(document.is_some_and(|document| document.contains("key-a")));
            let expected = if status == 503 { "unreachable" } else { "misconfigured" };
            assert_eq!(failure.as_deref(), Some(expected), "{status} {body}");
        }

        // Rotation: the provider now signs with key B only.
        jwks.publish(&[&key_b]);
        back_date_the_fetch(&app).await;
        let before = jwks.requests();
        assert_admitted(&token_request(&app, &key_b.bearer(user)).await, "key B right after the rotation");
        assert_eq!(jwks.requests() - before, 1, "the new kid fetched the set once");
        let (version, document, failure) = shared_row(&app).await;
        assert_eq!((version, failure), (2, None));
        assert!(document.is_some_and(|document| document.contains("key-b") && !document.contains("key-a")));
        assert_admitted(&token_request(&app, &key_b.bearer(user)).await, "key B again");

        // Another unknown kid within the minute: refused without a fetch.
        assert_refused(&token_request(&app, &SigningKey::generate("key-c").bearer(user)).await, "an unknown kid within the minute");
        assert_refused(&token_request(&app, &SigningKey::generate("key-d").bearer(user)).await, "another one");
        assert_eq!(jwks.requests() - before, 1, "no fetch within a minute of the last");
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_good_set_ever_is_500_or_503_never_401() {
        use devhost::runtime::{GuestOutput, MemoryOutputPipe};
        let key_a = SigningKey::generate("key-a");
        let jwks = FakeJwks::start(&[&key_a]).await;
        jwks.answer_with(404, r#"{"message": "no such project"}"#);
        let logs = MemoryOutputPipe::new(16 << 20);
        let captured = logs.clone();
        let on_our_host = !e2e::host::skipped_on_spin("reads the guest's stderr, which only our host captures in-process");
        let app = App::start_adjusting(&[("auth_jwks_url", &jwks.url), ("auth_jwks_origin", &jwks.origin)], move |options| {
            options.runtime.guest_output = GuestOutput::CaptureStderr(captured);
        })
        .await;
        let user = new_user();

        // A wrong URL is a misconfiguration: 500, not retried, remembered for the minute.
        for attempt in ["first", "within the minute"] {
            let answer = token_request(&app, &key_a.bearer(user)).await;
            assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"), "{attempt}: {:?}", answer.body);
        }
        assert_eq!(jwks.requests(), 1);
        assert_admitted(&token_request(&app, &bearer(user)).await, "the HS256 secret needs no URL");

        // An outage: 503 after one retry.
        back_date_the_fetch(&app).await;
        jwks.answer_with(502, "bad gateway");
        let answer = token_request(&app, &key_a.bearer(user)).await;
        assert_eq!((answer.status, answer.code()), (503, "SERVICE_UNAVAILABLE"), "{:?}", answer.body);
        assert_eq!(jwks.requests(), 3);
        let (version, document, failure) = shared_row(&app).await;
        assert_eq!((version, document, failure.as_deref()), (0, None, Some("unreachable")));

        // The URL recovers: admitted at the next fetch.
        back_date_the_fetch(&app).await;
        jwks.publish(&[&key_a]);
        assert_admitted(&token_request(&app, &key_a.bearer(user)).await, "key A once the URL answers");
        assert_eq!(jwks.requests(), 4);

        if on_our_host {
            let text = String::from_utf8(logs.contents().to_vec()).unwrap();
            let failures: Vec<serde_json::Value> = text
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|line| line["msg"] == "auth_jwks_url fetch failed")
                .collect();
            assert_eq!(failures.len(), 2, "one line per failed refresh: {text}");
            assert!(failures.iter().all(|line| line["variable"] == "auth_jwks_url" && line["url"] == jwks.url.as_str()), "{failures:?}");
            assert_eq!(failures[0]["failure"], "misconfigured");
            assert_eq!(failures[1]["failure"], "unreachable");
        }
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_url_outside_the_allow_list_is_500() {
        let key_a = SigningKey::generate("key-a");
        let jwks = FakeJwks::start(&[&key_a]).await;
        // auth_jwks_origin keeps its default, https://*.supabase.co.
        let app = App::start_with(&[("auth_jwks_url", &jwks.url)]).await;
        let answer = token_request(&app, &key_a.bearer(new_user())).await;
        assert_eq!((answer.status, answer.code()), (500, "INTERNAL_ERROR"), "{:?}", answer.body);
        assert_eq!(jwks.requests(), 0, "the allow-list refused the fetch");
        let (_, document, failure) = shared_row(&app).await;
        assert_eq!((document, failure.as_deref()), (None, Some("misconfigured")));
        app.stop().await;
    }
}
