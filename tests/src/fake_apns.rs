//! A fake of Apple's push service on 127.0.0.1, checking what Apple checks:
//! HTTP/2, the provider JWT (ES256 with the test key, `kid`, `iss`, `iat`
//! within the hour), `apns-topic`, `apns-push-type: voip`, priority and
//! expiration. It answers as APNs does: 200 with an `apns-id`, 410
//! `Unregistered`, 400 `BadDeviceToken`, 403 for a bad token.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::fake_jwt::{self, Signer};

/// The key id and team id of the APNs test key.
pub const KEY_ID: &str = "ABC123DEFG";
pub const TEAM_ID: &str = "DEF123GHIJ";
/// The app's bundle id; VoIP pushes go to `<bundle>.voip`.
pub const BUNDLE_ID: &str = "com.example.ring";

/// One push Apple accepted.
#[derive(Clone, Debug)]
pub struct VoipPush {
    pub device_token: String,
    pub payload: Value,
}

#[derive(Default)]
struct State {
    hang: bool,
    unregistered: HashSet<String>,
    bad: HashSet<String>,
    pushes: Vec<VoipPush>,
    refusals: Vec<String>,
    /// Distinct provider JWTs seen: a new one per request means no reuse.
    jwts: HashSet<String>,
}

/// A running fake behind TLS (HTTP/2 by ALPN).
pub struct FakeApns {
    pub server: crate::fake_tls::FakeTls,
    state: Arc<Mutex<State>>,
}

impl FakeApns {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = crate::fake_tls::FakeTls::https(move |request| answer(shared.clone(), request)).await.expect("the fake APNs starts");
        Self { server, state }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn origin(&self) -> String {
        self.server.origin.clone()
    }

    /// From now on, answers nothing.
    pub fn hang(&self, hang: bool) {
        self.state.lock().expect("fake state").hang = hang;
    }

    /// `token` answers 410 `Unregistered` from now on.
    pub fn unregister(&self, token: &str) {
        self.state.lock().expect("fake state").unregistered.insert(token.to_owned());
    }

    /// `token` answers 400 `BadDeviceToken` from now on.
    pub fn bad_token(&self, token: &str) {
        self.state.lock().expect("fake state").bad.insert(token.to_owned());
    }

    pub fn pushes(&self) -> Vec<VoipPush> {
        self.state.lock().expect("fake state").pushes.clone()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.state.lock().expect("fake state").refusals.clone()
    }

    /// How many distinct provider JWTs signed the requests so far.
    pub fn distinct_jwts(&self) -> usize {
        self.state.lock().expect("fake state").jwts.len()
    }
}

fn apns_answer(status: u16, reason: Option<&str>) -> hyper::Response<Full<Bytes>> {
    let body = reason.map_or_else(String::new, |reason| json!({ "reason": reason }).to_string());
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("apns-id", hyper::header::HeaderValue::from_static("EC1BF194-B3B2-424A-89A9-5A918A6E6B5C"));
    response
}

async fn answer(state: Arc<Mutex<State>>, request: hyper::Request<hyper::body::Incoming>) -> hyper::Response<Full<Bytes>> {
    if state.lock().expect("fake state").hang {
        std::future::pending::<()>().await;
    }
    let refuse = |status: u16, reason: &str, why: String| {
        state.lock().expect("fake state").refusals.push(why);
        apns_answer(status, Some(reason))
    };
    if request.version() != hyper::Version::HTTP_2 {
        return refuse(400, "BadRequest", format!("HTTP version {:?}", request.version()));
    }
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let Some(device_token) = request.uri().path().strip_prefix("/3/device/").map(str::to_owned) else {
        return refuse(404, "BadPath", format!("path {}", request.uri().path()));
    };
    let jwt = header("authorization").strip_prefix("bearer ").unwrap_or("").to_owned();
    let (jwt_header, claims) = match fake_jwt::verify(&jwt, Signer::Apns) {
        Ok(parts) => parts,
        Err(why) => return refuse(403, "InvalidProviderToken", format!("jwt: {why}")),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
    if jwt_header["alg"] != "ES256" || jwt_header["kid"] != KEY_ID || claims["iss"] != TEAM_ID {
        return refuse(403, "InvalidProviderToken", format!("jwt {jwt_header} {claims}"));
    }
    if now - claims["iat"].as_i64().unwrap_or(0) > 3600 {
        return refuse(403, "ExpiredProviderToken", "jwt older than an hour".into());
    }
    let checks = [
        ("apns-push-type", "voip".to_owned()),
        ("apns-topic", format!("{BUNDLE_ID}.voip")),
        ("apns-priority", "10".to_owned()),
        ("apns-expiration", "0".to_owned()),
    ];
    for (name, expected) in checks {
        if header(name) != expected {
            return refuse(400, "BadTopic", format!("{name}: {:?}", header(name)));
        }
    }
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return refuse(400, "PayloadEmpty", "payload is not JSON".into());
    };
    let mut state = state.lock().expect("fake state");
    state.jwts.insert(jwt);
    if state.unregistered.contains(&device_token) {
        let mut response = apns_answer(410, None);
        *response.body_mut() = Full::new(Bytes::from(json!({ "reason": "Unregistered", "timestamp": now * 1000 }).to_string()));
        return response;
    }
    if state.bad.contains(&device_token) {
        return apns_answer(400, Some("BadDeviceToken"));
    }
    state.pushes.push(VoipPush { device_token, payload });
    apns_answer(200, None)
}
