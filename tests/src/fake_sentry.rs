//! A fake Sentry ingest endpoint that checks the envelope format and records
//! each event; it can also hang.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// One envelope received.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub path: String,
    pub auth: String,
    pub header: serde_json::Value,
    pub item: serde_json::Value,
    pub event: serde_json::Value,
    pub raw: String,
}

/// A running fake.
pub struct FakeSentry {
    /// `http://<key>@127.0.0.1:<port>/42`
    pub dsn: String,
    /// `http://127.0.0.1:<port>`, for allow-lists.
    pub origin: String,
    state: Arc<Mutex<(bool, Vec<Envelope>)>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeSentry {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new((false, Vec::new())));
        let task = crate::fake_server::spawn(listener, state.clone(), answer);
        Self { dsn: format!("http://publickey@{addr}/42"), origin: format!("http://{addr}"), state, task }
    }

    /// Makes the fake never answer.
    pub fn hang(&self) {
        self.state.lock().expect("state").0 = true;
    }

    /// Every well-formed envelope so far.
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.state.lock().expect("state").1.clone()
    }
}

impl Drop for FakeSentry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<Mutex<(bool, Vec<Envelope>)>>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_owned();
    let auth = request.headers().get("x-sentry-auth").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let raw = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    if state.lock().expect("state").0 {
        std::future::pending::<()>().await;
    }
    // Envelope: header line, item header line, payload of the item's `length`.
    let mut lines = raw.splitn(3, '\n');
    let parse = |line: Option<&str>| line.and_then(|l| serde_json::from_str::<serde_json::Value>(l.trim_end()).ok());
    let (header, item, rest) = (parse(lines.next()), parse(lines.next()), lines.next().unwrap_or(""));
    let well_formed = path == "/api/42/envelope/" && auth.contains("sentry_key=publickey") && auth.contains("sentry_version=7");
    let status = match (header, item) {
        (Some(header), Some(item)) if well_formed => {
            let length = item["length"].as_u64().unwrap_or(0) as usize;
            match rest.get(..length).and_then(|payload| serde_json::from_str(payload).ok()) {
                Some(event) => {
                    state.lock().expect("state").1.push(Envelope { path, auth, header, item, event, raw });
                    200
                }
                None => 400,
            }
        }
        _ => 400,
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(b"{}")));
    *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
    Ok(response)
}
