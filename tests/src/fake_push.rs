//! A fake Expo push service on 127.0.0.1.
//!
//! It records every request (its `Authorization` and JSON body) and answers
//! as the test sets it to: one ok ticket per token, one DeviceNotRegistered
//! ticket per token, or never. Like Expo, it refuses a send to more than 100
//! tokens.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

/// The path of Expo's send endpoint.
pub const SEND_PATH: &str = "/--/api/v2/push/send";
/// The path of Expo's receipts endpoint.
pub const RECEIPTS_PATH: &str = "/--/api/v2/push/getReceipts";

/// How the fake answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushMode {
    /// 200 with one `{"status": "ok", "id"}` ticket per token in `to`.
    Accept,
    /// 200 with one DeviceNotRegistered error ticket per token in `to`.
    Refuse,
    /// Never answers.
    Hang,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct ReceivedPush {
    pub authorization: Option<String>,
    /// `Value::Null` when the body was not JSON.
    pub body: Value,
    /// When the fake read it.
    pub at: std::time::Instant,
}

/// A running fake.
pub struct FakePush {
    /// The send endpoint, e.g. `http://127.0.0.1:PORT/--/api/v2/push/send`.
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    mode: PushMode,
    received: Vec<ReceivedPush>,
    /// Tokens whose tickets say DeviceNotRegistered.
    gone: std::collections::HashSet<String>,
    /// Whether receipts say DeviceNotRegistered (else ok).
    receipts_gone: bool,
    /// Ids asked for at the receipts endpoint.
    receipt_ids: Vec<String>,
    /// How many ids each receipts request asked for.
    receipt_batches: Vec<usize>,
}

impl FakePush {
    /// Starts a fake in [`PushMode::Accept`].
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}{SEND_PATH}", listener.local_addr().expect("bound address"));
        let state = Arc::new(Mutex::new(State {
            mode: PushMode::Accept,
            received: Vec::new(),
            gone: Default::default(),
            receipts_gone: false,
            receipt_ids: Vec::new(),
            receipt_batches: Vec::new(),
        }));
        let task = crate::fake_server::spawn(listener, state.clone(), answer);
        Self { url, state, task }
    }

    /// Changes how the fake answers from now on.
    pub fn set_mode(&self, mode: PushMode) {
        self.state.lock().expect("fake state").mode = mode;
    }

    /// `token`'s tickets say DeviceNotRegistered from now on.
    pub fn unregister(&self, token: &str) {
        self.state.lock().expect("fake state").gone.insert(token.to_owned());
    }

    /// Receipts say DeviceNotRegistered from now on.
    pub fn receipts_gone(&self, gone: bool) {
        self.state.lock().expect("fake state").receipts_gone = gone;
    }

    /// Ticket ids asked for at the receipts endpoint so far.
    pub fn receipt_ids(&self) -> Vec<String> {
        self.state.lock().expect("fake state").receipt_ids.clone()
    }

    /// How many ids each receipts request asked for, in arrival order.
    pub fn receipt_batches(&self) -> Vec<usize> {
        self.state.lock().expect("fake state").receipt_batches.clone()
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<ReceivedPush> {
        self.state.lock().expect("fake state").received.clone()
    }

    /// The `host:port` part, for allow-lists.
    pub fn host(&self) -> &str {
        let rest = self.url.trim_start_matches("http://");
        rest.split('/').next().unwrap_or(rest)
    }
}

impl Drop for FakePush {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_owned();
    let post = request.method() == hyper::Method::POST;
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (mode, gone, receipts_gone) = {
        let mut state = state.lock().expect("fake state");
        if path != RECEIPTS_PATH {
            state.received.push(ReceivedPush { authorization, body: body.clone(), at: std::time::Instant::now() });
        }
        (state.mode, state.gone.clone(), state.receipts_gone)
    };
    if mode == PushMode::Hang {
        std::future::pending::<()>().await;
    }
    if path == RECEIPTS_PATH && post {
        let ids: Vec<String> = body["ids"].as_array().map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect()).unwrap_or_default();
        {
            let mut state = state.lock().expect("fake state");
            state.receipt_ids.extend(ids.iter().cloned());
            state.receipt_batches.push(ids.len());
        }
        let receipt = if receipts_gone {
            json!({ "status": "error", "message": "The recipient device is not registered with FCM.", "details": { "error": "DeviceNotRegistered" } })
        } else {
            json!({ "status": "ok" })
        };
        let receipts: serde_json::Map<String, Value> = ids.into_iter().map(|id| (id, receipt.clone())).collect();
        return Ok(crate::fake_server::json(200, &json!({ "data": receipts })));
    }
    if path != SEND_PATH || !post {
        return Ok(crate::fake_server::json(404, &json!({ "errors": [{ "code": "NOT_FOUND", "message": "not found" }] })));
    }
    // Expo's `to` is one token or an array of them.
    let tokens: Vec<String> = match &body["to"] {
        Value::String(token) => vec![token.clone()],
        Value::Array(tokens) => tokens.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if tokens.is_empty() {
        return Ok(crate::fake_server::json(400, &json!({ "errors": [{ "code": "VALIDATION_ERROR", "message": "\"to\" is required" }] })));
    }
    // Expo takes at most 100 notifications per request.
    if tokens.len() > 100 {
        return Ok(crate::fake_server::json(400, &json!({ "errors": [{ "code": "PUSH_TOO_MANY_NOTIFICATIONS", "message": "more than 100 notifications" }] })));
    }
    let tickets: Vec<Value> = tokens
        .iter()
        .map(|token| match mode {
            _ if mode == PushMode::Refuse || gone.contains(token) => json!({
                "status": "error",
                "message": format!("\"{token}\" is not a registered push notification recipient"),
                "details": { "error": "DeviceNotRegistered" },
            }),
            _ => json!({ "status": "ok", "id": uuid::Uuid::new_v4().to_string() }),
        })
        .collect();
    Ok(crate::fake_server::json(200, &json!({ "data": tickets })))
}
