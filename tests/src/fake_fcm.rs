//! A fake of Google's OAuth token endpoint and FCM HTTP v1 on 127.0.0.1,
//! checking what Google checks: the signed JWT grant (RS256 with the service
//! account's key, `kid`, `iss`, `aud`, `scope`, `exp` within an hour), then
//! the bearer token it issued and the message's shape.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::fake_jwt::{self, Signer};

/// The Firebase project of the test service account.
pub const PROJECT: &str = "ring-test";
/// The scope FCM needs.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// One message FCM accepted or refused.
#[derive(Clone, Debug)]
pub struct FcmMessage {
    pub token: String,
    /// `message.data`, every value a string.
    pub data: Value,
    /// `message.android`.
    pub android: Value,
    /// The whole `message`.
    pub message: Value,
}

#[derive(Default)]
struct State {
    hang: bool,
    /// Sends answer a proxy's HTML 404, as a wrong `fcm_origin` would.
    html_404: bool,
    unregistered: HashSet<String>,
    issued: Vec<String>,
    exchanges: usize,
    refusals: Vec<String>,
    messages: Vec<FcmMessage>,
}

/// A running fake: `origin` serves both `/token` and `/v1/...`.
pub struct FakeFcm {
    pub origin: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeFcm {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let origin = format!("http://{}", listener.local_addr().expect("bound address"));
        let state = Arc::new(Mutex::new(State::default()));
        let expected_aud = format!("{origin}/token");
        let task = crate::fake_server::spawn(listener, (state.clone(), Arc::new(expected_aud)), answer);
        Self { origin, state, task }
    }

    /// The service-account JSON a component needs to use this fake.
    pub fn service_account_json(&self) -> String {
        fake_jwt::service_account_json(PROJECT, &format!("{}/token", self.origin))
    }

    /// From now on, answers nothing.
    pub fn hang(&self, hang: bool) {
        self.state.lock().expect("fake state").hang = hang;
    }

    /// From now on, every send answers `404 Not Found` in HTML, as a proxy or
    /// a wrong `fcm_origin` does (the OAuth endpoint still works).
    pub fn answer_html_404(&self, on: bool) {
        self.state.lock().expect("fake state").html_404 = on;
    }

    /// `token` answers 404 `UNREGISTERED` from now on.
    pub fn unregister(&self, token: &str) {
        self.state.lock().expect("fake state").unregistered.insert(token.to_owned());
    }

    /// Messages that passed every check, in arrival order.
    pub fn messages(&self) -> Vec<FcmMessage> {
        self.state.lock().expect("fake state").messages.clone()
    }

    /// How many grants were exchanged for access tokens.
    pub fn exchanges(&self) -> usize {
        self.state.lock().expect("fake state").exchanges
    }

    /// Why requests were refused (a check that failed), if any were.
    pub fn refusals(&self) -> Vec<String> {
        self.state.lock().expect("fake state").refusals.clone()
    }
}

impl Drop for FakeFcm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = (Arc<Mutex<State>>, Arc<String>);

async fn answer((state, expected_aud): Shared, request: hyper::Request<hyper::body::Incoming>) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    if state.lock().expect("fake state").hang {
        std::future::pending::<()>().await;
    }
    let path = request.uri().path().to_owned();
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let content_type = request.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let refuse = |status: u16, why: String| {
        state.lock().expect("fake state").refusals.push(why.clone());
        Ok(crate::fake_server::json(status, &json!({ "error": { "code": status, "message": why, "status": "INVALID_ARGUMENT" } })))
    };
    if path == "/token" {
        if content_type != "application/x-www-form-urlencoded" {
            return refuse(400, format!("token: content-type {content_type}"));
        }
        let form = String::from_utf8_lossy(&body).to_string();
        let field = |name: &str| form.split('&').find_map(|pair| pair.strip_prefix(&format!("{name}="))).unwrap_or("").to_owned();
        if field("grant_type") != "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" {
            return refuse(400, "token: grant_type".into());
        }
        let (header, claims) = match fake_jwt::verify(&field("assertion"), Signer::Fcm) {
            Ok(parts) => parts,
            Err(why) => return refuse(400, format!("token: assertion {why}")),
        };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() as i64;
        let iat = claims["iat"].as_i64().unwrap_or(0);
        let exp = claims["exp"].as_i64().unwrap_or(0);
        let checks = [
            (header["alg"] == "RS256", "alg"),
            (header["kid"] == "test-key-id-1", "kid"),
            (claims["iss"] == format!("push@{PROJECT}.iam.gserviceaccount.com"), "iss"),
            (claims["aud"] == expected_aud.as_str(), "aud"),
            (claims["scope"] == SCOPE, "scope"),
            ((iat - now).abs() < 300 && exp > now && exp - iat <= 3600, "iat/exp"),
        ];
        if let Some((_, what)) = checks.iter().find(|(ok, _)| !ok) {
            return refuse(400, format!("token: {what} in {header} {claims}"));
        }
        let mut state = state.lock().expect("fake state");
        state.exchanges += 1;
        let token = format!("ya29.fake-{}", state.exchanges);
        state.issued.push(token.clone());
        return Ok(crate::fake_server::json(200, &json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" })));
    }
    if path != format!("/v1/projects/{PROJECT}/messages:send") {
        return refuse(404, format!("no route {path}"));
    }
    if state.lock().expect("fake state").html_404 {
        let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"<html><body><h1>404 Not Found</h1></body></html>")));
        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
        response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("text/html"));
        return Ok(response);
    }
    let bearer = authorization.strip_prefix("Bearer ").unwrap_or("");
    if !state.lock().expect("fake state").issued.iter().any(|issued| issued == bearer) {
        return refuse(401, "send: bearer token not issued here".into());
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let message = &body["message"];
    let data_ok = message["data"].as_object().is_some_and(|data| data.values().all(Value::is_string));
    let android = &message["android"];
    let ttl_ok = android["ttl"].as_str().is_some_and(|ttl| ttl.ends_with('s') && ttl.trim_end_matches('s').parse::<u32>().is_ok());
    if !(data_ok && message["notification"].is_null() && android["priority"] == "HIGH" && ttl_ok && message["token"].is_string()) {
        return refuse(400, format!("send: message shape {body}"));
    }
    let token = message["token"].as_str().unwrap_or("").to_owned();
    if state.lock().expect("fake state").unregistered.contains(&token) {
        return Ok(crate::fake_server::json(
            404,
            &json!({ "error": { "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                "details": [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED" }] } }),
        ));
    }
    state.lock().expect("fake state").messages.push(FcmMessage { token, data: message["data"].clone(), android: android.clone(), message: message.clone() });
    Ok(crate::fake_server::json(200, &json!({ "name": format!("projects/{PROJECT}/messages/1") })))
}
