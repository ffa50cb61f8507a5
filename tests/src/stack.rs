//! The application with its fakes, for clients written in other languages
//! (the React Native kit's integration tests, `cargo xtask up --fakes`).
//!
//! Beside the app it serves a small control API on 127.0.0.1, so that a test
//! in any language can stage what the Rust tests stage with direct access:
//!
//! - `POST /users {"name", "device": bool}` → `{"id", "token"}`: a user (with a
//!   push token when `device`) and a valid access token for them;
//! - `POST /sql {"sql"}`: runs statements on the app's database (back-dating);
//! - `POST /push {"mode": "accept" | "refuse" | "hang"}`: the fake push provider;
//! - `POST /database {"reachable": bool}`: cuts or restores the app's database
//!   connections (a proxy), to stage an outage.
//!
//! The host cuts off a request after [`REQUEST_TIMEOUT`] (504 `TIMEOUT`), which
//! is shorter than the push deadline: a call-initiate while the push provider
//! hangs stages a TIMEOUT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::app::App;
use crate::fake_push::PushMode;
use crate::tcp_proxy::TcpProxy;

/// Where the machine's Postgres listens (the proxy forwards there).
const POSTGRES: &str = "127.0.0.1:5432";

/// The host's request timeout: well above what any request of the stack
/// takes, below `push_timeout_seconds` (5 s by default).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// A running stack.
pub struct Stack {
    pub app: Arc<App>,
    /// The control API's base URL.
    pub control_url: String,
    control: tokio::task::JoinHandle<()>,
    _proxy: Arc<TcpProxy>,
}

struct Control {
    app: Arc<App>,
    proxy: Arc<TcpProxy>,
}

impl Stack {
    /// A fresh database, the fakes, the app on `listen` (ephemeral when
    /// `None`) and the control API on an ephemeral port.
    pub async fn start(listen: Option<SocketAddr>, overrides: &[(&str, &str)]) -> anyhow::Result<Self> {
        let proxy = Arc::new(TcpProxy::start(POSTGRES.parse()?).await);
        let proxied = proxy.addr.to_string();
        let mut variables = vec![("database_host", proxied.as_str())];
        variables.extend_from_slice(overrides);
        let app = App::start_full(
            &variables,
            |url| url.replace(POSTGRES, &proxied),
            |options| {
                options.http.request_timeout = REQUEST_TIMEOUT;
                if let Some(listen) = listen {
                    options.listen = listen;
                }
            },
        )
        .await;
        let app = Arc::new(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let control_url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(Control { app: app.clone(), proxy: proxy.clone() });
        let control = crate::fake_server::spawn(listener, state, answer);
        Ok(Self { app, control_url, control, _proxy: proxy })
    }

    /// The app's base URL.
    pub fn base_url(&self) -> &str {
        &self.app.host.base_url
    }

    /// What a client test needs to find the stack.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![("KIT_BASE_URL", self.base_url().to_owned()), ("KIT_CONTROL_URL", self.control_url.clone())]
    }

    /// Stops the control API and the app.
    pub async fn stop(self) {
        self.control.abort();
        let _ = self.control.await;
        if let Ok(app) = Arc::try_unwrap(self.app) {
            app.stop().await;
        }
    }
}

async fn answer(
    control: Arc<Control>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path().to_owned();
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = match path.as_str() {
        "/users" => create_user(&control, &body).await,
        "/sql" => run_sql(&control, &body).await,
        "/push" => set_push(&control, &body),
        "/database" => set_database(&control, &body).await,
        _ => Err(anyhow::anyhow!("no control route {path}")),
    };
    Ok(match result {
        Ok(value) => crate::fake_server::json(200, &value),
        Err(error) => crate::fake_server::json(400, &json!({ "error": format!("{error:#}") })),
    })
}

async fn create_user(control: &Control, body: &Value) -> anyhow::Result<Value> {
    let name = body["name"].as_str().unwrap_or("user");
    let device = body["device"].as_bool().unwrap_or(true).then(|| format!("ExponentPushToken[{}]", uuid::Uuid::new_v4()));
    let id = control.app.user(name, device.as_deref()).await;
    Ok(json!({ "id": id, "token": crate::users::token(id) }))
}

async fn run_sql(control: &Control, body: &Value) -> anyhow::Result<Value> {
    let sql = body["sql"].as_str().ok_or_else(|| anyhow::anyhow!("sql must be a string"))?;
    control.app.db.client().await?.batch_execute(sql).await?;
    Ok(json!({ "ok": true }))
}

fn set_push(control: &Control, body: &Value) -> anyhow::Result<Value> {
    let mode = match body["mode"].as_str() {
        Some("accept") => PushMode::Accept,
        Some("refuse") => PushMode::Refuse,
        Some("hang") => PushMode::Hang,
        other => anyhow::bail!("unknown push mode {other:?}"),
    };
    control.app.push.set_mode(mode);
    Ok(json!({ "ok": true }))
}

async fn set_database(control: &Control, body: &Value) -> anyhow::Result<Value> {
    match body["reachable"].as_bool() {
        Some(true) => control.proxy.restore(),
        Some(false) => control.proxy.cut().await,
        None => anyhow::bail!("reachable must be a boolean"),
    }
    Ok(json!({ "ok": true }))
}
