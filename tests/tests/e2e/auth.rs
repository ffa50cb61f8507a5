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
