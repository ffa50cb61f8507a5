//! A fake auth provider's JWKS endpoint on 127.0.0.1, as Supabase publishes
//! one at `/auth/v1/.well-known/jwks.json`, plus signing keys to mint user
//! tokens with.
//!
//! It counts every request and answers as the test sets it to: the current
//! key set, or a chosen status and body (an outage, a wrong URL, garbage).

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use jwt_simple::prelude::*;
use serde_json::{json, Value};

/// Where the fake serves its key set.
pub const JWKS_PATH: &str = "/auth/v1/.well-known/jwks.json";

/// An ES256 signing key with its `kid`, as the auth provider holds it.
pub struct SigningKey {
    pair: ES256KeyPair,
}

/// A running fake.
pub struct FakeJwks {
    /// The key set's URL, e.g. `http://127.0.0.1:PORT/auth/v1/.well-known/jwks.json`.
    pub url: String,
    /// `http://127.0.0.1:PORT`, the allow-list entry.
    pub origin: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    /// What every request is answered: status and body text.
    answer: (u16, String),
    requests: usize,
}

impl SigningKey {
    /// A new P-256 key named `kid`.
    pub fn generate(kid: &str) -> Self {
        Self { pair: ES256KeyPair::generate().with_key_id(kid) }
    }

    /// The public JWK, as a JWKS lists it.
    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().public_key().to_bytes_uncompressed();
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "kid": self.pair.key_id().clone().unwrap_or_default(),
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    /// `Bearer <token>` for `user`: aud `authenticated`, one hour, signed
    /// with this key and naming its `kid`.
    pub fn bearer(&self, user: uuid::Uuid) -> String {
        let claims = Claims::with_custom_claims(json!({ "role": "authenticated" }), Duration::from_hours(1))
            .with_subject(user.to_string())
            .with_audience("authenticated");
        format!("Bearer {}", self.pair.sign(claims).expect("signing a test token"))
    }
}

impl FakeJwks {
    /// Starts a fake publishing `keys`.
    pub async fn start(keys: &[&SigningKey]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let origin = format!("http://{}", listener.local_addr().expect("bound address"));
        let state = Arc::new(Mutex::new(State { answer: (200, String::new()), requests: 0 }));
        let task = crate::fake_server::spawn(listener, state.clone(), answer);
        let fake = Self { url: format!("{origin}{JWKS_PATH}"), origin, state, task };
        fake.publish(keys);
        fake
    }

    /// Publishes `keys` from now on (a rotation).
    pub fn publish(&self, keys: &[&SigningKey]) {
        let document = json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() });
        self.answer_with(200, &document.to_string());
    }

    /// Answers `status` with `body` from now on.
    pub fn answer_with(&self, status: u16, body: &str) {
        self.state.lock().expect("fake state").answer = (status, body.to_owned());
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.state.lock().expect("fake state").requests
    }
}

impl Drop for FakeJwks {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let (status, body) = {
        let mut state = state.lock().expect("fake state");
        state.requests += 1;
        state.answer.clone()
    };
    let (status, body) = if request.uri().path() == JWKS_PATH && request.method() == hyper::Method::GET {
        (status, body)
    } else {
        (404, "{\"message\":\"no route\"}".to_owned())
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    Ok(response)
}
