//! The real application (spin.toml) on a fresh database with a fake LiveKit.

use std::collections::BTreeMap;

use crate::db::TestDb;
use crate::fake_livekit::FakeLiveKit;
use crate::fake_push::FakePush;
use crate::host::TestHost;

/// The LiveKit keys of the test apps: `livekit-server --dev`'s 6-byte secret.
pub const LIVEKIT_KEY: &str = "devkey";
pub const LIVEKIT_SECRET: &str = "secret";
pub const LIVEKIT_WS_URL: &str = "wss://livekit.test.invalid";
/// The bearer token the app sends to the push provider.
pub const PUSH_ACCESS_TOKEN: &str = "expo-access-token";

/// A running application and everything around it.
pub struct App {
    pub db: TestDb,
    pub livekit: FakeLiveKit,
    pub push: FakePush,
    pub host: TestHost,
}

impl App {
    /// Starts with the standard test variables.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts with `overrides` on top of the standard test variables.
    pub async fn start_with(overrides: &[(&str, &str)]) -> Self {
        Self::start_reaching_database(overrides, |url| url.to_owned()).await
    }

    /// Starts with the components reaching the database at `rewrite(url)`
    /// (through a proxy, say), while the test reaches it directly.
    pub async fn start_reaching_database(overrides: &[(&str, &str)], rewrite: impl Fn(&str) -> String) -> Self {
        Self::start_full(overrides, rewrite, |_| {}).await
    }

    /// Starts with the host's options adjusted by `adjust` (to capture logs, say).
    pub async fn start_adjusting(overrides: &[(&str, &str)], adjust: impl FnOnce(&mut devhost::HostOptions)) -> Self {
        Self::start_full(overrides, |url| url.to_owned(), adjust).await
    }

    /// Starts with both adjustments: the components' database URL and the host's options.
    pub async fn start_full(overrides: &[(&str, &str)], rewrite: impl Fn(&str) -> String, adjust: impl FnOnce(&mut devhost::HostOptions)) -> Self {
        let db = TestDb::migrated().await.expect("a migrated test database");
        let component_url = rewrite(&db.url);
        let livekit = FakeLiveKit::start(LIVEKIT_KEY, LIVEKIT_SECRET).await;
        let push = FakePush::start().await;
        let mut variables = standard_variables(&component_url, &livekit, &push);
        for (name, value) in overrides {
            variables.insert((*name).to_owned(), (*value).to_owned());
        }
        let mut options = crate::host::options(&crate::paths::spin_toml(), variables);
        adjust(&mut options);
        let host = TestHost::start_with(options).await.expect("the host starts");
        Self { db, livekit, push, host }
    }

    /// POSTs `body` (JSON text) to `path` as `user` (no auth when `None`).
    pub async fn post(&self, path: &str, authorization: Option<&str>, body: &str) -> Answer {
        self.post_with(path, authorization, body, &[]).await
    }

    /// POSTs with extra headers.
    pub async fn post_with(&self, path: &str, authorization: Option<&str>, body: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.host.client.post(self.host.url(path)).header("content-type", "application/json").body(body.to_owned());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Answer::from(request.send().await.expect("the host answers")).await
    }

    /// Inserts a user (with a display name) and, when `device` is set, a push token.
    pub async fn user(&self, name: &str, device: Option<&str>) -> uuid::Uuid {
        let id = crate::users::new_user();
        let sql = self.sql().await;
        sql.execute("INSERT INTO users (id, display_name) VALUES ($1, $2)", &[&id, &name]).await.expect("insert user");
        if let Some(token) = device {
            sql.execute("INSERT INTO push_tokens (token, user_id, platform) VALUES ($1, $2, 'ios')", &[&token, &id])
                .await
                .expect("insert push token");
        }
        id
    }

    /// Delivers a LiveKit webhook `body`, signed as LiveKit signs it.
    pub async fn webhook(&self, body: &str) -> Answer {
        self.webhook_signed(body, Some(&crate::webhooks::sign(body))).await
    }

    /// Delivers `body` with the given `Authorization` (or none).
    pub async fn webhook_signed(&self, body: &str, authorization: Option<&str>) -> Answer {
        let mut request = self
            .host
            .client
            .post(self.host.url("/livekit-webhook"))
            .header("content-type", "application/webhook+json")
            .body(body.to_owned());
        if let Some(authorization) = authorization {
            request = request.header("authorization", authorization);
        }
        Answer::from(request.send().await.expect("the host answers")).await
    }

    /// A client on the app's database.
    pub async fn sql(&self) -> tokio_postgres::Client {
        self.db.client().await.expect("a database client")
    }

    /// Stops the host.
    pub async fn stop(self) {
        self.host.stop().await;
    }
}

/// The standard test variables: the components reach the database at
/// `database_url`, LiveKit at `livekit` and the push provider at `push`.
pub fn standard_variables(database_url: &str, livekit: &FakeLiveKit, push: &FakePush) -> BTreeMap<String, String> {
    let push_origin = format!("http://{}", push.host());
    [
        ("database_url", database_url),
        ("auth_jwt_secret", crate::users::AUTH_SECRET),
        ("livekit_url", LIVEKIT_WS_URL),
        ("livekit_api_url", livekit.url.as_str()),
        ("livekit_api_key", LIVEKIT_KEY),
        ("livekit_api_secret", LIVEKIT_SECRET),
        ("livekit_timeout_seconds", "2"),
        ("push_provider", "expo"),
        ("push_origin", push_origin.as_str()),
        ("push_access_token", PUSH_ACCESS_TOKEN),
        // Tests make many registrations and calls per user; those about the
        // limits set their own.
        ("push_register_rate_limit_per_minute", "1000000"),
        ("call_initiate_rate_limit_per_minute", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// A received answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

impl Answer {
    /// Reads `response` whole; panics when its body is not JSON.
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("answer {status} is not JSON: {text:?}"));
        Self { status, headers, body }
    }

    /// The `errorCode`, or "" on success.
    pub fn code(&self) -> &str {
        self.body["errorCode"].as_str().unwrap_or("")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}
