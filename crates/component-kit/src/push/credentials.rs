//! Provider credentials that one instance mints and every instance reuses,
//! kept in `push_credentials` (unlogged: a crash only costs a new mint).
//!
//! A row is reused while `expires_at` is ahead and it came from the same
//! key (`fingerprint`). A new one replaces a row only when that row is
//! stale or from another key, so instances racing to refresh converge on
//! one credential instead of churning Apple's throttle.

use std::time::Duration;

use domain::apns::{ApnsKey, PROVIDER_TOKEN_REUSE_SECONDS};
use domain::fcm::{parse_token_answer, ServiceAccount, ACCESS_TOKEN_MARGIN_SECONDS};

use super::Sent;
use crate::db::{Connection, ParameterValue};
use crate::{clock, db};

pub const APNS: &str = "apns";
pub const FCM: &str = "fcm";

/// The OAuth answer is a small JSON object.
const MAX_TOKEN_ANSWER_BYTES: usize = 16 * 1024;

/// The APNs provider JWT: the shared one while fresh, else a new one (kept
/// for the others when no fresher one appeared meanwhile).
pub async fn apns_provider_token(connection: &Connection, key: &ApnsKey) -> String {
    let fingerprint = key.fingerprint();
    if let Some(token) = cached(connection, APNS, fingerprint).await {
        return token;
    }
    let now = clock::now_unix();
    let token = key.provider_token(now);
    keep(connection, APNS, fingerprint, token, now, now + PROVIDER_TOKEN_REUSE_SECONDS).await
}

/// The FCM access token: the shared one while it has a few minutes left,
/// else one bought with a signed grant from the account's `token_uri`.
/// `Err`: the exchange failed (NoAnswer, Denied, or Refused with Google's words).
pub async fn fcm_access_token(connection: &Connection, account: &ServiceAccount, timeout: Duration) -> Result<String, Sent> {
    let fingerprint = account.fingerprint();
    if let Some(token) = cached(connection, FCM, fingerprint).await {
        return Ok(token);
    }
    let now = clock::now_unix();
    let request = account.token_request(now);
    let (status, body) = super::post(&request, timeout, MAX_TOKEN_ANSWER_BYTES).await?;
    let bought = parse_token_answer(status, &body, now)
        .map_err(|reason| Sent::Outcome(domain::delivery::DeviceOutcome::Refused(format!("OAuth token exchange: {reason}"))))?;
    let reuse_until = bought.expires_at.saturating_sub(ACCESS_TOKEN_MARGIN_SECONDS);
    Ok(keep(connection, FCM, fingerprint, bought.token, now, reuse_until).await)
}

/// Drops `credential` after the provider refused it, so the next push mints anew.
pub async fn forget(connection: &Connection, provider: &str, credential: &str) {
    let dropped = db::execute(
        connection,
        "DELETE FROM push_credentials WHERE provider = $1 AND credential = $2",
        vec![ParameterValue::Str(provider.to_owned()), ParameterValue::Str(credential.to_owned())],
    )
    .await;
    if let Err(failure) = dropped {
        super::record::warn("push credential not dropped", failure.sqlstate());
    }
}

async fn cached(connection: &Connection, provider: &str, fingerprint: &str) -> Option<String> {
    let rows = db::query(
        connection,
        "SELECT credential FROM push_credentials WHERE provider = $1 AND fingerprint = $2 AND expires_at > now()",
        vec![ParameterValue::Str(provider.to_owned()), ParameterValue::Str(fingerprint.to_owned())],
    )
    .await;
    match rows {
        Ok(rows) => rows.first().and_then(|row| db::get::<String>(row, "credential").ok()),
        Err(failure) => {
            super::record::warn("push credential not read", failure.sqlstate());
            None
        }
    }
}

/// Stores `credential` unless a fresh one from the same key is already
/// there, and answers whichever is stored (ours when storing failed).
async fn keep(connection: &Connection, provider: &str, fingerprint: &str, credential: String, issued_at: u64, reuse_until: u64) -> String {
    let rows = db::query(
        connection,
        "WITH stored AS (
             INSERT INTO push_credentials (provider, fingerprint, credential, issued_at, expires_at)
             VALUES ($1, $2, $3, to_timestamp($4), to_timestamp($5))
             ON CONFLICT (provider) DO UPDATE
             SET fingerprint = EXCLUDED.fingerprint, credential = EXCLUDED.credential,
                 issued_at = EXCLUDED.issued_at, expires_at = EXCLUDED.expires_at
             WHERE push_credentials.fingerprint <> EXCLUDED.fingerprint OR push_credentials.expires_at <= now()
             RETURNING credential
         )
         SELECT credential FROM stored
         UNION ALL
         SELECT credential FROM push_credentials WHERE provider = $1 AND NOT EXISTS (SELECT 1 FROM stored)",
        vec![
            ParameterValue::Str(provider.to_owned()),
            ParameterValue::Str(fingerprint.to_owned()),
            ParameterValue::Str(credential.clone()),
            ParameterValue::Floating64(issued_at as f64),
            ParameterValue::Floating64(reuse_until as f64),
        ],
    )
    .await;
    match rows {
        Ok(rows) => rows.first().and_then(|row| db::get::<String>(row, "credential").ok()).unwrap_or(credential),
        Err(failure) => {
            super::record::warn("push credential not kept", failure.sqlstate());
            credential
        }
    }
}
