//! Verifying the app users' access tokens.
//!
//! The mobile app signs in with Supabase Auth and sends the user's access token
//! as `Authorization: Bearer <jwt>`. The token's `sub` is the user's uuid, its
//! `aud` is `authenticated`, and it carries `exp`, `iat` and `iss`, plus
//! Supabase's own claims (`role`, `email`, `session_id`, ...), which we accept
//! and ignore.
//!
//! The header's `alg` is chosen by whoever made the token, so it only selects
//! among the keys we configured and never the kind of check: HS256 is verified
//! with the configured secret and nothing else, ES256 and RS256 only with a
//! JWKS key of that type. That closes the known JWT confusions: `alg: none`,
//! and HS256 "signed" with a public key used as the HMAC secret
//! (CVE-2015-9235).
//!
//! The verified user also carries the display name the auth provider put in
//! the token (Supabase: `user_metadata.full_name` or `user_metadata.name`,
//! from the sign-up data or the OAuth provider's profile; other providers:
//! the OIDC `name` claim), cleaned up, since whoever signed up chose it.
//!
//! Like the rest of the crate this module does no I/O and reads no clock: the
//! caller passes `now`.

use std::collections::HashSet;
use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use jwt_simple::prelude::{
    Duration, ECDSAP256PublicKeyLike as _, ES256PublicKey, HS256Key, JWTClaims, MACLike as _,
    RS256PublicKey, RSAPublicKeyLike as _, Token, UnixTimeStamp, VerificationOptions,
};
use jwt_simple::JWTError;
use serde::Deserialize;

use crate::ids::UserId;

/// How far the issuer's clock and ours may disagree when checking `exp`,
/// `nbf` and `iat`.
///
/// jwt-simple defaults to 15 minutes; a minute is plenty for servers and
/// phones that sync their clocks, and keeps a stolen token's extra life short.
pub const CLOCK_LEEWAY_SECONDS: u64 = 60;

/// Verification keys and rules, built once per request from the component's
/// variables.
///
/// Which algorithms a token may use follows from the keys configured: HS256
/// only with a secret, ES256 and RS256 only with a JWKS key of that type.
/// `Debug` prints no secret.
pub struct AuthConfig {
    // Invariant: `hs256_key` is set or `jwks_keys` is not empty, unless the
    // keys also come from a URL (checked in `new`, relaxed by `with_key_url`).
    hs256_key: Option<HS256Key>,
    /// The keys of `auth_jwks`.
    jwks_keys: KeySet,
    audience: String,
    issuer: Option<String>,
}

/// The usable ES256 and RS256 keys of one JWKS document, with their `kid`s:
/// `auth_jwks`'s, or the set fetched from `auth_jwks_url`.
pub struct KeySet {
    es256_keys: Vec<KeyWithId<ES256PublicKey>>,
    rs256_keys: Vec<KeyWithId<RS256PublicKey>>,
    /// JWKS entries that were not usable and so were left out; shown by `Debug`.
    skipped_jwks_keys: usize,
}

/// Why the auth variables cannot be turned into an [`AuthConfig`].
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    /// Neither `auth_jwt_secret` nor a usable key in `auth_jwks` is set.
    #[error("no token verification key configured (auth_jwt_secret or auth_jwks)")]
    NoKeys,
    /// `auth_jwks` is not a JWKS document (`{"keys": [{...}, ...]}`).
    #[error("malformed auth_jwks: {0}")]
    Jwks(String),
    /// `auth_jwt_secret` is set but shorter than 32 bytes, which RFC 7518
    /// (section 3.2) forbids for HS256: a guessable key signs anyone in.
    #[error("auth_jwt_secret is shorter than 32 bytes (RFC 7518 section 3.2): set a longer secret or leave it empty")]
    WeakSecret,
}

/// Why a request's access token was refused.
///
/// The HTTP layer maps every variant to `401 UNAUTHORIZED`; the variants exist
/// so that logs say why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing authorization header")]
    MissingHeader,
    #[error("authorization scheme is not bearer")]
    NotBearer,
    #[error("malformed token")]
    Malformed,
    /// Carries the token's `alg`, cut to a few characters.
    #[error("token algorithm not allowed: {0:?}")]
    AlgorithmNotAllowed(String),
    #[error("unknown token signing key")]
    UnknownKey,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("wrong token audience")]
    WrongAudience,
    #[error("wrong token issuer")]
    WrongIssuer,
    #[error("token has no expiry")]
    MissingExpiry,
    #[error("token has no subject")]
    MissingSubject,
    #[error("token subject is not a uuid")]
    SubjectNotUuid,
    #[error("token too long")]
    TooLong,
    /// Anything else the JWT library refused, with its reason.
    #[error("invalid token: {0}")]
    Invalid(String),
}

/// Who a verified token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The token's `sub`.
    pub id: UserId,
    /// The name the token carries, if any (see [`DisplayName::from_claims`]).
    pub display_name: Option<DisplayName>,
}

/// A user's display name as we store and show it (`users.display_name`):
/// 1 to 100 characters, no control or invisible formatting characters, no
/// whitespace at either end and none but single spaces inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

/// Longest token accepted. Supabase access tokens are well under 2 KiB; the
/// cap bounds the work an anonymous caller can make us do.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

const DEFAULT_AUDIENCE: &str = "authenticated";

/// RFC 7518 section 3.2: an HS256 key of at least the hash's 256 bits.
/// (jwt-simple only refuses keys under 12 bytes.)
pub const MIN_HS256_SECRET_BYTES: usize = 32;

const MIN_RSA_MODULUS_BITS: usize = 2048;

/// How much of an unknown `alg` goes into `AuthError::AlgorithmNotAllowed`
/// (and so into logs).
const MAX_LOGGED_ALGORITHM_CHARS: usize = 32;

/// coarsetime keeps seconds in the upper 32 bits of a `u64`, and jwt-simple
/// adds the leeway to `now` unchecked, so a `now` near 2^32 would overflow.
/// `now` below the leeway makes jwt-simple call every token expired.
const VALID_NOW_UNIX_SECONDS: std::ops::RangeInclusive<u64> =
    CLOCK_LEEWAY_SECONDS..=(u32::MAX as u64 - 2 * CLOCK_LEEWAY_SECONDS);

/// The `users.display_name` CHECK: `length(display_name) <= 100`, which
/// counts characters (code points), as `char` does.
const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Base64url as RFC 7517 writes JWKS members; some publishers pad anyway.
const JWKS_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

struct KeyWithId<K> {
    kid: Option<String>,
    key: K,
}

#[derive(Deserialize)]
struct JwksDocument {
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// The JWK members we read (RFC 7517 and 7518); others are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    public_key_use: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

enum UsableJwk {
    Es256(KeyWithId<ES256PublicKey>),
    // Boxed: an RSA key is several times the size of an EC key.
    Rs256(Box<KeyWithId<RS256PublicKey>>),
}

/// The payload's `exp` as written, before jwt-simple converts it.
#[derive(Deserialize)]
struct RawExpiry {
    exp: Option<serde_json::Number>,
}

type SupabaseClaims = JWTClaims<serde_json::Map<String, serde_json::Value>>;

impl AuthConfig {
    /// Builds the verification rules from the component's variables.
    ///
    /// `hs256_secret` is `auth_jwt_secret` (Supabase's legacy JWT secret, used
    /// as raw bytes); `jwks_json` is `auth_jwks`, a JWKS document
    /// `{"keys": [...]}`; `audience` is `auth_audience` (empty means
    /// `authenticated`); `issuer` is `auth_issuer`, checked only when set.
    /// Empty or blank strings count as unset.
    ///
    /// From the JWKS only RSA keys (`kty` RSA, `n`/`e`, at least 2048 bits)
    /// and EC P-256 keys (`kty` EC, `crv` P-256, 32-byte `x`/`y` on the curve)
    /// are kept, and only when their `alg`, if present, is RS256 or ES256
    /// respectively and their `use`, if present, is `sig`. Other entries
    /// (symmetric `oct` keys included) are skipped.
    ///
    /// # Errors
    ///
    /// [`AuthConfigError::Jwks`] when `jwks_json` is not a JSON object with a
    /// `keys` array of objects; [`AuthConfigError::WeakSecret`] when the
    /// secret is shorter than [`MIN_HS256_SECRET_BYTES`] (refused, not
    /// ignored, even beside a JWKS: the operator meant it to be used);
    /// [`AuthConfigError::NoKeys`] when no secret and no usable JWKS key remain.
    pub fn new(
        hs256_secret: Option<&str>,
        jwks_json: Option<&str>,
        audience: &str,
        issuer: Option<&str>,
    ) -> Result<Self, AuthConfigError> {
        let config = Self::with_key_url(hs256_secret, jwks_json, audience, issuer)?;
        if config.hs256_key.is_none() && config.jwks_keys.is_empty() {
            return Err(AuthConfigError::NoKeys);
        }
        Ok(config)
    }

