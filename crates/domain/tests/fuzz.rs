//! Property tests over every parser and verifier that reads untrusted bytes:
//! arbitrary input never panics, and every refusal is a typed error. Bounded
//! by proptest's case count (512 per property), so the run stays short.

use domain::auth::AuthConfig;
use domain::errors::ErrorCode;
use domain::requests::{ActOnCall, EndSession, InitiateCall, StartSession, TokenTarget};
use domain::webhook::{self, WebhookEvent};
use proptest::prelude::*;

const SECRET: &str = "fuzz-secret-of-a-comfortable-length";

fn config() -> ProptestConfig {
    ProptestConfig { cases: 512, ..ProptestConfig::default() }
}

/// Bytes that are often almost JSON: fragments of real bodies, mutated.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop_oneof![
        Just(r#"{"sessionId":"0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a"}"#.to_owned()),
        Just(r#"{"callId":"0b7e6a52-3f43-4a8e-9d55-5f0d3c3e1c2a","action":"accept"}"#.to_owned()),
        Just(r#"{"type":"video_live","access":"paid","priceCoins":10,"title":"x"}"#.to_owned()),
        Just(r#"{"event":"participant_left","id":"EV_1","createdAt":"1","room":{"name":"live_a"},"participant":{"identity":"u","disconnectReason":"CLIENT_INITIATED"}}"#.to_owned()),
        "\\PC{0,64}",
    ];
    (fragments, proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6)).prop_map(|(text, edits)| {
        let mut bytes = text.into_bytes();
        for (position, byte) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
            } else {
                let index = position % bytes.len();
                bytes[index] = byte;
            }
        }
        bytes
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_parsers_never_panic(body in json_like()) {
        for result in [
            TokenTarget::parse(&body).err(),
            StartSession::parse(&body).err(),
            EndSession::parse(&body).err(),
            InitiateCall::parse(&body).err(),
            ActOnCall::parse(&body).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert_eq!(result.code(), ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn webhook_parser_never_panics(body in json_like()) {
        let _ = WebhookEvent::parse(&body);
    }

    #[test]
    fn webhook_verifier_refuses_arbitrary_signatures(header in "\\PC{0,300}", body in json_like(), now in any::<u64>()) {
        prop_assert!(webhook::verify(Some(&header), &body, "devkey", "secret", now).is_err());
    }

    #[test]
    fn user_jwt_verifier_refuses_arbitrary_tokens(token in "[A-Za-z0-9_.-]{0,400}", now in any::<u64>()) {
        let auth = AuthConfig::new(Some(SECRET), None, "authenticated", None).unwrap();
        let header = format!("Bearer {}", token);
        prop_assert!(auth.verify_bearer(Some(&header), now).is_err());
    }

    #[test]
    fn accept_language_never_panics(header in "\\PC{0,120}") {
        let _ = domain::errors::Language::from_accept_language(Some(&header));
    }
}
