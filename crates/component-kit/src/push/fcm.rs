//! FCM HTTP v1: a data-only, high-priority message per device, with an OAuth2
//! access token that the service account's signed grant buys from Google and
//! that all instances share through `push_credentials` until shortly before
//! it expires.

use domain::delivery::DeviceOutcome;
use domain::fcm::{classify_answer, send_request};

use super::{call_data_strings, credentials, settings::Settings, Message, Sent};
use crate::db::Connection;

/// FCM answers `{"name": ...}` or a Google error object.
const MAX_ANSWER_BYTES: usize = 16 * 1024;

pub async fn send(connection: &Connection, settings: &Settings, tokens: &[String], message: Message<'_>) -> Vec<Sent> {
    if tokens.is_empty() {
        return Vec::new();
    }
    let fcm = match &settings.fcm {
        Ok(fcm) => fcm,
        Err(reason) => return vec![Sent::Outcome(DeviceOutcome::Refused(reason.clone())); tokens.len()],
    };
    let access_token = match credentials::fcm_access_token(connection, &fcm.account, settings.timeout).await {
        Ok(token) => token,
        Err(not_bought) => return vec![not_bought; tokens.len()],
    };
    let data = call_data_strings(message);
    let project = fcm.account.project_id();
    let requests = tokens.iter().map(|token| send_request(&fcm.origin, project, &access_token, token, &data, settings.ttl_seconds)).collect();
    super::per_device(connection, settings, requests, MAX_ANSWER_BYTES, classify_answer, (credentials::FCM, &access_token)).await
}