    /// As [`AuthConfig::new`] for a setup that also takes keys from
    /// `auth_jwks_url`: with no secret and no `auth_jwks` key this is not an
    /// error, since the URL's set is passed to
    /// [`AuthConfig::verify_bearer_with`].
    ///
    /// # Errors
    ///
    /// [`AuthConfigError::Jwks`] when `jwks_json` is malformed,
    /// [`AuthConfigError::WeakSecret`] for an HS256 secret under 32 bytes.
    pub fn with_key_url(
        hs256_secret: Option<&str>,
        jwks_json: Option<&str>,
        audience: &str,
        issuer: Option<&str>,
    ) -> Result<Self, AuthConfigError> {
        let hs256_key = match non_blank(hs256_secret) {
            Some(secret) if secret.len() < MIN_HS256_SECRET_BYTES => return Err(AuthConfigError::WeakSecret),
            Some(secret) => Some(HS256Key::from_bytes(secret.as_bytes())),
            None => None,
        };
        let jwks_keys = match non_blank(jwks_json) {
            Some(jwks_json) => KeySet::parse(jwks_json)?,
            None => KeySet::empty(),
        };
        Ok(Self {
            hs256_key,
            jwks_keys,
            audience: non_blank(Some(audience))
                .unwrap_or(DEFAULT_AUDIENCE)
                .to_owned(),
            issuer: non_blank(issuer).map(str::to_owned),
        })
    }

    /// Verifies an `Authorization` header value and returns the token's user.
    ///
    /// The value must be `Bearer <jwt>`: the scheme in any case, then spaces,
    /// then exactly one token.
    ///
    /// # Errors
    ///
    /// [`AuthError::MissingHeader`] for no (or a blank) header,
    /// [`AuthError::NotBearer`] for another scheme, [`AuthError::Malformed`]
    /// for `Bearer` with no token or with more than one; otherwise as
    /// [`AuthConfig::verify_token`].
    pub fn verify_bearer(
        &self,
        authorization: Option<&str>,
        now_unix_seconds: u64,
    ) -> Result<VerifiedUser, AuthError> {
        self.verify_bearer_with(None, authorization, now_unix_seconds)
    }

    /// [`AuthConfig::verify_bearer`] with the keys of `fetched` (the set
    /// fetched from `auth_jwks_url`) accepted beside the configured ones.
    ///
    /// # Errors
    ///
    /// As [`AuthConfig::verify_bearer`]; [`AuthError::wants_fresh_keys`]
    /// says whether a fresher `fetched` might change the verdict.
    pub fn verify_bearer_with(
        &self,
        fetched: Option<&KeySet>,
        authorization: Option<&str>,
        now_unix_seconds: u64,
    ) -> Result<VerifiedUser, AuthError> {
        let token = bearer_token(authorization)?;
        self.verify_token_with(fetched, token, now_unix_seconds)
    }

    /// Verifies a bare JWT and returns its user (`sub`) with the display name
    /// its claims carry.
    ///
    /// `exp`, `nbf` and `iat` are checked against `now_unix_seconds` with
    /// [`CLOCK_LEEWAY_SECONDS`] of leeway.
    ///
    /// # Errors
    ///
    /// One [`AuthError`] variant per reason: `TooLong` over 8 KiB, `Malformed`
    /// when it is not three base64url segments with a JSON header and claims,
    /// `AlgorithmNotAllowed` for an `alg` with no configured key,
    /// `UnknownKey` when no JWKS key matches the `kid`, then `BadSignature`,
    /// the time, audience and issuer checks, `MissingExpiry`,
    /// `MissingSubject` and `SubjectNotUuid`. `Invalid` covers the rest
    /// (for example a `crit` header, or a clock outside 1970-2106).
    pub fn verify_token(
        &self,
        token: &str,
        now_unix_seconds: u64,
    ) -> Result<VerifiedUser, AuthError> {
        self.verify_token_with(None, token, now_unix_seconds)
    }

    /// [`AuthConfig::verify_token`] with the keys of `fetched` accepted
    /// beside the configured ones; a `kid` found in both uses the
    /// configured key.
    pub fn verify_token_with(
        &self,
        fetched: Option<&KeySet>,
        token: &str,
        now_unix_seconds: u64,
    ) -> Result<VerifiedUser, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLong);
        }
        if !VALID_NOW_UNIX_SECONDS.contains(&now_unix_seconds) {
            return Err(AuthError::Invalid(format!(
                "clock out of range: {now_unix_seconds}"
            )));
        }
        let payload = decoded_payload(token)?;
        // The header is unauthenticated; it only picks one of our keys.
        let metadata = Token::decode_metadata(token).map_err(|_| AuthError::Malformed)?;
        let options = self.verification_options(now_unix_seconds);
        let verified: Result<SupabaseClaims, jwt_simple::Error> = match metadata.algorithm() {
            "HS256" => {
                let key = self
                    .hs256_key
                    .as_ref()
                    .ok_or_else(|| algorithm_not_allowed("HS256"))?;
                key.verify_token(token, Some(options))
            }
            "ES256" => select_key(
                [
                    &self.jwks_keys.es256_keys,
                    fetched.map_or(&[][..], |set| &set.es256_keys),
                ],
                "ES256",
                metadata.key_id(),
            )?
            .verify_token(token, Some(options)),
            "RS256" => select_key(
                [
                    &self.jwks_keys.rs256_keys,
                    fetched.map_or(&[][..], |set| &set.rs256_keys),
                ],
                "RS256",
                metadata.key_id(),
            )?
            .verify_token(token, Some(options)),
            other => return Err(algorithm_not_allowed(other)),
        };
        let claims = verified.map_err(auth_error_from_library)?;

        if claims.expires_at.is_none() {
            // jwt-simple only checks `exp` when present; a token without one
            // would never expire.
            return Err(AuthError::MissingExpiry);
        }
        reject_negative_expiry(&payload)?;
        let subject = claims.subject.ok_or(AuthError::MissingSubject)?;
        let id = UserId::parse(&subject).ok_or(AuthError::SubjectNotUuid)?;
        Ok(VerifiedUser {
            id,
            display_name: DisplayName::from_claims(&claims.custom),
        })
    }

    fn verification_options(&self, now_unix_seconds: u64) -> VerificationOptions {
        VerificationOptions {
            allowed_audiences: Some(HashSet::from([self.audience.clone()])),
            allowed_issuers: self
                .issuer
                .as_ref()
                .map(|issuer| HashSet::from([issuer.clone()])),
            time_tolerance: Some(Duration::from_secs(CLOCK_LEEWAY_SECONDS)),
            artificial_time: Some(UnixTimeStamp::from_secs(now_unix_seconds)),
            max_token_length: Some(MAX_TOKEN_BYTES),
            max_header_length: Some(MAX_TOKEN_BYTES),
            ..VerificationOptions::default()
        }
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "hs256_secret",
                &self.hs256_key.as_ref().map(|_| "[redacted]"),
            )
            .field("es256_kids", &kids(&self.jwks_keys.es256_keys))
            .field("rs256_kids", &kids(&self.jwks_keys.rs256_keys))
            .field("skipped_jwks_keys", &self.jwks_keys.skipped_jwks_keys)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl KeySet {
    /// No keys.
    pub fn empty() -> Self {
        Self {
            es256_keys: Vec::new(),
            rs256_keys: Vec::new(),
            skipped_jwks_keys: 0,
        }
    }

    /// The usable keys of a JWKS document `{"keys": [...]}`, chosen as
    /// [`AuthConfig::new`] describes; unusable entries are skipped.
    ///
    /// # Errors
    ///
    /// [`AuthConfigError::Jwks`] when `jwks_json` is not a JSON object with a
    /// `keys` array of objects.
    pub fn parse(jwks_json: &str) -> Result<Self, AuthConfigError> {
        let document: JwksDocument = serde_json::from_str(jwks_json)
            .map_err(|error| AuthConfigError::Jwks(error.to_string()))?;
        let mut set = Self::empty();
        for entry in document.keys {
            match usable_jwk(entry) {
                Some(UsableJwk::Es256(key)) => set.es256_keys.push(key),
                Some(UsableJwk::Rs256(key)) => set.rs256_keys.push(*key),
                None => set.skipped_jwks_keys += 1,
            }
        }
        Ok(set)
    }

    /// Whether no usable key is left.
    pub fn is_empty(&self) -> bool {
        self.es256_keys.is_empty() && self.rs256_keys.is_empty()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("es256_kids", &kids(&self.es256_keys))
            .field("rs256_kids", &kids(&self.rs256_keys))
            .field("skipped_jwks_keys", &self.skipped_jwks_keys)
            .finish()
    }
}

