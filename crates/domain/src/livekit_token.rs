//! Minting LiveKit access tokens.
//!
//! A LiveKit token is an HS256 JWT signed with the API secret: `iss` is the API
//! key, `sub` the participant identity, and the `video` claim holds the grants
//! (<https://docs.livekit.io/home/get-started/authentication/>). LiveKit reads a
//! missing `canPublish`/`canSubscribe`/`canPublishData` as *true*, so room-join
//! grants always spell all three out.

use std::fmt;

use serde::Serialize;

/// The LiveKit API key and secret (`livekit_api_key`, `livekit_api_secret`).
#[derive(Clone)]
pub struct ApiKeys {
    key: String,
    secret: String,
}

/// A media source a participant may publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackSource {
    Camera,
    Microphone,
    ScreenShare,
    ScreenShareAudio,
}

/// The `video` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoGrant {
    #[serde(skip_serializing_if = "is_false")]
    pub room_join: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub room: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub can_publish_sources: Vec<TrackSource>,
    #[serde(skip_serializing_if = "is_false")]
    pub room_list: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_create: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub room_admin: bool,
    /// Invisible to the room's other participants: LiveKit leaves a hidden
    /// participant out of the participant list and its events.
    #[serde(skip_serializing_if = "is_false")]
    pub hidden: bool,
}

/// What to put in a participant or server token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSpec {
    /// `sub`: the participant identity (our user id); may be empty for server tokens.
    pub identity: String,
    /// `name`: the display name.
    pub name: String,
    /// `metadata`: a JSON string the room's participants can read.
    pub metadata: String,
    pub grant: VideoGrant,
    pub ttl_seconds: u64,
}

/// A signed token and its expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct MintedToken {
    pub token: String,
    /// Unix seconds.
    pub expires_at: u64,
}

/// Why a token could not be minted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("the LiveKit API key or secret is empty")]
    MissingKeys,
    #[error("a room-join token needs an identity and a room")]
    MissingIdentityOrRoom,
    #[error("the TTL must be between 1 second and 1 year")]
    BadTtl,
    #[error("signing failed: {0}")]
    Signing(String),
}

#[derive(Serialize)]
struct LiveKitClaims<'a> {
    iss: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    metadata: &'a str,
    video: &'a VideoGrant,
}

const MAX_TTL_SECONDS: u64 = 366 * 24 * 3600;

impl ApiKeys {
    /// Keys from the two variables. Empty values are refused when minting.
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Self {
        Self { key: key.into(), secret: secret.into() }
    }

    /// The API key (public: it is the token's `iss`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Signs `spec` at time `now` (Unix seconds): `nbf` = `iat` = now, `exp` = now + TTL.
    pub fn mint(&self, spec: &TokenSpec, now: u64) -> Result<MintedToken, MintError> {
        if self.key.is_empty() || self.secret.is_empty() {
            return Err(MintError::MissingKeys);
        }
        if spec.grant.room_join && (spec.identity.is_empty() || spec.grant.room.is_empty()) {
            return Err(MintError::MissingIdentityOrRoom);
        }
        if spec.ttl_seconds == 0 || spec.ttl_seconds > MAX_TTL_SECONDS {
            return Err(MintError::BadTtl);
        }
        let expires_at = now + spec.ttl_seconds;
        let claims = LiveKitClaims {
            iss: &self.key,
            sub: &spec.identity,
            iat: now,
            nbf: now,
            exp: expires_at,
            name: &spec.name,
            metadata: &spec.metadata,
            video: &spec.grant,
        };
        let token = crate::hs256::sign(&claims, self.secret.as_bytes()).map_err(|e| MintError::Signing(e.to_string()))?;
        Ok(MintedToken { token, expires_at })
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys").field("key", &self.key).field("secret", &"[redacted]").finish()
    }
}

impl fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedToken").field("token", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

impl VideoGrant {
    /// Join `room` and publish only `sources` (all of them when empty), subscribe and send data.
    pub fn publisher(room: &str, sources: &[TrackSource]) -> Self {
        Self {
            room_join: true,
            room: room.to_owned(),
            can_publish: Some(true),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_publish_sources: sources.to_vec(),
            ..Self::default()
        }
    }

    /// Join `room` to watch and listen, hidden: no publishing of media or
    /// data, and the other participants (viewers included) do not see this
    /// one, so a viewer learns no other viewer's id or name.
    pub fn subscriber(room: &str) -> Self {
        Self {
            room_join: true,
            room: room.to_owned(),
            can_publish: Some(false),
            can_subscribe: Some(true),
            can_publish_data: Some(false),
            hidden: true,
            ..Self::default()
        }
    }

