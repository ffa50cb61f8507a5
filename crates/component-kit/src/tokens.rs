//! Participant tokens and the fields every token answer carries.

use domain::access::Admission;
use domain::ids::UserId;
use domain::livekit_token::TokenSpec;
use serde_json::{json, Value};

use crate::{config, livekit, Failure};

/// The default token lifetime: six hours, as LiveKit's SDKs use.
pub const DEFAULT_TTL_SECONDS: u64 = 21_600;

/// Mints `user`'s token for `admission` and returns
/// `{"token", "wsUrl", "roomName", "identity", "expiresAt", "role"}`.
/// Reads `livekit_api_key`, `livekit_api_secret`, `livekit_url`, `token_ttl_seconds`.
pub async fn participant_token(user: UserId, display_name: &str, admission: &Admission, now: u64) -> Result<Value, Failure> {
    let keys = livekit::api_keys().await?;
    let ws_url = config::required("livekit_url").await?;
    let ttl_seconds = config::positive_integer("token_ttl_seconds", DEFAULT_TTL_SECONDS).await?;
    let spec = TokenSpec {
        identity: user.to_string(),
        name: display_name.to_owned(),
        metadata: admission.role.metadata(),
        grant: admission.grant.clone(),
        ttl_seconds,
    };
    let minted = keys.mint(&spec, now).map_err(|error| Failure::internal(format!("minting: {error}")))?;
    Ok(json!({
        "token": minted.token,
        "wsUrl": ws_url,
        "roomName": admission.grant.room,
        "identity": spec.identity,
        "expiresAt": domain::time::rfc3339(minted.expires_at),
        "role": admission.role.as_str(),
    }))
}

/// Merges `fields` into the object `into`.
pub fn merge(into: &mut Value, fields: Value) {
    if let (Some(target), Value::Object(source)) = (into.as_object_mut(), fields) {
        target.extend(source);
    }
}