impl AuthError {
    /// Whether a fresher key set might verify the token: it names an ES256
    /// or RS256 key that no set at hand has (`UnknownKey`, or no key of its
    /// algorithm at all). Every other refusal stands whatever the keys.
    pub fn wants_fresh_keys(&self) -> bool {
        match self {
            AuthError::UnknownKey => true,
            AuthError::AlgorithmNotAllowed(algorithm) => algorithm == "ES256" || algorithm == "RS256",
            _ => false,
        }
    }
}

impl DisplayName {
    /// Cleans up a name someone typed: control characters and whitespace
    /// become single spaces between words, invisible formatting characters
    /// (bidirectional overrides, zero-width spaces, byte order marks) are
    /// dropped, and the result is cut to 100 characters. `None` when nothing
    /// is left.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut name = String::new();
        let mut chars = 0;
        let mut space_pending = false;
        for character in raw.chars() {
            if is_invisible_formatting(character) {
                continue;
            }
            if character.is_whitespace() || character.is_control() {
                space_pending = !name.is_empty();
                continue;
            }
            let needed = 1 + usize::from(space_pending);
            if chars + needed > MAX_DISPLAY_NAME_CHARS {
                break;
            }
            if space_pending {
                name.push(' ');
                space_pending = false;
            }
            name.push(character);
            chars += needed;
        }
        (!name.is_empty()).then_some(Self(name))
    }

    /// The name in a verified token's claims (all but the registered ones):
    /// Supabase's `user_metadata.full_name`, else `user_metadata.name`, else
    /// the OIDC `name` claim; the first that [`DisplayName::parse`] keeps.
    pub fn from_claims(claims: &serde_json::Map<String, serde_json::Value>) -> Option<Self> {
        let metadata = claims.get("user_metadata");
        [
            metadata.and_then(|metadata| metadata.get("full_name")),
            metadata.and_then(|metadata| metadata.get("name")),
            claims.get("name"),
        ]
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .find_map(Self::parse)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that show nothing themselves but can disguise a name: they
/// reorder the text around them (bidirectional marks, embeddings, overrides
/// and isolates) or hide in it (zero-width space, word joiner, byte order
/// mark). The zero-width joiner and non-joiner stay: emoji sequences and
/// Persian or Indic scripts need them.
fn is_invisible_formatting(character: char) -> bool {
    matches!(
        character,
        '\u{200B}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
    )
}

fn kids<K>(keys: &[KeyWithId<K>]) -> Vec<Option<&str>> {
    keys.iter().map(|key| key.kid.as_deref()).collect()
}

fn non_blank(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let value = non_blank(authorization)
        .ok_or(AuthError::MissingHeader)?
        .trim();
    let Some((scheme, credentials)) = value.split_once(' ') else {
        return Err(if value.eq_ignore_ascii_case("bearer") {
            AuthError::Malformed
        } else {
            AuthError::NotBearer
        });
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::NotBearer);
    }
    // RFC 6750: `Bearer 1*SP b64token`.
    let token = credentials.trim_start_matches(' ');
    if token.is_empty() || token.contains(char::is_whitespace) {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

/// Checks the compact shape (three strict base64url segments) and returns the
/// decoded payload.
///
/// jwt-simple's `decode_metadata` only looks at the first segment, and its
/// base64 errors are a crate we cannot downcast to, so the shape is checked
/// here to report `Malformed` precisely.
fn decoded_payload(token: &str) -> Result<Vec<u8>, AuthError> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(AuthError::Malformed);
    };
    if header.is_empty() || payload.is_empty() {
        return Err(AuthError::Malformed);
    }
    URL_SAFE_NO_PAD
        .decode(header)
        .and(URL_SAFE_NO_PAD.decode(signature))
        .and_then(|_| URL_SAFE_NO_PAD.decode(payload))
        .map_err(|_| AuthError::Malformed)
}

fn algorithm_not_allowed(algorithm: &str) -> AuthError {
    AuthError::AlgorithmNotAllowed(algorithm.chars().take(MAX_LOGGED_ALGORITHM_CHARS).collect())
}

/// Picks the key named by the token's `kid`, from the first list that has
/// it; a token without `kid` may use the only key of its algorithm.
fn select_key<'a, K>(
    lists: [&'a [KeyWithId<K>]; 2],
    algorithm: &str,
    kid: Option<&str>,
) -> Result<&'a K, AuthError> {
    if lists.iter().all(|list| list.is_empty()) {
        return Err(algorithm_not_allowed(algorithm));
    }
    let mut keys = lists.into_iter().flatten();
    let selected = match kid {
        Some(kid) => keys.find(|key| key.kid.as_deref() == Some(kid)),
        None => match (keys.next(), keys.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        },
    };
    selected.map(|key| &key.key).ok_or(AuthError::UnknownKey)
}

fn auth_error_from_library(error: jwt_simple::Error) -> AuthError {
    if let Some(jwt_error) = error.downcast_ref::<JWTError>() {
        return match jwt_error {
            JWTError::InvalidSignature | JWTError::InvalidAuthenticationTag => {
                AuthError::BadSignature
            }
            JWTError::TokenHasExpired => AuthError::Expired,
            JWTError::TokenNotValidYet => AuthError::NotYetValid,
            JWTError::ClockDrift => AuthError::IssuedInFuture,
            JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing => {
                AuthError::WrongAudience
            }
            JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing => {
                AuthError::WrongIssuer
            }
            JWTError::TokenTooLong | JWTError::HeaderTooLarge => AuthError::TooLong,
            JWTError::CompactEncodingError => AuthError::Malformed,
            other => AuthError::Invalid(other.to_string()),
        };
    }
    // The claims did not parse, for example `sub` is a number or `exp` a string.
    if error.downcast_ref::<serde_json::Error>().is_some() {
        return AuthError::Malformed;
    }
    AuthError::Invalid(error.to_string())
}

/// jwt-simple reads a negative `exp` as `i64 as u64`, a time in 2106, so a
/// token that expired before 1970 would never expire. Checked only after the
/// signature, so forgeries still report `BadSignature`.
fn reject_negative_expiry(payload: &[u8]) -> Result<(), AuthError> {
    let raw: RawExpiry = serde_json::from_slice(payload).map_err(|_| AuthError::Malformed)?;
    match raw.exp.and_then(|exp| exp.as_f64()) {
        Some(exp) if exp < 0.0 => Err(AuthError::Expired),
        _ => Ok(()),
    }
}

