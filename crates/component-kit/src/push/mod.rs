//! Ringing a callee's devices, and stopping the ring, through Expo, APNs VoIP
//! and FCM HTTP v1 over Spin's outbound HTTP; or, for local runs and tests,
//! written to `push_log`.
//!
//! Every device of the callee gets the push at once, each provider in
//! parallel, all within `push_timeout_seconds` (a ring that arrives late is
//! useless, so nothing is retried inside it). A token a provider calls dead
//! is removed from `push_tokens` on the spot. Variables: [`settings`].

mod apns;
mod credentials;
mod expo;
mod fcm;
mod record;
pub mod receipts;
mod settings;
pub mod stop_ringing;

use std::time::Instant;

use domain::delivery::DeviceOutcome;
use domain::ids::UserId;
use domain::push::{IncomingCall, PushKind, PushOutcome};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::db::Connection;
use crate::outbound::{log_misconfigured, origin, Unanswered};
use crate::Failure;
use domain::push::OutgoingRequest;
use settings::{Provider, Settings};

/// One registered device: a token and the provider it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    pub token: String,
    pub kind: PushKind,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device").field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Device {
    /// Reads `kind:token` words, as the ring's SQL aggregates them; an unknown
    /// kind (a newer schema) is skipped.
    pub fn parse_list(text: &str) -> Vec<Device> {
        text.split_whitespace()
            .filter_map(|word| {
                let (kind, token) = word.split_once(':')?;
                Some(Device { token: token.to_owned(), kind: PushKind::parse(kind)? })
            })
            .collect()
    }
}

/// What the devices are told.
#[derive(Clone, Copy, Debug)]
pub enum Message<'a> {
    /// `incoming_call`: ring.
    Ring(&'a IncomingCall),
    /// `call_ended`: stop ringing; `status` is the call's new status.
    Ended { call_id: Uuid, status: &'a str },
}

/// What became of the push to one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    Outcome(DeviceOutcome),
    /// No answer in time, or no connection: worth trying again later.
    NoAnswer(String),
    /// `allowed_outbound_hosts` refused the provider: a deploy mistake, logged.
    Denied(String),
}

/// A ring's result: the call's outcome, and per provider what it said
/// (`{"expo": {"outcome", "devices", "delivered", "gone", "reason"?}, ...}`),
/// for the answer and `calls.push_outcomes`.
#[derive(Clone, Debug)]
pub struct Ring {
    pub outcome: PushOutcome,
    pub providers: Value,
}

/// Rings `devices` of `callee` for `call` and logs one line (counts and
/// outcomes, never a token).
///
/// Accepted when at least one provider took it for at least one device;
/// NoAnswer when none did and one did not answer in time; Refused otherwise
/// (no devices, nothing configured for their kinds, every device refused).
/// `Err` (INTERNAL_ERROR, after one log line): every provider that was tried
/// is outside `allowed_outbound_hosts`, so retrying cannot help.
pub async fn send_incoming_call(connection: &Connection, callee: UserId, devices: &[Device], call: &IncomingCall) -> Result<Ring, Failure> {
    let started = Instant::now();
    let settings = match Settings::current().await {
        Ok(settings) => settings,
        Err(reason) => {
            let ring = Ring { outcome: PushOutcome::Refused(reason), providers: json!({}) };
            log_ring(callee, devices.len(), call, &ring, started);
            return Ok(ring);
        }
    };
    let results = deliver(connection, &settings, callee, devices, Message::Ring(call)).await;
    record::prune_gone(connection, devices, &results).await;
    let ring = summarize(devices, &results);
    log_ring(callee, devices.len(), call, &ring, started);
    if !results.is_empty() && results.iter().all(|sent| matches!(sent, Sent::Denied(_))) {
        let Some(Sent::Denied(destination)) = results.first() else { unreachable!("checked non-empty") };
        return Err(Failure::internal(format!("push: {destination} is not in allowed_outbound_hosts")));
    }
    Ok(ring)
}

