//! Expo's push receipts, polled by the sweep: a ticket Expo took may later
//! turn out undeliverable, and `DeviceNotRegistered` there means the device
//! is gone. Receipts are ready some minutes after the send
//! (`expo_receipt_delay_seconds`, 900) and kept by Expo for a day, so rows
//! older than that are dropped unread. A receipt removes its token only if
//! nobody registered the token again after the ticket: the device may have
//! come back since.

use domain::delivery::DeviceOutcome;
use domain::push::{expo_json_request, expo_receipts, expo_receipts_url, EXPO_MAX_RECEIPT_IDS_PER_REQUEST};
use serde_json::json;

use super::settings::{Provider, Settings};
use crate::db::{Connection, ParameterValue};
use crate::{config, db, Failure};

/// Receipts read per poll, in requests of [`EXPO_MAX_RECEIPT_IDS_PER_REQUEST`].
const MAX_IDS: u32 = 900;
/// Receipts for 300 ids are well under this.
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
        "SELECT ticket_id FROM push_receipts WHERE created_at <= now() - make_interval(secs => $1) ORDER BY created_at LIMIT $2",
        vec![ParameterValue::Floating64(delay as f64), ParameterValue::Int64(i64::from(MAX_IDS))],
    )
    .await?;
    if rows.is_empty() {
        return Ok(Poll::default());
    }
    let mut ids = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(db::get::<String>(row, "ticket_id")?);
    }
    let batches = ids.chunks(EXPO_MAX_RECEIPT_IDS_PER_REQUEST).map(|batch| poll_batch(connection, &settings, batch));
    let mut total = Poll::default();
    for polled in futures::future::join_all(batches).await {
        let polled = polled?;
        total.checked += polled.checked;
        total.pruned += polled.pruned;
    }
    Ok(total)
}

/// One getReceipts request: removes the tokens its receipts call gone (unless
/// registered again since the ticket) and forgets every answered receipt, in
/// one statement.
async fn poll_batch(connection: &Connection, settings: &Settings, ids: &[String]) -> Result<Poll, Failure> {
    let request = expo_json_request(&expo_receipts_url(&settings.expo_url), settings.expo_access_token.as_deref(), &json!({ "ids": ids }));
    let (status, body) = match super::post(&request, settings.timeout, MAX_ANSWER_BYTES).await {
        Ok(answered) => answered,
        // Kept for the next sweep.
        Err(_) => return Ok(Poll::default()),
    };
    let receipts = expo_receipts(status, &body).map_err(|reason| Failure::unavailable(format!("expo receipts: {reason}")))?;
    // Only ids we asked for: an answer cannot reach other rows.
    let receipts: Vec<(String, DeviceOutcome)> = receipts.into_iter().filter(|(id, _)| ids.contains(id)).collect();
    let gone: Vec<Option<String>> =
        receipts.iter().filter(|(_, outcome)| matches!(outcome, DeviceOutcome::Gone(_))).map(|(id, _)| Some(id.clone())).collect();
    let answered: Vec<Option<String>> = receipts.iter().map(|(id, _)| Some(id.clone())).collect();
    let checked = answered.len() as u64;
    let rows = db::query(
        connection,
        "WITH answered AS (DELETE FROM push_receipts WHERE ticket_id = ANY($1) RETURNING ticket_id, token, created_at),
         pruned AS (DELETE FROM push_tokens t USING answered a
                    WHERE a.ticket_id = ANY($2) AND t.token = a.token AND t.updated_at <= a.created_at
                    RETURNING t.token)
         SELECT count(*) AS pruned FROM pruned",
        vec![ParameterValue::ArrayStr(answered), ParameterValue::ArrayStr(gone.clone())],
    )
    .await?;
    let pruned = match rows.first() {
        Some(row) => u64::try_from(db::get::<i64>(row, "pruned")?).unwrap_or(0),
        None => 0,
    };
    if !gone.is_empty() {
        let mut fields = serde_json::Map::new();
        fields.insert("gone".into(), gone.len().into());
        fields.insert("removed".into(), pruned.into());
        crate::log::line("info", crate::log::component().unwrap_or("push"), "dead push tokens removed", fields);
    }
    Ok(Poll { checked, pruned })
}