/// Returns the key if the JWKS entry is one we verify with, `None` to skip it.
fn usable_jwk(entry: serde_json::Map<String, serde_json::Value>) -> Option<UsableJwk> {
    let jwk: Jwk = serde_json::from_value(serde_json::Value::Object(entry)).ok()?;
    if jwk
        .public_key_use
        .as_deref()
        .is_some_and(|usage| usage != "sig")
    {
        return None;
    }
    let algorithm_is = |expected: &str| jwk.alg.as_deref().is_none_or(|alg| alg == expected);
    match jwk.kty.as_str() {
        "EC" if algorithm_is("ES256") && jwk.crv.as_deref() == Some("P-256") => {
            let x = decode_jwk_member(jwk.x.as_deref())?;
            let y = decode_jwk_member(jwk.y.as_deref())?;
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            // SEC1 uncompressed point: 0x04 || x || y.
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            let key = ES256PublicKey::from_bytes(&point).ok()?;
            Some(UsableJwk::Es256(KeyWithId { kid: jwk.kid, key }))
        }
        "RSA" if algorithm_is("RS256") => {
            let modulus = decode_jwk_member(jwk.n.as_deref())?;
            let exponent = decode_jwk_member(jwk.e.as_deref())?;
            if modulus_bits(&modulus) < MIN_RSA_MODULUS_BITS {
                return None;
            }
            let key = RS256PublicKey::from_components(&modulus, &exponent).ok()?;
            Some(UsableJwk::Rs256(Box::new(KeyWithId { kid: jwk.kid, key })))
        }
        _ => None,
    }
}

fn decode_jwk_member(member: Option<&str>) -> Option<Vec<u8>> {
    JWKS_BASE64.decode(member?).ok()
}

