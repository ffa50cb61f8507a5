//! Expo's push service: one request per 100 of a message's Expo tokens (all
//! at once), one ticket back per token. Tickets that Expo took are kept in
//! `push_receipts`: their receipts may later say a device is gone.

use domain::push::{expo_data_message, expo_json_request, expo_tickets, PushMessage, EXPO_MAX_TOKENS_PER_REQUEST};

use super::{call_data, settings::Settings, Message, Sent};
use crate::db::{self, Connection, ParameterValue};

/// The most of Expo's answer we read: one ticket per token is small.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub async fn send(connection: &Connection, settings: &Settings, tokens: &[String], message: Message<'_>) -> Vec<Sent> {
    let batches = tokens.chunks(EXPO_MAX_TOKENS_PER_REQUEST).map(|batch| send_batch(connection, settings, batch, message));
    futures::future::join_all(batches).await.into_iter().flatten().collect()
}

/// One request of at most [`EXPO_MAX_TOKENS_PER_REQUEST`] tokens.
async fn send_batch(connection: &Connection, settings: &Settings, tokens: &[String], message: Message<'_>) -> Vec<Sent> {
    let body = match message {
        Message::Ring(call) => PushMessage::incoming_call(call, tokens, settings.ttl_seconds).to_json(),
        Message::Ended { .. } => expo_data_message(tokens, call_data(message), settings.ttl_seconds),
    };
    let request = expo_json_request(&settings.expo_url, settings.expo_access_token.as_deref(), &body);
    let (status, answer) = match super::post(&request, settings.timeout, MAX_ANSWER_BYTES).await {
        Ok(answered) => answered,
        Err(unanswered) => return vec![unanswered; tokens.len()],
    };
    let tickets = expo_tickets(status, &answer, tokens.len());
    keep_receipts(connection, tokens, tickets.iter().map(|ticket| ticket.receipt_id.clone()).collect()).await;
    tickets.into_iter().map(|ticket| Sent::Outcome(ticket.outcome)).collect()
}

/// Keeps each taken ticket's id with its token for the sweep's receipt poll.
async fn keep_receipts(connection: &Connection, tokens: &[String], ids: Vec<Option<String>>) {
    let (ids, tokens): (Vec<Option<String>>, Vec<Option<String>>) =
        ids.into_iter().zip(tokens).filter_map(|(id, token)| Some((Some(id?), Some(token.clone())))).unzip();
    if ids.is_empty() {
        return;
    }
    let kept = db::execute(
        connection,
        "INSERT INTO push_receipts (ticket_id, token) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        vec![ParameterValue::ArrayStr(ids), ParameterValue::ArrayStr(tokens)],
    )
    .await;
    if let Err(failure) = kept {
        super::record::warn("expo receipts not kept", failure.sqlstate());
    }
}
