//! Expo's push receipts, polled by the sweep: a ticket Expo took may later
//! turn out undeliverable, and `DeviceNotRegistered` there means the device
//! is gone. Receipts are ready some minutes after the send
//! (`expo_receipt_delay_seconds`, 900) and kept by Expo for a day, so rows
//! older than that are dropped unread.

use domain::delivery::DeviceOutcome;
use domain::push::{expo_json_request, expo_receipts, expo_receipts_url};
use serde_json::json;
use spin_sdk::pg::{Connection, ParameterValue};

use super::settings::{Provider, Settings};
use crate::{config, db, Failure};

/// Expo takes up to 1,000 ids per request.
const MAX_IDS: u32 = 1000;
/// Receipts for 1,000 ids are well under this.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// What one poll found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Poll {
    pub checked: u64,
    /// Tokens removed because their receipt said the device is gone.
    pub pruned: u64,
}

/// Asks Expo for the receipts that should be ready, removes the tokens they
/// call gone, and forgets every receipt that is answered or over a day old.
pub async fn poll(connection: &Connection) -> Result<Poll, Failure> {
    let Ok(settings) = Settings::current().await else { return Ok(Poll::default()) };
    if settings.provider != Provider::Live {
        return Ok(Poll::default());
    }
    let delay = config::positive_integer("expo_receipt_delay_seconds", 900).await?;
    db::execute(connection, "DELETE FROM push_receipts WHERE created_at < now() - interval '1 day'", vec![]).await?;
    let rows = db::query(
        connection,
        "SELECT ticket_id, token FROM push_receipts WHERE created_at <= now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
        vec![ParameterValue::Floating64(delay as f64), ParameterValue::Int64(i64::from(MAX_IDS))],
    )
    .await?;
    if rows.is_empty() {
        return Ok(Poll::default());
    }
    let mut tickets = Vec::with_capacity(rows.len());
    for row in &rows {
        tickets.push((db::get::<String>(row, "ticket_id")?, db::get::<String>(row, "token")?));
    }
    let ids: Vec<&str> = tickets.iter().map(|(id, _)| id.as_str()).collect();
    let request = expo_json_request(&expo_receipts_url(&settings.expo_url), settings.expo_access_token.as_deref(), &json!({ "ids": ids }));
    let (status, body) = match super::post(&request, settings.timeout, MAX_ANSWER_BYTES).await {
        Ok(answered) => answered,
        // Kept for the next sweep.
        Err(_) => return Ok(Poll::default()),
    };
    let receipts = expo_receipts(status, &body).map_err(|reason| Failure::unavailable(format!("expo receipts: {reason}")))?;
    let gone: Vec<String> = receipts
        .iter()
        .filter(|(_, outcome)| matches!(outcome, DeviceOutcome::Gone(_)))
        .filter_map(|(id, _)| tickets.iter().find(|(ticket, _)| ticket == id).map(|(_, token)| token.clone()))
        .collect();
    let pruned = super::record::prune_tokens(connection, gone).await;
    let answered: Vec<Option<String>> = receipts.into_iter().map(|(id, _)| Some(id)).collect();
    let checked = answered.len() as u64;
    db::execute(connection, "DELETE FROM push_receipts WHERE ticket_id = ANY($1)", vec![ParameterValue::ArrayStr(answered)]).await?;
    Ok(Poll { checked, pruned })
}
