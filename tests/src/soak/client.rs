//! The soak's HTTP client: the client kit's retry rules
//! (`clients/react-native/src/retry.ts`, `errors.ts`) in Rust, recording
//! every attempt.
//!
//! One deliberate difference: `call-initiate` is resent with the same
//! `Idempotency-Key` after a gateway's 502, a 5xx or a lost answer, as its
//! key makes safe; the kit resends it only after the service's own 503.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The routes the soak calls, each once by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    PushTokenRegister,
    CallInitiate,
    CallAction,
    GetLivekitToken,
    LivekitWebhook,
}

impl Route {
    pub fn path(self) -> &'static str {
        match self {
            Self::PushTokenRegister => "/push-token-register",
            Self::CallInitiate => "/call-initiate",
            Self::CallAction => "/call-action",
            Self::GetLivekitToken => "/get-livekit-token",
            Self::LivekitWebhook => "/livekit-webhook",
        }
    }

    pub const ALL: [Route; 5] = [Self::PushTokenRegister, Self::CallInitiate, Self::CallAction, Self::GetLivekitToken, Self::LivekitWebhook];
}

/// Who signs a request.
pub enum Auth<'a> {
    /// A user's `Authorization: Bearer <jwt>`.
    User(&'a str),
    /// LiveKit's bare JWT over the body, signed again for each attempt.
    Webhook,
}

/// One request as sent.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub route: Route,
    /// Which logical request (its retries share it).
    pub exchange: u64,
    /// 1 for the first send.
    pub number: u32,
    /// `None`: no answer (refused, reset, timed out).
    pub status: Option<u16>,
    /// The `errorCode` (or the kit's code for a bare status), "" on success.
    pub code: String,
    /// Since the soak started.
    pub sent_at: Duration,
    pub latency: Duration,
}

impl Attempt {
    /// A 5xx or no answer at all.
    pub fn failed_on_our_side(&self) -> bool {
        self.status.is_none_or(|status| status >= 500)
    }

    /// When the answer (or the failure) came, since the soak started.
    pub fn finished_at(&self) -> Duration {
        self.sent_at + self.latency
    }
}

/// The last answer of a logical request, after the retries the rules allow.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: Option<u16>,
    pub code: String,
    pub body: Value,
    pub attempts: u32,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|status| (200..300).contains(&status)) && self.body["success"] != false
    }

    /// A definite answer from the service (not a 5xx, not silence).
    pub fn definite(&self) -> bool {
        self.status.is_some_and(|status| status < 500)
    }
}

/// The kit's retry knobs (`DEFAULT_RETRY` in retry.ts).
#[derive(Clone, Copy, Debug)]
pub struct RetryRules {
    pub max_backoff_retries: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub default_retry_after_seconds: u64,
    pub max_retry_after_seconds: u64,
    /// Per attempt; the kit's `timeoutMs` (15 s).
    pub attempt_timeout: Duration,
}

impl Default for RetryRules {
    fn default() -> Self {
        Self {
            max_backoff_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            default_retry_after_seconds: 5,
            max_retry_after_seconds: 30,
            attempt_timeout: Duration::from_secs(15),
        }
    }
}

/// A shared client for every simulated user; records every attempt.
pub struct Client {
    http: reqwest::Client,
    base: String,
    started: Instant,
    rules: RetryRules,
    next_exchange: AtomicU64,
    attempts: Mutex<Vec<Attempt>>,
}

impl Client {
    /// `base` is the origin every path is appended to (the load balancer's).
    pub fn new(base: &str, started: Instant, rules: RetryRules) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(rules.attempt_timeout).pool_max_idle_per_host(256).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), started, rules, next_exchange: AtomicU64::new(1), attempts: Mutex::new(Vec::new()) })
    }

    /// Every attempt so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().expect("attempt log").clone()
    }

    /// Time since the soak started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// POSTs `body` to `route` and retries as the kit's rules allow.
    pub async fn send(&self, route: Route, auth: Auth<'_>, body: &str, idempotency_key: Option<&str>) -> Reply {
        let exchange = self.next_exchange.fetch_add(1, Ordering::Relaxed);
        // Every route the soak calls is safe to resend: call-action repeats
        // answer `changed: false`, tokens and registrations are reads or
        // upserts, webhooks are deduplicated by id, call-initiate has its key.
        let idempotent = true;
        let mut history = History::default();
        let mut number = 0;
        loop {
            number += 1;
            let sent_at = self.started.elapsed();
            let began = Instant::now();
            let mut request = self.http.post(format!("{}{}", self.base, route.path())).body(body.to_owned());
            request = match &auth {
                Auth::User(bearer) => request.header("content-type", "application/json").header("authorization", *bearer),
                Auth::Webhook => request.header("content-type", "application/webhook+json").header("authorization", crate::webhooks::sign(body)),
            };
            if let Some(key) = idempotency_key {
                request = request.header("idempotency-key", key);
            }
            let (status, retry_after_header, body_value) = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
                    let text = response.text().await;
                    match text {
                        Ok(text) => (Some(status), retry_after, serde_json::from_str(&text).unwrap_or(Value::Null)),
                        Err(_) => (None, None, Value::Null),
                    }
                }
                Err(_) => (None, None, Value::Null),
            };
            let latency = began.elapsed();
            let code = error_code(status, &body_value);
            self.attempts.lock().expect("attempt log").push(Attempt { route, exchange, number, status, code: code.clone(), sent_at, latency });
            let reply = Reply { status, code: code.clone(), body: body_value, attempts: number };
            if reply.ok() {
                return reply;
            }
            let retry_after = reply.body["retryAfterSeconds"].as_u64().or(retry_after_header);
            let jitter = unit_fraction(exchange, number);
            match retry_delay(&code, status, &mut history, idempotent, retry_after, &self.rules, jitter) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return reply,
            }
        }
    }
}

