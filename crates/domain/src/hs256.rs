//! Compact HS256 JWS, for LiveKit's API secret.
//!
//! LiveKit's dev server uses a 6-byte secret (`devkey: secret`), which
//! jwt-simple refuses as a weak key, so LiveKit tokens and webhook signatures
//! are signed and checked here. The user JWTs go through jwt-simple.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac_sha256::HMAC;
use serde::Serialize;

/// Why a compact HS256 token was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Hs256Error {
    #[error("not a three-part compact JWS")]
    Malformed,
    #[error("the header is not HS256")]
    NotHs256,
    #[error("the signature does not match")]
    BadSignature,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Signs `claims` (serialised as JSON) with `secret`.
pub fn sign(claims: &impl Serialize, secret: &[u8]) -> Result<String, serde_json::Error> {
    let payload = serde_json::to_vec(claims)?;
    let signing_input = format!("{}.{}", URL_SAFE_NO_PAD.encode(HEADER), URL_SAFE_NO_PAD.encode(payload));
    let signature = HMAC::mac(signing_input.as_bytes(), secret);
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// Checks the header says HS256 and the signature matches (in constant time);
/// returns the raw claims JSON. Claims are not interpreted here.
pub fn verify(token: &str, secret: &[u8]) -> Result<Vec<u8>, Hs256Error> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Hs256Error::Malformed);
    };
    let header_json = URL_SAFE_NO_PAD.decode(header).map_err(|_| Hs256Error::Malformed)?;
    let header_value: serde_json::Value = serde_json::from_slice(&header_json).map_err(|_| Hs256Error::Malformed)?;
    if header_value.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
        return Err(Hs256Error::NotHs256);
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| Hs256Error::Malformed)?;
    let Ok(signature) = <[u8; 32]>::try_from(signature.as_slice()) else {
        return Err(Hs256Error::BadSignature);
    };
    let signing_input_len = header.len() + 1 + payload.len();
    if !HMAC::verify(&token.as_bytes()[..signing_input_len], secret, &signature) {
        return Err(Hs256Error::BadSignature);
    }
    URL_SAFE_NO_PAD.decode(payload).map_err(|_| Hs256Error::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let token = sign(&serde_json::json!({"sub": "a"}), b"secret").unwrap();
        assert_eq!(verify(&token, b"secret").unwrap(), br#"{"sub":"a"}"#);
        assert_eq!(verify(&token, b"secreT"), Err(Hs256Error::BadSignature));
        let (head, _) = token.rsplit_once('.').unwrap();
        assert_eq!(verify(&format!("{head}.AAAA"), b"secret"), Err(Hs256Error::BadSignature));
        assert_eq!(verify(head, b"secret"), Err(Hs256Error::Malformed));
        assert_eq!(verify(&format!("{token}.x"), b"secret"), Err(Hs256Error::Malformed));
        assert_eq!(verify("", b"secret"), Err(Hs256Error::Malformed));
        let none = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(verify(&none, b"secret"), Err(Hs256Error::NotHs256));
        // A changed payload breaks the signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(r#"{"sub":"b"}"#);
        parts[1] = &other;
        assert_eq!(verify(&parts.join("."), b"secret"), Err(Hs256Error::BadSignature));
    }
}
