//! What pushes leave in Postgres: the `log` provider's `push_log` rows, and
//! dead tokens removed.

use domain::delivery::DeviceOutcome;
use domain::ids::UserId;
use domain::push::PushMessage;
use serde_json::json;

use super::{call_data, settings::Settings, Device, Message, Sent};
use crate::db::{self, Connection, ParameterValue};

/// The `log` provider: one `push_log` row per message, every device Delivered,
/// or Refused when the insert fails. A ring's row holds Expo's message.
pub async fn write_log(connection: &Connection, user: UserId, devices: &[Device], message: Message<'_>, settings: &Settings) -> Vec<Sent> {
    let tokens: Vec<String> = devices.iter().map(|device| device.token.clone()).collect();
    let body = match message {
        Message::Ring(call) => PushMessage::incoming_call(call, &tokens, settings.ttl_seconds).to_json(),
        Message::Ended { .. } => json!({ "to": tokens, "data": call_data(message) }),
    };
    let inserted = db::execute(
        connection,
        "INSERT INTO push_log (user_id, tokens, message) VALUES ($1, $2, $3)",
        vec![
            db::uuid(user.0),
            ParameterValue::ArrayStr(tokens.into_iter().map(Some).collect()),
            ParameterValue::Jsonb(body.to_string().into_bytes()),
        ],
    )
    .await;
    let outcome = match inserted {
        Ok(_) => DeviceOutcome::Delivered,
        // Only the SQLSTATE: a message's DETAIL may quote the row, tokens included.
        Err(failure) => DeviceOutcome::Refused(format!("push_log insert failed ({})", failure.sqlstate().unwrap_or("no SQLSTATE"))),
    };
    vec![Sent::Outcome(outcome); devices.len()]
}

/// Removes the tokens whose provider called them dead.
pub async fn prune_gone(connection: &Connection, devices: &[Device], results: &[Sent]) {
    let gone: Vec<String> = devices
        .iter()
        .zip(results)
        .filter(|(_, sent)| matches!(sent, Sent::Outcome(DeviceOutcome::Gone(_))))
        .map(|(device, _)| device.token.clone())
        .collect();
    prune_tokens(connection, gone).await;
}

/// Removes `tokens` from `push_tokens` (and any stop-ringing still queued for them).
async fn prune_tokens(connection: &Connection, tokens: Vec<String>) -> u64 {
    if tokens.is_empty() {
        return 0;
    }
    let count = tokens.len();
    let pruned = db::execute(
        connection,
        "DELETE FROM push_tokens WHERE token = ANY($1)",
        vec![ParameterValue::ArrayStr(tokens.into_iter().map(Some).collect())],
    )
    .await;
    match pruned {
        Ok(removed) => {
            let mut fields = serde_json::Map::new();
            fields.insert("gone".into(), count.into());
            fields.insert("removed".into(), removed.into());
            crate::log::line("info", crate::log::component().unwrap_or("push"), "dead push tokens removed", fields);
            removed
        }
        Err(failure) => {
            warn("dead push tokens not removed", failure.sqlstate());
            0
        }
    }
}

/// One warning line for a bookkeeping write that failed (the push itself stands).
pub fn warn(what: &str, sqlstate: Option<&str>) {
    let mut fields = serde_json::Map::new();
    fields.insert("sqlstate".into(), sqlstate.unwrap_or("none").into());
    crate::log::line("warn", crate::log::component().unwrap_or("push"), what, fields);
}