/// Bit length of a big-endian unsigned integer.
fn modulus_bits(big_endian: &[u8]) -> usize {
    let significant = match big_endian.iter().position(|byte| *byte != 0) {
        Some(first) => &big_endian[first..],
        None => return 0,
    };
    significant.len() * 8 - significant[0].leading_zeros() as usize
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use jwt_simple::prelude::{
        ECDSAP256KeyPairLike as _, ES256KeyPair, HS512Key, RS256KeyPair, RSAKeyPairLike as _,
    };
    use serde_json::{json, Value};

    use super::*;

    const NOW: u64 = 1_750_000_000;
    const SECRET: &str = "super-secret-jwt-token-with-at-least-32-characters-long";
    const USER: &str = "8f0e1a52-3c5b-4f6e-9a1d-2b7c4e5f6a7b";
    const ISSUER: &str = "https://abcdefghijklmnop.supabase.co/auth/v1";

    /// Keys and configurations shared by the tables; RSA key generation is slow.
    struct Fixture {
        ec: ES256KeyPair,
        ec_second: ES256KeyPair,
        /// Claims the kid "ec-1" but is in no JWKS.
        ec_stranger: ES256KeyPair,
        rsa: RS256KeyPair,
        /// Claims the kid "rsa-1" but is in no JWKS.
        rsa_stranger: RS256KeyPair,
        /// Secret only.
        hs: AuthConfig,
        /// JWKS with ec-1, ec-2 and rsa-1.
        jwks: AuthConfig,
        /// Secret and a JWKS with ec-1 and rsa-1.
        both: AuthConfig,
        /// Secret, no issuer check.
        no_issuer: AuthConfig,
        /// A JWKS with one EC key that has no kid.
        ec_without_kid: AuthConfig,
        /// The JWKS document behind `jwks`.
        jwks_json: String,
    }

    static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
        let ec = ES256KeyPair::generate().with_key_id("ec-1");
        let ec_second = ES256KeyPair::generate().with_key_id("ec-2");
        let ec_stranger = ES256KeyPair::generate().with_key_id("ec-1");
        let rsa = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-1");
        let rsa_stranger = RS256KeyPair::generate(2048).unwrap().with_key_id("rsa-1");
        let jwks_json = jwks(&[
            ec_jwk(&ec, Some("ec-1")),
            ec_jwk(&ec_second, Some("ec-2")),
            rsa_jwk(&rsa, "rsa-1"),
        ]);
        let both_json = jwks(&[ec_jwk(&ec, Some("ec-1")), rsa_jwk(&rsa, "rsa-1")]);
        let ec_without_kid_json = jwks(&[ec_jwk(&ec, None)]);
        Fixture {
            hs: AuthConfig::new(Some(SECRET), None, "authenticated", Some(ISSUER)).unwrap(),
            jwks: AuthConfig::new(None, Some(&jwks_json), "", Some(ISSUER)).unwrap(),
            both: AuthConfig::new(
                Some(SECRET),
                Some(&both_json),
                "authenticated",
                Some(ISSUER),
            )
            .unwrap(),
            no_issuer: AuthConfig::new(Some(SECRET), None, "authenticated", Some("")).unwrap(),
            ec_without_kid: AuthConfig::new(None, Some(&ec_without_kid_json), "", Some(ISSUER))
                .unwrap(),
            ec,
            ec_second,
            ec_stranger,
            rsa,
            rsa_stranger,
            jwks_json,
        }
    });

    fn user() -> VerifiedUser {
        VerifiedUser {
            id: UserId::parse(USER).unwrap(),
            display_name: None,
        }
    }

    fn b64(bytes: impl AsRef<[u8]>) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn ec_jwk(key: &ES256KeyPair, kid: Option<&str>) -> Value {
        let point = key.public_key().public_key().to_bytes_uncompressed();
        let mut jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        });
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        jwk
    }

    fn rsa_jwk(key: &RS256KeyPair, kid: &str) -> Value {
        let components = key.public_key().to_components();
        json!({
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": b64(&components.n), "e": b64(&components.e),
        })
    }

    fn jwks(keys: &[Value]) -> String {
        json!({ "keys": keys }).to_string()
    }

    /// A Supabase access token's claims, valid at `NOW`.
    fn supabase_claims() -> Value {
        json!({
            "iss": ISSUER,
            "sub": USER,
            "aud": "authenticated",
            "exp": NOW + 3600,
            "iat": NOW - 10,
            "email": "ada@example.com",
            "phone": "",
            "app_metadata": { "provider": "email", "providers": ["email"] },
            "user_metadata": {},
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{ "method": "password", "timestamp": NOW - 10 }],
            "session_id": "0b3c7c3e-4d2a-4a8e-8f0e-7c1a2b3c4d5e",
            "is_anonymous": false,
        })
    }

    /// `supabase_claims` with `changes` applied; a `null` removes the claim.
    fn claims_with(changes: Value) -> Value {
        let mut claims = supabase_claims();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    /// Wraps raw JSON claims so jwt-simple signs exactly them.
    fn jwt_claims(claims: Value) -> SupabaseClaims {
        let Value::Object(custom) = claims else {
            panic!("claims must be an object")
        };
        JWTClaims {
            issued_at: None,
            expires_at: None,
            invalid_before: None,
            issuer: None,
            subject: None,
            audiences: None,
            jwt_id: None,
            nonce: None,
            custom,
        }
    }

    fn hs256_with(secret: &[u8], claims: Value) -> String {
        HS256Key::from_bytes(secret)
            .authenticate(jwt_claims(claims))
            .unwrap()
    }

    fn hs256(claims: Value) -> String {
        hs256_with(SECRET.as_bytes(), claims)
    }

    fn es256(key: &ES256KeyPair, claims: Value) -> String {
        key.sign(jwt_claims(claims)).unwrap()
    }

    fn rs256(key: &RS256KeyPair, claims: Value) -> String {
        key.sign(jwt_claims(claims)).unwrap()
    }

    /// Assembles `header.claims.signature` by hand, for tokens no library makes.
    fn raw_token(header: Value, claims: &Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.to_string()),
            b64(claims.to_string()),
            b64(signature)
        )
    }

    fn bearer(token: &str) -> Option<String> {
        Some(format!("Bearer {token}"))
    }

    fn check(
        name: &str,
        config: &AuthConfig,
        authorization: Option<&str>,
        now: u64,
        expected: Result<VerifiedUser, AuthError>,
    ) {
        let actual = config.verify_bearer(authorization, now);
        assert_eq!(actual, expected, "case: {name}");
    }

    type Case<'a> = (
        &'a str,
        &'a AuthConfig,
        Option<String>,
        Result<VerifiedUser, AuthError>,
    );

    fn check_all(cases: Vec<Case<'_>>) {
        for (name, config, authorization, expected) in cases {
            check(name, config, authorization.as_deref(), NOW, expected);
        }
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn accepts_valid_tokens() {
        let fx = &*FIXTURE;
        let no_kid_ec = ES256KeyPair::from_bytes(&fx.ec.to_bytes()).unwrap();
        let no_kid_rsa = RS256KeyPair::from_der(&fx.rsa.to_der().unwrap()).unwrap();
        check_all(vec![
            ("hs256", &fx.hs, bearer(&hs256(supabase_claims())), Ok(user())),
            ("hs256 beside a jwks", &fx.both, bearer(&hs256(supabase_claims())), Ok(user())),
            ("es256 by kid", &fx.jwks, bearer(&es256(&fx.ec, supabase_claims())), Ok(user())),
            ("es256 second key by kid", &fx.jwks, bearer(&es256(&fx.ec_second, supabase_claims())), Ok(user())),
            ("rs256 by kid", &fx.jwks, bearer(&rs256(&fx.rsa, supabase_claims())), Ok(user())),
            ("rs256 beside a secret", &fx.both, bearer(&rs256(&fx.rsa, supabase_claims())), Ok(user())),
            ("rs256 without kid, only rsa key", &fx.jwks, bearer(&rs256(&no_kid_rsa, supabase_claims())), Ok(user())),
            ("es256 without kid, only ec key", &fx.ec_without_kid, bearer(&es256(&no_kid_ec, supabase_claims())), Ok(user())),
            ("lowercase scheme", &fx.hs, Some(format!("bearer {}", hs256(supabase_claims()))), Ok(user())),
            ("uppercase scheme", &fx.hs, Some(format!("BEARER {}", hs256(supabase_claims()))), Ok(user())),
            ("two spaces", &fx.hs, Some(format!("Bearer  {}", hs256(supabase_claims()))), Ok(user())),
            ("surrounding whitespace", &fx.hs, Some(format!(" Bearer {} ", hs256(supabase_claims()))), Ok(user())),
            ("audience array", &fx.hs, bearer(&hs256(claims_with(json!({ "aud": ["other", "authenticated"] })))), Ok(user())),
            ("uppercase uuid", &fx.hs, bearer(&hs256(claims_with(json!({ "sub": USER.to_uppercase() })))), Ok(user())),
            ("no iat", &fx.hs, bearer(&hs256(claims_with(json!({ "iat": null })))), Ok(user())),
            ("float exp", &fx.hs, bearer(&hs256(claims_with(json!({ "exp": (NOW + 3600) as f64 + 0.5 })))), Ok(user())),
            ("any issuer when unchecked", &fx.no_issuer, bearer(&hs256(claims_with(json!({ "iss": "elsewhere" })))), Ok(user())),
            ("no issuer when unchecked", &fx.no_issuer, bearer(&hs256(claims_with(json!({ "iss": null })))), Ok(user())),
        ]);
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn refuses_bad_headers() {
        let fx = &*FIXTURE;
        let token = hs256(supabase_claims());
        check_all(vec![
            ("missing header", &fx.hs, None, Err(AuthError::MissingHeader)),
            ("empty header", &fx.hs, Some(String::new()), Err(AuthError::MissingHeader)),
            ("blank header", &fx.hs, Some("   ".into()), Err(AuthError::MissingHeader)),
            ("basic scheme", &fx.hs, Some("Basic dXNlcjpwYXNz".into()), Err(AuthError::NotBearer)),
            ("token without scheme", &fx.hs, Some(token.clone()), Err(AuthError::NotBearer)),
            ("scheme glued to token", &fx.hs, Some(format!("Bearer{token}")), Err(AuthError::NotBearer)),
            ("tab after scheme", &fx.hs, Some(format!("Bearer\t{token}")), Err(AuthError::NotBearer)),
            ("bearer without token", &fx.hs, Some("Bearer".into()), Err(AuthError::Malformed)),
            ("bearer and a space", &fx.hs, Some("Bearer ".into()), Err(AuthError::Malformed)),
            ("two tokens", &fx.hs, Some(format!("Bearer {token} {token}")), Err(AuthError::Malformed)),
            ("token then garbage", &fx.hs, Some(format!("Bearer {token} x")), Err(AuthError::Malformed)),
            ("token then tab", &fx.hs, Some(format!("Bearer {token}\tx")), Err(AuthError::Malformed)),
            ("garbage", &fx.hs, bearer("garbage"), Err(AuthError::Malformed)),
            ("three garbage segments", &fx.hs, bearer("!!!.???.***"), Err(AuthError::Malformed)),
            ("empty segments", &fx.hs, bearer(".."), Err(AuthError::Malformed)),
            ("two segments", &fx.hs, bearer(token.rsplit_once('.').unwrap().0), Err(AuthError::Malformed)),
            ("four segments", &fx.hs, bearer(&format!("{token}.{}", b64("x"))), Err(AuthError::Malformed)),
            ("padded base64", &fx.hs, bearer(&format!("{token}=")), Err(AuthError::Malformed)),
            ("header not json", &fx.hs, bearer(&format!("{}.{}.{}", b64("nope"), b64("{}"), b64("sig"))), Err(AuthError::Malformed)),
            ("header without alg", &fx.hs, bearer(&raw_token(json!({ "typ": "JWT" }), &supabase_claims(), b"sig")), Err(AuthError::Malformed)),
            ("non-ascii", &fx.hs, bearer(&format!("é{token}")), Err(AuthError::Malformed)),
            ("header over 8 KiB", &fx.hs, bearer(&"a".repeat(MAX_TOKEN_BYTES + 1)), Err(AuthError::TooLong)),
        ]);
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn refuses_bad_tokens() {
        let fx = &*FIXTURE;
        let claims = supabase_claims();
        let alg = |name: &str| Err(AuthError::AlgorithmNotAllowed(name.into()));
        let header = |alg: &str| json!({ "alg": alg, "typ": "JWT" });
        let valid = hs256(claims.clone());
        let (signed_part, signature) = valid.rsplit_once('.').unwrap();
        let other_payload = b64(claims_with(json!({ "sub": "00000000-0000-4000-8000-000000000001" })).to_string());
        let tampered = format!("{}.{other_payload}.{signature}", signed_part.split('.').next().unwrap());
        let rsa_pem = fx.rsa.public_key().to_pem().unwrap();
        let ec_point = fx.ec.public_key().public_key().to_bytes_uncompressed();
        let padding = "x".repeat(MAX_TOKEN_BYTES);
        check_all(vec![
            // Algorithm pinning.
            ("alg none", &fx.both, bearer(&raw_token(header("none"), &claims, b"")), alg("none")),
            ("alg NONE", &fx.both, bearer(&raw_token(header("NONE"), &claims, b"")), alg("NONE")),
            ("alg empty", &fx.both, bearer(&raw_token(header(""), &claims, b"")), alg("")),
            ("alg lowercase hs256", &fx.both, bearer(&raw_token(header("hs256"), &claims, b"sig")), alg("hs256")),
            ("hs384", &fx.both, bearer(&raw_token(header("HS384"), &claims, &[7; 48])), alg("HS384")),
            ("hs512 with the right secret", &fx.both, bearer(&HS512Key::from_bytes(SECRET.as_bytes()).authenticate(jwt_claims(claims.clone())).unwrap()), alg("HS512")),
            ("ps256", &fx.both, bearer(&raw_token(header("PS256"), &claims, &[7; 256])), alg("PS256")),
            ("es384", &fx.both, bearer(&raw_token(header("ES384"), &claims, &[7; 96])), alg("ES384")),
            ("eddsa", &fx.both, bearer(&raw_token(header("EdDSA"), &claims, &[7; 64])), alg("EdDSA")),
            ("long alg is cut", &fx.both, bearer(&raw_token(header(&"A".repeat(100)), &claims, b"")), alg(&"A".repeat(MAX_LOGGED_ALGORITHM_CHARS))),
            ("hs256 without a secret", &fx.jwks, bearer(&valid), alg("HS256")),
            ("es256 without ec keys", &fx.hs, bearer(&es256(&fx.ec, claims.clone())), alg("ES256")),
            ("rs256 without rsa keys", &fx.ec_without_kid, bearer(&rs256(&fx.rsa, claims.clone())), alg("RS256")),
            // CVE-2015-9235: the public key used as an HMAC secret.
            ("hs256 keyed with rsa pem, no secret", &fx.jwks, bearer(&hs256_with(rsa_pem.as_bytes(), claims.clone())), alg("HS256")),
            ("hs256 keyed with rsa pem", &fx.both, bearer(&hs256_with(rsa_pem.as_bytes(), claims.clone())), Err(AuthError::BadSignature)),
            ("hs256 keyed with ec point", &fx.both, bearer(&hs256_with(&ec_point, claims.clone())), Err(AuthError::BadSignature)),
            ("hs256 keyed with the jwks", &fx.both, bearer(&hs256_with(fx.jwks_json.as_bytes(), claims.clone())), Err(AuthError::BadSignature)),
            // CVE-2022-21449: r = s = 0 passes a verifier that skips the range check.
            ("es256 r=s=0", &fx.jwks, bearer(&raw_token(json!({ "alg": "ES256", "typ": "JWT", "kid": "ec-1" }), &claims, &[0; 64])), Err(AuthError::BadSignature)),
            ("es256 short signature", &fx.jwks, bearer(&raw_token(json!({ "alg": "ES256", "kid": "ec-1" }), &claims, &[1; 10])), Err(AuthError::BadSignature)),
            ("es256 empty signature", &fx.jwks, bearer(&raw_token(json!({ "alg": "ES256", "kid": "ec-1" }), &claims, b"")), Err(AuthError::BadSignature)),
            ("rs256 short signature", &fx.jwks, bearer(&raw_token(json!({ "alg": "RS256", "kid": "rsa-1" }), &claims, &[1; 10])), Err(AuthError::BadSignature)),
            // Signatures and keys.
            ("wrong secret", &fx.hs, bearer(&hs256_with(b"another-secret-of-enough-length", claims.clone())), Err(AuthError::BadSignature)),
            ("tampered payload", &fx.hs, bearer(&tampered), Err(AuthError::BadSignature)),
            ("es256 wrong key, known kid", &fx.jwks, bearer(&es256(&fx.ec_stranger, claims.clone())), Err(AuthError::BadSignature)),
            ("rs256 wrong key, known kid", &fx.jwks, bearer(&rs256(&fx.rsa_stranger, claims.clone())), Err(AuthError::BadSignature)),
            ("es256 signed by ec-2, kid ec-1", &fx.jwks, bearer(&es256(&ES256KeyPair::from_bytes(&fx.ec_second.to_bytes()).unwrap().with_key_id("ec-1"), claims.clone())), Err(AuthError::BadSignature)),
            ("es256 unknown kid", &fx.jwks, bearer(&es256(&ES256KeyPair::generate().with_key_id("ec-9"), claims.clone())), Err(AuthError::UnknownKey)),
            ("es256 no kid, two ec keys", &fx.jwks, bearer(&es256(&ES256KeyPair::from_bytes(&fx.ec.to_bytes()).unwrap(), claims.clone())), Err(AuthError::UnknownKey)),
            ("es256 with kid, jwks key without kid", &fx.ec_without_kid, bearer(&es256(&fx.ec, supabase_claims())), Err(AuthError::UnknownKey)),
            ("rs256 kid of an ec key", &fx.jwks, bearer(&rs256(&fx.rsa.clone().with_key_id("ec-1"), claims.clone())), Err(AuthError::UnknownKey)),
            // Claims.
            ("expired", &fx.hs, bearer(&hs256(claims_with(json!({ "exp": NOW - 3600, "iat": NOW - 7200 })))), Err(AuthError::Expired)),
            ("negative exp", &fx.hs, bearer(&hs256(claims_with(json!({ "exp": -1 })))), Err(AuthError::Expired)),
            ("not yet valid", &fx.hs, bearer(&hs256(claims_with(json!({ "nbf": NOW + 3600 })))), Err(AuthError::NotYetValid)),
            ("issued in the future", &fx.hs, bearer(&hs256(claims_with(json!({ "iat": NOW + 3600 })))), Err(AuthError::IssuedInFuture)),
            ("wrong audience", &fx.hs, bearer(&hs256(claims_with(json!({ "aud": "anon" })))), Err(AuthError::WrongAudience)),
            ("audience array without ours", &fx.hs, bearer(&hs256(claims_with(json!({ "aud": ["a", "b"] })))), Err(AuthError::WrongAudience)),
            ("empty audience array", &fx.hs, bearer(&hs256(claims_with(json!({ "aud": [] })))), Err(AuthError::WrongAudience)),
            ("no audience", &fx.hs, bearer(&hs256(claims_with(json!({ "aud": null })))), Err(AuthError::WrongAudience)),
            ("wrong issuer", &fx.hs, bearer(&hs256(claims_with(json!({ "iss": "https://evil.example/auth/v1" })))), Err(AuthError::WrongIssuer)),
            ("no issuer", &fx.hs, bearer(&hs256(claims_with(json!({ "iss": null })))), Err(AuthError::WrongIssuer)),
            ("no exp", &fx.hs, bearer(&hs256(claims_with(json!({ "exp": null })))), Err(AuthError::MissingExpiry)),
            ("exp as string", &fx.hs, bearer(&hs256(claims_with(json!({ "exp": "soon" })))), Err(AuthError::Malformed)),
            ("no sub", &fx.hs, bearer(&hs256(claims_with(json!({ "sub": null })))), Err(AuthError::MissingSubject)),
            ("sub not a uuid", &fx.hs, bearer(&hs256(claims_with(json!({ "sub": "ada" })))), Err(AuthError::SubjectNotUuid)),
            ("empty sub", &fx.hs, bearer(&hs256(claims_with(json!({ "sub": "" })))), Err(AuthError::SubjectNotUuid)),
            ("sub a number", &fx.hs, bearer(&hs256(claims_with(json!({ "sub": 42 })))), Err(AuthError::Malformed)),
            ("claims not an object", &fx.hs, bearer(&format!("{}.{}.{}", b64(header("HS256").to_string()), b64("[]"), b64([0; 32]))), Err(AuthError::BadSignature)),
            ("typ not jwt", &fx.hs, bearer(&raw_token(json!({ "alg": "HS256", "typ": "JWE" }), &claims, &[0; 32])), Err(AuthError::Invalid("Not a JWT token".into()))),
            ("critical header", &fx.hs, bearer(&raw_token(json!({ "alg": "HS256", "crit": ["exp"] }), &claims, &[0; 32])), Err(AuthError::Invalid("Unknown critical extension in token header".into()))),
            ("signed token over 8 KiB", &fx.hs, bearer(&hs256(claims_with(json!({ "padding": padding })))), Err(AuthError::TooLong)),
        ]);
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn applies_a_minute_of_clock_leeway() {
        let fx = &*FIXTURE;
        let token = |changes: Value| bearer(&hs256(claims_with(changes)));
        check_all(vec![
            ("expired 30 s ago", &fx.hs, token(json!({ "exp": NOW - 30, "iat": NOW - 3630 })), Ok(user())),
            ("expired 60 s ago", &fx.hs, token(json!({ "exp": NOW - 60, "iat": NOW - 3660 })), Ok(user())),
            ("expired 61 s ago", &fx.hs, token(json!({ "exp": NOW - 61, "iat": NOW - 3661 })), Err(AuthError::Expired)),
            ("expired 90 s ago", &fx.hs, token(json!({ "exp": NOW - 90, "iat": NOW - 3690 })), Err(AuthError::Expired)),
            ("nbf 30 s ahead", &fx.hs, token(json!({ "nbf": NOW + 30 })), Ok(user())),
            ("nbf 90 s ahead", &fx.hs, token(json!({ "nbf": NOW + 90 })), Err(AuthError::NotYetValid)),
            ("iat 30 s ahead", &fx.hs, token(json!({ "iat": NOW + 30 })), Ok(user())),
            ("iat 90 s ahead", &fx.hs, token(json!({ "iat": NOW + 90 })), Err(AuthError::IssuedInFuture)),
        ]);
    }

    #[test]
    fn refuses_a_clock_out_of_range_without_panicking() {
        let fx = &*FIXTURE;
        let token = hs256(supabase_claims());
        for now in [0, CLOCK_LEEWAY_SECONDS - 1, u32::MAX as u64, u64::MAX] {
            let result = fx.hs.verify_token(&token, now);
            assert!(
                matches!(result, Err(AuthError::Invalid(_))),
                "now {now}: {result:?}"
            );
        }
    }

    #[test]
    fn accepts_tokens_up_to_8_kib() {
        let fx = &*FIXTURE;
        let base_length = hs256(claims_with(json!({ "padding": "" }))).len();
        // Base64 grows in steps of 4 characters per 3 bytes of JSON.
        let padding = "x".repeat((MAX_TOKEN_BYTES - base_length) * 3 / 4);
        let token = hs256(claims_with(json!({ "padding": padding })));
        assert!(
            token.len() <= MAX_TOKEN_BYTES && token.len() > MAX_TOKEN_BYTES - 4,
            "{}",
            token.len()
        );
        assert_eq!(fx.hs.verify_token(&token, NOW), Ok(user()));
    }

    #[test]
    fn never_panics_on_truncated_or_altered_tokens() {
        let fx = &*FIXTURE;
        for token in [hs256(supabase_claims()), es256(&fx.ec, supabase_claims())] {
            for end in 0..token.len() {
                assert!(
                    fx.both.verify_token(&token[..end], NOW).is_err(),
                    "prefix of {end}"
                );
            }
            for (index, original) in token.char_indices() {
                for replacement in ['A', '.', '-', '_', '=', ' '] {
                    if original == replacement {
                        continue;
                    }
                    let mut altered = token.clone();
                    altered.replace_range(index..index + 1, replacement.encode_utf8(&mut [0; 4]));
                    assert!(
                        fx.both.verify_token(&altered, NOW).is_err(),
                        "{replacement} at {index}"
                    );
                }
            }
        }
    }

    #[test]
    fn config_errors() {
        let check = |name: &str, secret: Option<&str>, jwks: Option<&str>, expected: &str| {
            let actual = match AuthConfig::new(secret, jwks, "authenticated", None) {
                Ok(_) => "ok".to_owned(),
                Err(AuthConfigError::NoKeys) => "no keys".to_owned(),
                Err(AuthConfigError::Jwks(_)) => "jwks".to_owned(),
                Err(AuthConfigError::WeakSecret) => "weak secret".to_owned(),
            };
            assert_eq!(actual, expected, "case: {name}");
        };
        let good_ec = jwks(&[ec_jwk(&FIXTURE.ec, Some("ec-1"))]);
        check("nothing", None, None, "no keys");
        check("empty strings", Some(""), Some(""), "no keys");
        check("blank strings", Some("  "), Some(" \n"), "no keys");
        check("short secret", Some("eleven-byte"), None, "weak secret");
        check("twelve-byte secret", Some("twelve-bytes"), None, "weak secret");
        check("31-byte secret", Some(&"s".repeat(31)), None, "weak secret");
        check("32-byte secret", Some(&"s".repeat(32)), None, "ok");
        check("short secret beside jwks", Some("twelve-bytes"), Some(&good_ec), "weak secret");
        check("secret", Some(SECRET), None, "ok");
        check("jwks", None, Some(&good_ec), "ok");
        check("jwks not json", None, Some("{keys"), "jwks");
        check("jwks without keys", None, Some("{}"), "jwks");
        check(
            "jwks keys not an array",
            None,
            Some(r#"{"keys": {}}"#),
            "jwks",
        );
        check(
            "jwks key not an object",
            None,
            Some(r#"{"keys": [1]}"#),
            "jwks",
        );
        check(
            "jwks a bare key",
            None,
            Some(&ec_jwk(&FIXTURE.ec, None).to_string()),
            "jwks",
        );
        check(
            "malformed jwks beside a secret",
            Some(SECRET),
            Some("[]"),
            "jwks",
        );
        check("empty jwks", None, Some(r#"{"keys": []}"#), "no keys");
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn skips_unusable_jwks_keys() {
        let check = |name: &str, key: Value, usable: bool| {
            let result = AuthConfig::new(None, Some(&jwks(&[key])), "", None);
            assert_eq!(result.is_ok(), usable, "case: {name}: {result:?}");
        };
        let fx = &*FIXTURE;
        let ec = ec_jwk(&fx.ec, Some("ec-1"));
        let rsa = rsa_jwk(&fx.rsa, "rsa-1");
        let with = |key: &Value, name: &str, value: Value| {
            let mut key = key.clone();
            if value.is_null() {
                key.as_object_mut().unwrap().remove(name);
            } else {
                key[name] = value;
            }
            key
        };
        let padded = |member: &str| {
            let bytes = JWKS_BASE64.decode(ec[member].as_str().unwrap()).unwrap();
            json!(base64::engine::general_purpose::URL_SAFE.encode(bytes))
        };
        let rsa_1024 = {
            let components = RS256KeyPair::generate(2048).unwrap().public_key().to_components();
            json!({ "kty": "RSA", "n": b64(&components.n[..128]), "e": b64(&components.e) })
        };
        check("ec", ec.clone(), true);
        check("ec without alg, use, kid", with(&with(&with(&ec, "alg", Value::Null), "use", Value::Null), "kid", Value::Null), true);
        check("ec with padded members", with(&with(&ec, "x", padded("x")), "y", padded("y")), true);
        check("ec alg RS256", with(&ec, "alg", json!("RS256")), false);
        check("ec alg ES384", with(&ec, "alg", json!("ES384")), false);
        check("ec use enc", with(&ec, "use", json!("enc")), false);
        check("ec crv P-384", with(&ec, "crv", json!("P-384")), false);
        check("ec no crv", with(&ec, "crv", Value::Null), false);
        check("ec no y", with(&ec, "y", Value::Null), false);
        check("ec short x", with(&ec, "x", json!(b64([1; 31]))), false);
        check("ec x not base64", with(&ec, "x", json!("!!")), false);
        check("ec point off the curve", with(&ec, "y", json!(b64([1; 32]))), false);
        check("ec x a number", with(&ec, "x", json!(7)), false);
        check("rsa", rsa.clone(), true);
        check("rsa without alg", with(&rsa, "alg", Value::Null), true);
        check("rsa alg RS512", with(&rsa, "alg", json!("RS512")), false);
        check("rsa alg PS256", with(&rsa, "alg", json!("PS256")), false);
        check("rsa use enc", with(&rsa, "use", json!("enc")), false);
        check("rsa 1024 bits", rsa_1024, false);
        check("rsa no e", with(&rsa, "e", Value::Null), false);
        check("rsa e of one", with(&rsa, "e", json!(b64([1]))), false);
        check("oct", json!({ "kty": "oct", "k": b64(SECRET), "alg": "HS256" }), false);
        check("okp", json!({ "kty": "OKP", "crv": "Ed25519", "x": b64([1; 32]) }), false);
        check("no kty", with(&ec, "kty", Value::Null), false);
        check("empty object", json!({}), false);
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn accepts_fetched_keys_beside_configured_ones() {
        let fx = &*FIXTURE;
        let fetched = KeySet::parse(&jwks(&[ec_jwk(&fx.ec_second, Some("ec-2")), rsa_jwk(&fx.rsa, "rsa-1")])).unwrap();
        let url_only = AuthConfig::with_key_url(None, None, "", Some(ISSUER)).unwrap();
        let secret_and_url = AuthConfig::with_key_url(Some(SECRET), None, "", Some(ISSUER)).unwrap();
        let pasted_ec1 = AuthConfig::with_key_url(None, Some(&jwks(&[ec_jwk(&fx.ec, Some("ec-1"))])), "", Some(ISSUER)).unwrap();
        let stranger_as_ec2 = ES256KeyPair::from_bytes(&fx.ec_stranger.to_bytes()).unwrap().with_key_id("ec-2");
        let check = |name: &str, config: &AuthConfig, fetched: Option<&KeySet>, token: &str, expected: Result<VerifiedUser, AuthError>| {
            assert_eq!(config.verify_bearer_with(fetched, bearer(token).as_deref(), NOW), expected, "case: {name}");
        };
        let ec2 = es256(&fx.ec_second, supabase_claims());
        let ec1 = es256(&fx.ec, supabase_claims());
        check("fetched es256", &url_only, Some(&fetched), &ec2, Ok(user()));
        check("fetched rs256", &url_only, Some(&fetched), &rs256(&fx.rsa, supabase_claims()), Ok(user()));
        check("no set fetched yet", &url_only, None, &ec2, Err(AuthError::AlgorithmNotAllowed("ES256".into())));
        check("kid not in the fetched set", &url_only, Some(&fetched), &ec1, Err(AuthError::UnknownKey));
        check("pasted key beside a fetched set", &pasted_ec1, Some(&fetched), &ec1, Ok(user()));
        check("fetched key beside a pasted set", &pasted_ec1, Some(&fetched), &ec2, Ok(user()));
        check("secret beside a fetched set", &secret_and_url, Some(&fetched), &hs256(supabase_claims()), Ok(user()));
        check("wrong key under a fetched kid", &url_only, Some(&fetched), &es256(&stranger_as_ec2, supabase_claims()), Err(AuthError::BadSignature));
        check("expired with a fetched key", &url_only, Some(&fetched), &es256(&fx.ec_second, claims_with(json!({ "exp": NOW - 3600 }))), Err(AuthError::Expired));
        assert!(AuthConfig::new(None, None, "", None).is_err(), "without a URL, no key is an error");
        assert!(matches!(AuthConfig::with_key_url(None, Some("{keys"), "", None), Err(AuthConfigError::Jwks(_))));
    }

    #[test]
    fn only_a_missing_asymmetric_key_wants_fresh_keys() {
        let wants = |error: AuthError| error.wants_fresh_keys();
        assert!(wants(AuthError::UnknownKey));
        assert!(wants(AuthError::AlgorithmNotAllowed("ES256".into())));
        assert!(wants(AuthError::AlgorithmNotAllowed("RS256".into())));
        assert!(!wants(AuthError::AlgorithmNotAllowed("HS256".into())));
        assert!(!wants(AuthError::AlgorithmNotAllowed("none".into())));
        assert!(!wants(AuthError::BadSignature));
        assert!(!wants(AuthError::Expired));
        assert!(!wants(AuthError::Malformed));
    }

    #[test]
    fn a_key_set_parses_as_auth_jwks_does() {
        let fx = &*FIXTURE;
        let set = KeySet::parse(&fx.jwks_json).unwrap();
        assert!(!set.is_empty());
        let debug = format!("{set:?}");
        assert!(debug.contains("ec-1") && debug.contains("ec-2") && debug.contains("rsa-1"), "{debug}");
        assert!(KeySet::parse(r#"{"keys": []}"#).unwrap().is_empty());
        assert!(KeySet::parse(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap().is_empty());
        assert!(KeySet::parse("[]").is_err());
        assert!(KeySet::empty().is_empty());
    }

    #[test]
    fn oct_jwks_key_does_not_enable_hs256() {
        let fx = &*FIXTURE;
        let document = jwks(&[
            json!({ "kty": "oct", "kid": "oct-1", "k": b64("an-attacker-known-secret"), "alg": "HS256" }),
            ec_jwk(&fx.ec, Some("ec-1")),
        ]);
        let config = AuthConfig::new(None, Some(&document), "", None).unwrap();
        let token = hs256_with(b"an-attacker-known-secret", supabase_claims());
        check(
            "oct key",
            &config,
            bearer(&token).as_deref(),
            NOW,
            Err(AuthError::AlgorithmNotAllowed("HS256".into())),
        );
        assert!(
            format!("{config:?}").contains("skipped_jwks_keys: 1"),
            "{config:?}"
        );
    }

    #[test]
    fn debug_redacts_the_secret() {
        let debug = format!("{:?}", FIXTURE.both);
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");
        assert!(debug.contains("ec-1") && debug.contains("rsa-1"), "{debug}");
        let debug = format!("{:?}", FIXTURE.jwks);
        assert!(debug.contains("hs256_secret: None"), "{debug}");
    }

    #[test]
    fn empty_audience_means_authenticated() {
        let config = AuthConfig::new(Some(SECRET), None, "", None).unwrap();
        let token = hs256(supabase_claims());
        check(
            "default audience",
            &config,
            bearer(&token).as_deref(),
            NOW,
            Ok(user()),
        );
        let config = AuthConfig::new(Some(SECRET), None, "mobile", None).unwrap();
        check(
            "custom audience",
            &config,
            bearer(&token).as_deref(),
            NOW,
            Err(AuthError::WrongAudience),
        );
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn cleans_up_display_names() {
        let longest = "ş".repeat(MAX_DISPLAY_NAME_CHARS);
        let some = |name: &str| Some(name.to_owned());
        let cases: Vec<(&str, String, Option<String>)> = vec![
            ("plain", "Ada Lovelace".into(), some("Ada Lovelace")),
            ("turkish", "Ayşe Çağlar".into(), some("Ayşe Çağlar")),
            ("trimmed", "  Ada \t".into(), some("Ada")),
            ("inner whitespace collapsed", "Ada \n\t  Lovelace".into(), some("Ada Lovelace")),
            ("nul and escape become spaces", "Ada\u{0}\u{1b}[31mLovelace".into(), some("Ada [31mLovelace")),
            ("del and c1 controls", "Ada\u{7f}\u{85}\u{9b}Lovelace".into(), some("Ada Lovelace")),
            ("line and paragraph separators", "Ada\u{2028}Lovelace\u{2029}".into(), some("Ada Lovelace")),
            ("no-break space", "Ada\u{a0}Lovelace".into(), some("Ada Lovelace")),
            ("right-to-left override dropped", "Ada\u{202e}ecalevoL".into(), some("AdaecalevoL")),
            ("isolates and marks dropped", "\u{2067}Ada\u{2069}\u{200f}\u{200e}".into(), some("Ada")),
            ("zero-width space, word joiner, bom dropped", "\u{feff}A\u{200b}d\u{2060}a".into(), some("Ada")),
            ("zero-width joiner kept in an emoji", "Ada 👩\u{200d}💻".into(), some("Ada 👩\u{200d}💻")),
            ("100 characters kept", longest.clone(), Some(longest.clone())),
            ("101 characters cut to 100", format!("{longest}ş"), Some(longest.clone())),
            ("a cut never ends on a space", format!("{} b", "a".repeat(99)), Some("a".repeat(99))),
            ("empty", "".into(), None),
            ("only whitespace", " \t\n ".into(), None),
            ("only controls and formatting", "\u{0}\u{7}\u{202e}\u{200b}".into(), None),
        ];
        for (name, raw, expected) in cases {
            let actual = DisplayName::parse(&raw);
            assert_eq!(actual.as_ref().map(DisplayName::as_str), expected.as_deref(), "case: {name}");
        }
    }

    // One case per line reads as a table; rustfmt would split each over five.
    #[rustfmt::skip]
    #[test]
    fn carries_the_display_name_from_the_claims() {
        let fx = &*FIXTURE;
        let cases: Vec<(&str, Value, Option<&str>)> = vec![
            ("supabase full_name", json!({ "user_metadata": { "full_name": "Ada Lovelace" } }), Some("Ada Lovelace")),
            ("supabase name", json!({ "user_metadata": { "name": "Ada" } }), Some("Ada")),
            ("full_name before name", json!({ "user_metadata": { "name": "Ada", "full_name": "Ada Lovelace" } }), Some("Ada Lovelace")),
            ("metadata before the top-level name", json!({ "user_metadata": { "name": "Ada" }, "name": "A. L." }), Some("Ada")),
            ("top-level name", json!({ "name": "Ada Lovelace" }), Some("Ada Lovelace")),
            ("top-level name, no metadata", json!({ "user_metadata": null, "name": "Ada" }), Some("Ada")),
            ("blank full_name falls through", json!({ "user_metadata": { "full_name": "  ", "name": "Ada" } }), Some("Ada")),
            ("full_name not a string falls through", json!({ "user_metadata": { "full_name": 7 }, "name": "Ada" }), Some("Ada")),
            ("metadata not an object", json!({ "user_metadata": "Ada", "name": "A. L." }), Some("A. L.")),
            ("cleaned up", json!({ "name": "\u{202e} Ada\nLovelace " }), Some("Ada Lovelace")),
            ("no name anywhere", json!({}), None),
            ("only blank names", json!({ "user_metadata": { "full_name": "", "name": "\u{0}" }, "name": " " }), None),
            ("a name nested elsewhere is not ours", json!({ "app_metadata": { "name": "Admin" } }), None),
            ("name not a string", json!({ "name": ["Ada"] }), None),
        ];
        for (name, changes, expected) in cases {
            let token = hs256(claims_with(changes));
            let verified = fx.hs.verify_token(&token, NOW).unwrap_or_else(|error| panic!("case: {name}: {error}"));
            assert_eq!(verified.id, user().id, "case: {name}");
            assert_eq!(verified.display_name.as_ref().map(DisplayName::as_str), expected, "case: {name}");
        }
    }
}