/// The codes the service answers with a `Retry-After` (errors.ts).
const RETRY_AFTER_CODES: [&str; 2] = ["RATE_LIMITED", "SERVICE_UNAVAILABLE"];
/// The codes retried with backoff (retry.ts).
const BACKOFF_CODES: [&str; 3] = ["INTERNAL_ERROR", "TIMEOUT", "NETWORK_ERROR"];

#[derive(Default)]
struct History {
    backoff_retries: u32,
    wait_retries: u32,
}

/// The kit's code for an answer: the body's `errorCode`, else what the bare
/// status means (`codeForBareStatus`), `NETWORK_ERROR` without an answer.
fn error_code(status: Option<u16>, body: &Value) -> String {
    let Some(status) = status else {
        return "NETWORK_ERROR".to_owned();
    };
    if (200..300).contains(&status) && body["success"] != false {
        return String::new();
    }
    if let Some(code) = body["errorCode"].as_str() {
        return code.to_owned();
    }
    match status {
        401 => "UNAUTHORIZED",
        404 => "NOT_FOUND",
        413 => "PAYLOAD_TOO_LARGE",
        429 => "RATE_LIMITED",
        504 => "TIMEOUT",
        502 | 503 => "SERVICE_UNAVAILABLE",
        500.. => "INTERNAL_ERROR",
        _ => "UNEXPECTED_RESPONSE",
    }
    .to_owned()
}

/// `retryDelayMs` of retry.ts: how long to wait before the next attempt,
/// `None` to give up; counts the retry it allows.
fn retry_delay(code: &str, status: Option<u16>, history: &mut History, idempotent: bool, retry_after: Option<u64>, rules: &RetryRules, jitter: f64) -> Option<Duration> {
    if RETRY_AFTER_CODES.contains(&code) {
        if history.wait_retries >= 1 {
            return None;
        }
        if code == "SERVICE_UNAVAILABLE" && !idempotent && status != Some(503) {
            return None;
        }
        let seconds = retry_after.unwrap_or(rules.default_retry_after_seconds);
        if seconds > rules.max_retry_after_seconds {
            return None;
        }
        history.wait_retries += 1;
        return Some(Duration::from_secs(seconds));
    }
    if BACKOFF_CODES.contains(&code) {
        if !idempotent || history.backoff_retries >= rules.max_backoff_retries {
            return None;
        }
        let exponential = rules.max_delay.min(rules.base_delay * 2u32.pow(history.backoff_retries));
        history.backoff_retries += 1;
        // "Equal jitter": half fixed, half random.
        return Some(exponential / 2 + exponential.mul_f64(jitter / 2.0));
    }
    None
}

/// A number in [0, 1) from the exchange and attempt, for the jitter.
fn unit_fraction(exchange: u64, attempt: u32) -> f64 {
    let mut x = exchange.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kit_rules() {
        let rules = RetryRules::default();
        let mut history = History::default();
        // A gateway's bare 502: one wait of the default 5 s, then nothing.
        assert_eq!(error_code(Some(502), &Value::Null), "SERVICE_UNAVAILABLE");
        assert_eq!(retry_delay("SERVICE_UNAVAILABLE", Some(502), &mut history, true, None, &rules, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(retry_delay("SERVICE_UNAVAILABLE", Some(502), &mut history, true, None, &rules, 0.0), None);
        // Not idempotent: only the service's own 503 waits.
        let mut history = History::default();
        assert_eq!(retry_delay("SERVICE_UNAVAILABLE", Some(502), &mut history, false, None, &rules, 0.0), None);
        assert_eq!(retry_delay("SERVICE_UNAVAILABLE", Some(503), &mut history, false, Some(2), &rules, 0.0), Some(Duration::from_secs(2)));
        // Backoff: 250..500 ms, 500..1000, 1000..2000, then give up.
        let mut history = History::default();
        assert_eq!(retry_delay("NETWORK_ERROR", None, &mut history, true, None, &rules, 0.0), Some(Duration::from_millis(250)));
        let second = retry_delay("INTERNAL_ERROR", Some(500), &mut history, true, None, &rules, 0.999).expect("a second backoff");
        assert!(second > Duration::from_millis(990) && second < Duration::from_millis(1000), "{second:?}");
        assert!(retry_delay("TIMEOUT", Some(504), &mut history, true, None, &rules, 0.5).is_some());
        assert_eq!(retry_delay("TIMEOUT", Some(504), &mut history, true, None, &rules, 0.5), None);
        assert_eq!(retry_delay("BUSY", Some(409), &mut History::default(), true, None, &rules, 0.5), None);
        assert_eq!(retry_delay("PUSH_FAILED", Some(502), &mut History::default(), true, None, &rules, 0.5), None, "the kit never retries PUSH_FAILED");
        assert_eq!(error_code(Some(504), &Value::Null), "TIMEOUT");
        assert_eq!(error_code(Some(500), &serde_json::json!({"success": false, "errorCode": "SERVICE_UNAVAILABLE"})), "SERVICE_UNAVAILABLE");
    }
}
