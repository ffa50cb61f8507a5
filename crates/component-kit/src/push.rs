//! Ringing a callee's devices: the domain's Expo push message, sent over
//! Spin's outbound HTTP or, for local runs and tests, written to `push_log`.
//!
//! Variables (all optional): `push_provider` (`expo` or `log`, default
//! `log`), `push_url` (Expo's send endpoint, which spin.toml derives from the
//! application variable `push_origin`), `push_access_token` (Expo's
//! enhanced push security), `push_timeout_seconds` (5: the whole exchange,
//! with no retry, because a ring that arrives late is useless) and
//! `ring_timeout_seconds` (30: the message's `ttl`).

use std::time::{Duration, Instant};

use domain::ids::UserId;
use domain::push::{classify_expo_answer, expo_request, IncomingCall, PushMessage, PushOutcome, DEFAULT_PUSH_URL};
use serde_json::Map;
use spin_sdk::pg::{Connection, ParameterValue};

use crate::{config, db, Failure};

/// The most of Expo's answer we read: one ticket per token is small.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Sends the incoming-call notification for `call` to `callee`'s device
/// `tokens` through the configured provider, and logs one line (with the
/// token count, never the tokens).
///
/// `expo`: Accepted when Expo took it for at least one device; Refused for
/// Expo's refusals; NoAnswer when it did not answer within
/// `push_timeout_seconds`. `log`: a `push_log` row, Accepted, or Refused when
/// the insert fails. No tokens, an unknown provider or a malformed variable:
/// Refused, with nothing sent. `Err` (INTERNAL_ERROR, after one log line):
/// `allowed_outbound_hosts` refused `push_url` (derived from `push_origin`
/// in spin.toml, so only a `push_origin` that is not scheme://host[:port]
/// gets here); retrying cannot help.
pub async fn send_incoming_call(connection: &Connection, callee: UserId, tokens: &[String], call: &IncomingCall) -> Result<PushOutcome, Failure> {
    let started = Instant::now();
    let provider = config::optional("push_provider").await.unwrap_or_else(|| "log".to_owned());
    let outcome = match settings().await {
        Err(reason) => PushOutcome::Refused(reason),
        Ok(_) if tokens.is_empty() => PushOutcome::Refused("the callee has no device tokens".to_owned()),
        Ok(settings) => {
            let message = PushMessage::incoming_call(call, tokens, settings.ttl_seconds);
            match provider.trim() {
                "expo" => match send_to_expo(&settings, &message).await {
                    Ok(outcome) => outcome,
                    Err(crate::outbound::Unanswered::Denied) => {
                        let destination = crate::outbound::origin(&settings.push_url);
                        crate::outbound::log_misconfigured(&destination, PUSH_ORIGIN_RULE);
                        return Err(Failure::internal(format!("push: {destination} is not in allowed_outbound_hosts: {PUSH_ORIGIN_RULE}")));
                    }
                    Err(crate::outbound::Unanswered::Failed(reason)) => PushOutcome::NoAnswer(reason),
                },
                "log" => write_to_log(connection, callee, &message).await,
                _ => PushOutcome::Refused("unknown push provider".to_owned()),
            }
        }
    };
    log_outcome(&provider, callee, tokens.len(), call, &outcome, started);
    Ok(outcome)
}

/// What a refused push destination says about the configuration.
const PUSH_ORIGIN_RULE: &str = "push_origin must be scheme://host[:port]; push_url derives from it";

struct Settings {
    push_url: String,
    access_token: Option<String>,
    timeout: Duration,
    ttl_seconds: u32,
}

async fn settings() -> Result<Settings, String> {
    let push_url = config::optional("push_url").await.unwrap_or_else(|| DEFAULT_PUSH_URL.to_owned());
    let access_token = config::optional("push_access_token").await;
    let timeout = config::positive_integer("push_timeout_seconds", 5)
        .await
        .map_err(|_| "variable push_timeout_seconds must be a positive integer".to_owned())?;
    let ring_timeout = config::positive_integer("ring_timeout_seconds", 30)
        .await
        .map_err(|_| "variable ring_timeout_seconds must be a positive integer".to_owned())?;
    Ok(Settings {
        push_url: push_url.trim().to_owned(),
        access_token,
        timeout: Duration::from_secs(timeout),
        ttl_seconds: u32::try_from(ring_timeout).unwrap_or(u32::MAX),
    })
}

async fn send_to_expo(settings: &Settings, message: &PushMessage) -> Result<PushOutcome, crate::outbound::Unanswered> {
    let request = expo_request(&settings.push_url, settings.access_token.as_deref(), message);
    let headers: Vec<(&str, &str)> = request.headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    match crate::outbound::post(&request.url, &headers, request.body, settings.timeout, MAX_ANSWER_BYTES).await {
        Ok((status, body)) => Ok(classify_expo_answer(status, &body)),
        Err(unanswered) => Err(unanswered),
    }
}

async fn write_to_log(connection: &Connection, callee: UserId, message: &PushMessage) -> PushOutcome {
    let tokens = message.to.iter().cloned().map(Some).collect();
    let inserted = db::execute(
        connection,
        "INSERT INTO push_log (user_id, tokens, message) VALUES ($1, $2, $3)",
        vec![db::uuid(callee.0), ParameterValue::ArrayStr(tokens), ParameterValue::Jsonb(message.to_json().to_string().into_bytes())],
    )
    .await;
    match inserted {
        Ok(_) => PushOutcome::Accepted,
        // Only the SQLSTATE: a message's DETAIL may quote the row, tokens included.
        Err(failure) => PushOutcome::Refused(format!("push_log insert failed ({})", failure.sqlstate().unwrap_or("no SQLSTATE"))),
    }
}

fn log_outcome(provider: &str, callee: UserId, token_count: usize, call: &IncomingCall, outcome: &PushOutcome, started: Instant) {
    let (level, name, reason) = match outcome {
        PushOutcome::Accepted => ("info", "accepted", None),
        PushOutcome::Refused(reason) => ("warn", "refused", Some(reason)),
        PushOutcome::NoAnswer(reason) => ("warn", "no_answer", Some(reason)),
    };
    let mut fields = Map::new();
    fields.insert("provider".into(), provider.into());
    fields.insert("callee".into(), callee.to_string().into());
    fields.insert("callId".into(), call.call_id.hyphenated().to_string().into());
    fields.insert("tokens".into(), token_count.into());
    fields.insert("outcome".into(), name.into());
    if let Some(reason) = reason {
        fields.insert("reason".into(), reason.as_str().into());
    }
    fields.insert("durationMs".into(), (started.elapsed().as_secs_f64() * 1000.0).into());
    crate::log::line(level, "push", "incoming call push", fields);
}