    /// Server-side administration of one room (`DeleteRoom` needs `roomCreate`;
    /// `SendData`, `ListParticipants` need `roomAdmin` + `room`).
    pub fn room_admin(room: &str) -> Self {
        Self { room: room.to_owned(), room_admin: true, room_create: true, ..Self::default() }
    }

    /// Server-side `ListRooms` and `DeleteRoom` on any room.
    pub fn room_list() -> Self {
        Self { room_list: true, room_create: true, ..Self::default() }
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_api::access_token::TokenVerifier;

    const NOW: u64 = 1_780_000_000;

    fn spec(grant: VideoGrant) -> TokenSpec {
        TokenSpec {
            identity: "4f8a3f0e-0a39-4c43-9e0b-7cc8a3c9b0d1".to_owned(),
            name: "Ayşe".to_owned(),
            metadata: r#"{"role":"viewer"}"#.to_owned(),
            grant,
            ttl_seconds: 21_600,
        }
    }

    fn claims_of(token: &str) -> serde_json::Value {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn subscriber_token_agrees_with_livekit_api() {
        // The dev server's keys: a 6-byte secret must work.
        let keys = ApiKeys::new("devkey", "secret");
        let minted = keys.mint(&spec(VideoGrant::subscriber("live_abc")), now()).unwrap();
        let claims = TokenVerifier::with_api_key("devkey", "secret").verify(&minted.token).unwrap();
        assert_eq!(claims.sub, "4f8a3f0e-0a39-4c43-9e0b-7cc8a3c9b0d1");
        assert_eq!(claims.iss, "devkey");
        assert_eq!(claims.name, "Ayşe");
        assert_eq!(claims.metadata, r#"{"role":"viewer"}"#);
        assert!(claims.video.room_join);
        assert_eq!(claims.video.room, "live_abc");
        assert!(!claims.video.can_publish);
        assert!(!claims.video.can_publish_data);
        assert!(claims.video.can_subscribe);
        assert!(claims.video.hidden, "a viewer is hidden from the other participants");
        assert_eq!(claims.exp as u64, minted.expires_at);
        assert_eq!(minted.expires_at, now() + 21_600);
    }

    #[test]
    fn publisher_token_lists_sources() {
        let keys = ApiKeys::new("APIkey", "a-much-longer-secret-of-32-bytes!");
        let minted = keys
            .mint(&spec(VideoGrant::publisher("call_1", &[TrackSource::Microphone])), now())
            .unwrap();
        let claims = TokenVerifier::with_api_key("APIkey", "a-much-longer-secret-of-32-bytes!")
            .verify(&minted.token)
            .unwrap();
        assert!(claims.video.can_publish && claims.video.can_subscribe && claims.video.can_publish_data);
        assert_eq!(claims.video.can_publish_sources, vec!["microphone".to_owned()]);
        assert!(!claims.video.hidden, "a publisher is seen");
        // LiveKit reads absent booleans as true: they are always explicit.
        let raw = claims_of(&minted.token);
        assert_eq!(raw["video"]["canPublish"], true);
        assert!(raw["video"].get("hidden").is_none());
        assert_eq!(raw["nbf"], now());
    }

    #[test]
    fn wrong_secret_is_refused_by_livekit_api() {
        let minted = ApiKeys::new("devkey", "secret").mint(&spec(VideoGrant::subscriber("r")), now()).unwrap();
        assert!(TokenVerifier::with_api_key("devkey", "other").verify(&minted.token).is_err());
    }

    #[test]
    fn server_grants() {
        let minted = ApiKeys::new("k", "s")
            .mint(&TokenSpec { identity: String::new(), name: String::new(), metadata: String::new(), grant: VideoGrant::room_admin("r1"), ttl_seconds: 600 }, NOW)
            .unwrap();
        let raw = claims_of(&minted.token);
        assert_eq!(raw["video"], serde_json::json!({"room": "r1", "roomAdmin": true, "roomCreate": true}));
        assert!(raw.get("sub").is_none());
    }

    #[test]
    fn refusals() {
        let keys = ApiKeys::new("k", "s");
        assert_eq!(ApiKeys::new("", "s").mint(&spec(VideoGrant::subscriber("r")), NOW), Err(MintError::MissingKeys));
        assert_eq!(ApiKeys::new("k", "").mint(&spec(VideoGrant::subscriber("r")), NOW), Err(MintError::MissingKeys));
        assert_eq!(keys.mint(&spec(VideoGrant::subscriber("")), NOW), Err(MintError::MissingIdentityOrRoom));
        let mut zero = spec(VideoGrant::subscriber("r"));
        zero.ttl_seconds = 0;
        assert_eq!(keys.mint(&zero, NOW), Err(MintError::BadTtl));
        assert!(!format!("{keys:?}").contains("\"s\""));
    }

    /// The oracle checks `exp` against the real clock.
    fn now() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    }
}