/// Sends `message` to every device through its provider, all at once, and
/// answers one [`Sent`] per device, in order.
async fn deliver(connection: &Connection, settings: &Settings, user: UserId, devices: &[Device], message: Message<'_>) -> Vec<Sent> {
    if devices.is_empty() {
        return Vec::new();
    }
    if settings.provider == Provider::Log {
        return record::write_log(connection, user, devices, message, settings).await;
    }
    let of_kind = |kind: PushKind| -> Vec<usize> { (0..devices.len()).filter(|&i| devices[i].kind == kind).collect() };
    let tokens = |indices: &[usize]| -> Vec<String> { indices.iter().map(|&i| devices[i].token.clone()).collect() };
    let (expo_at, apns_at, fcm_at) = (of_kind(PushKind::Expo), of_kind(PushKind::ApnsVoip), of_kind(PushKind::Fcm));
    let (expo_tokens, apns_tokens, fcm_tokens) = (tokens(&expo_at), tokens(&apns_at), tokens(&fcm_at));
    let (expo_sent, apns_sent, fcm_sent) = futures::join!(
        within_deadline(settings, expo_tokens.len(), expo::send(connection, settings, &expo_tokens, message)),
        within_deadline(settings, apns_tokens.len(), apns::send(connection, settings, &apns_tokens, message)),
        within_deadline(settings, fcm_tokens.len(), fcm::send(connection, settings, &fcm_tokens, message)),
    );
    let mut results = vec![Sent::NoAnswer("not sent".to_owned()); devices.len()];
    for (indices, sent) in [(expo_at, expo_sent), (apns_at, apns_sent), (fcm_at, fcm_sent)] {
        for (index, sent) in indices.into_iter().zip(sent) {
            results[index] = sent;
        }
    }
    results
}

/// One provider's sends, cut off at the push deadline (the providers run
/// side by side, so the whole exchange keeps to it).
async fn within_deadline(settings: &Settings, devices: usize, sending: impl std::future::Future<Output = Vec<Sent>>) -> Vec<Sent> {
    crate::outbound::with_timeout(settings.timeout, sending)
        .await
        .unwrap_or_else(|| vec![Sent::NoAnswer(format!("no answer within {} s", settings.timeout.as_secs())); devices])
}

/// What a refused provider destination says about the configuration.
const PUSH_ORIGIN_RULE: &str =
    "push_origin, apns_origin, apns_sandbox_origin, fcm_origin and fcm_oauth_origin must be scheme://host[:port] and cover where pushes go";

/// POSTs a provider request; no answer becomes [`Sent::NoAnswer`], a
/// refused destination [`Sent::Denied`] after one log line.
async fn post(request: &OutgoingRequest, timeout: std::time::Duration, max_answer_bytes: usize) -> Result<(u16, Vec<u8>), Sent> {
    let headers: Vec<(&str, &str)> = request.headers.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    crate::outbound::post(&request.url, &headers, request.body.clone(), timeout, max_answer_bytes)
        .await
        .map_err(|unanswered| match unanswered {
            Unanswered::Denied => {
                let destination = origin(&request.url);
                log_misconfigured(&destination, PUSH_ORIGIN_RULE);
                Sent::Denied(destination)
            }
            Unanswered::Failed(reason) => Sent::NoAnswer(reason),
        })
}

/// Sends one request per device at once and reads each answer with
/// `classify`; when the provider refused our `credential` (APNs' JWT, FCM's
/// access token), drops it from `push_credentials` so the next push mints anew.
async fn per_device(
    connection: &Connection,
    settings: &Settings,
    requests: Vec<OutgoingRequest>,
    max_answer_bytes: usize,
    classify: fn(u16, &[u8]) -> DeviceOutcome,
    (provider, credential): (&str, &str),
) -> Vec<Sent> {
    let sends = requests.iter().map(|request| async move {
        match post(request, settings.timeout, max_answer_bytes).await {
            Ok((status, body)) => Sent::Outcome(classify(status, &body)),
            Err(unanswered) => unanswered,
        }
    });
    let sent = futures::future::join_all(sends).await;
    if sent.iter().any(|s| matches!(s, Sent::Outcome(DeviceOutcome::Unauthorized(_)))) {
        credentials::forget(connection, provider, credential).await;
    }
    sent
}

/// The keys every provider carries for `message` (`type` first).
fn call_data(message: Message<'_>) -> Value {
    match message {
        Message::Ring(call) => domain::call_push::incoming_call_payload(call),
        Message::Ended { call_id, status } => domain::call_push::call_ended_payload(call_id, status),
    }
}

