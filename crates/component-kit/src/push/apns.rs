//! Apple's push service for PushKit VoIP pushes: one HTTP/2 request per
//! device, authenticated by an ES256 provider JWT that all instances share
//! through `push_credentials` (Apple refuses one older than an hour and
//! throttles new ones under 20 minutes).

use domain::apns::{classify_answer, voip_request};
use domain::delivery::DeviceOutcome;
use spin_sdk::pg::Connection;

use super::{call_data, credentials, settings::Settings, Message, Sent};

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
    super::per_device(connection, settings, requests, MAX_ANSWER_BYTES, classify_answer, (credentials::APNS, &jwt)).await
}
