//! Apple's push service for PushKit VoIP pushes: one HTTP/2 request per
//! device, authenticated by an ES256 provider JWT that all instances share
//! through `push_credentials` (Apple refuses one older than an hour and
//! throttles new ones under 20 minutes). A `BadDeviceToken` deletes a token
//! only beside a delivery in the same send
//! ([`domain::apns::settle_bad_device_tokens`]).

use domain::apns::{classify_answer, settle_bad_device_tokens, voip_request, BadDeviceTokens};
use domain::delivery::DeviceOutcome;

use super::{call_data, credentials, settings::Settings, Message, Sent};
use crate::db::Connection;

/// APNs answers 200 with no body, or a small JSON reason.
const MAX_ANSWER_BYTES: usize = 4 * 1024;

pub async fn send(connection: &Connection, settings: &Settings, tokens: &[String], message: Message<'_>) -> Vec<Sent> {
    if tokens.is_empty() {
        return Vec::new();
    }
    let apns = match &settings.apns {
        Ok(apns) => apns,
        Err(reason) => return vec![Sent::Outcome(DeviceOutcome::Refused(reason.clone())); tokens.len()],
    };
    let jwt = credentials::apns_provider_token(connection, &apns.key).await;
    let payload = call_data(message);
    let requests = tokens.iter().map(|token| voip_request(&apns.origin, token, &apns.bundle_id, &jwt, &payload)).collect();
    let mut sent = super::per_device(connection, settings, requests, MAX_ANSWER_BYTES, classify_answer, (credentials::APNS, &jwt)).await;
    settle(&mut sent, &apns.origin);
    sent
}

/// Turns the send's `BadDeviceToken` answers into Gone or Refused, and warns
/// once when Apple refused every token it answered for.
fn settle(sent: &mut [Sent], origin: &str) {
    let answered: Vec<usize> = (0..sent.len()).filter(|&i| matches!(sent[i], Sent::Outcome(_))).collect();
    let mut outcomes: Vec<DeviceOutcome> = answered
        .iter()
        .map(|&i| match &sent[i] {
            Sent::Outcome(outcome) => outcome.clone(),
            _ => unreachable!("filtered to outcomes"),
        })
        .collect();
    let verdict = settle_bad_device_tokens(&mut outcomes);
    for (index, outcome) in answered.into_iter().zip(outcomes) {
        sent[index] = Sent::Outcome(outcome);
    }
    if verdict == BadDeviceTokens::KeptAllRefused {
        let mut fields = serde_json::Map::new();
        fields.insert("variable".into(), "apns_environment".into());
        fields.insert("origin".into(), crate::outbound::origin(origin).into());
        fields.insert("devices".into(), sent.len().into());
        crate::log::line(
            "error",
            crate::log::component().unwrap_or("push"),
            "APNs answered BadDeviceToken for every device: check apns_environment (and apns_origin); no token deleted",
            fields,
        );
    }
}