/// [`call_data`] with every value a string, as FCM's `data` requires.
fn call_data_strings(message: Message<'_>) -> std::collections::BTreeMap<String, String> {
    match message {
        Message::Ring(call) => domain::call_push::incoming_call_data(call),
        Message::Ended { call_id, status } => domain::call_push::call_ended_data(call_id, status),
    }
}

/// The ring's outcome and the per-provider summary.
fn summarize(devices: &[Device], results: &[Sent]) -> Ring {
    let mut providers = Map::new();
    let mut outcomes = Vec::new();
    for kind in PushKind::ALL {
        let sent: Vec<&Sent> = devices.iter().zip(results).filter(|(device, _)| device.kind == *kind).map(|(_, sent)| sent).collect();
        if sent.is_empty() {
            continue;
        }
        let delivered = sent.iter().filter(|s| matches!(s, Sent::Outcome(DeviceOutcome::Delivered))).count();
        let gone = sent.iter().filter(|s| matches!(s, Sent::Outcome(DeviceOutcome::Gone(_)))).count();
        let first_reason = sent.iter().find_map(|s| match s {
            Sent::Outcome(DeviceOutcome::Delivered) => None,
            Sent::Outcome(
                DeviceOutcome::Gone(reason) | DeviceOutcome::Unrecognized(reason) | DeviceOutcome::Refused(reason) | DeviceOutcome::Unauthorized(reason),
            ) => Some(reason.clone()),
            Sent::NoAnswer(reason) => Some(reason.clone()),
            Sent::Denied(destination) => Some(format!("{destination} is not in allowed_outbound_hosts")),
        });
        let outcome = if delivered > 0 {
            PushOutcome::Accepted
        } else if sent.iter().any(|s| matches!(s, Sent::NoAnswer(_))) {
            PushOutcome::NoAnswer(first_reason.clone().unwrap_or_default())
        } else {
            PushOutcome::Refused(first_reason.clone().unwrap_or_default())
        };
        let mut summary = Map::new();
        summary.insert("outcome".into(), outcome_name(&outcome).into());
        summary.insert("devices".into(), sent.len().into());
        summary.insert("delivered".into(), delivered.into());
        summary.insert("gone".into(), gone.into());
        if let Some(reason) = first_reason.filter(|_| outcome != PushOutcome::Accepted) {
            summary.insert("reason".into(), reason.into());
        }
        providers.insert(kind.as_str().into(), Value::Object(summary));
        outcomes.push((kind.as_str(), outcome));
    }
    let outcome = if outcomes.iter().any(|(_, o)| *o == PushOutcome::Accepted) {
        PushOutcome::Accepted
    } else if let Some((kind, PushOutcome::NoAnswer(reason))) = outcomes.iter().find(|(_, o)| matches!(o, PushOutcome::NoAnswer(_))) {
        PushOutcome::NoAnswer(format!("{kind}: {reason}"))
    } else if let Some((kind, PushOutcome::Refused(reason))) = outcomes.first() {
        PushOutcome::Refused(format!("{kind}: {reason}"))
    } else {
        PushOutcome::Refused("the callee has no device tokens".to_owned())
    };
    Ring { outcome, providers: Value::Object(providers) }
}

fn outcome_name(outcome: &PushOutcome) -> &'static str {
    match outcome {
        PushOutcome::Accepted => "accepted",
        PushOutcome::Refused(_) => "refused",
        PushOutcome::NoAnswer(_) => "no_answer",
    }
}

fn log_ring(callee: UserId, device_count: usize, call: &IncomingCall, ring: &Ring, started: Instant) {
    let (level, reason) = match &ring.outcome {
        PushOutcome::Accepted => ("info", None),
        PushOutcome::Refused(reason) | PushOutcome::NoAnswer(reason) => ("warn", Some(reason)),
    };
    let mut fields = Map::new();
    fields.insert("callee".into(), callee.to_string().into());
    fields.insert("callId".into(), call.call_id.hyphenated().to_string().into());
    fields.insert("tokens".into(), device_count.into());
    fields.insert("outcome".into(), outcome_name(&ring.outcome).into());
    if let Some(reason) = reason {
        fields.insert("reason".into(), reason.as_str().into());
    }
    fields.insert("providers".into(), ring.providers.clone());
    fields.insert("durationMs".into(), (started.elapsed().as_secs_f64() * 1000.0).into());
    crate::log::line(level, "push", "incoming call push", fields);
}
