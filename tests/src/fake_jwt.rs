//! Checking a provider JWT as Apple and Google do, with `ring` rather than
//! the library our components sign with.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256};
use serde_json::Value;

/// The test keys the fakes trust (crates/domain/src/testdata, test-only).
pub const APNS_TEST_KEY_P8: &str = include_str!("../../crates/domain/src/testdata/apns_test_key.p8");
const APNS_TEST_KEY_SPKI: &[u8] = include_bytes!("../../crates/domain/src/testdata/apns_test_key.spki.der");
pub const FCM_TEST_KEY_PEM: &str = include_str!("../../crates/domain/src/testdata/fcm_test_key.pem");
const FCM_TEST_KEY_PUBLIC: &[u8] = include_bytes!("../../crates/domain/src/testdata/fcm_test_key.rsa_public.der");

/// Which signature a JWT must carry.
#[derive(Clone, Copy, Debug)]
pub enum Signer {
    /// ES256 with the APNs test key.
    Apns,
    /// RS256 with the FCM service account's test key.
    Fcm,
}

/// The header and claims of `jwt` once its signature checks out, else why not.
pub fn verify(jwt: &str, signer: Signer) -> Result<(Value, Value), String> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("not three parts".into());
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|e| format!("base64: {e}"));
    let signed = format!("{header}.{claims}");
    let signature = decode(signature)?;
    let checked = match signer {
        // The SPKI of a P-256 key ends with the 65-byte uncompressed point.
        Signer::Apns => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &APNS_TEST_KEY_SPKI[APNS_TEST_KEY_SPKI.len() - 65..])
            .verify(signed.as_bytes(), &signature),
        Signer::Fcm => UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, FCM_TEST_KEY_PUBLIC).verify(signed.as_bytes(), &signature),
    };
    checked.map_err(|_| "bad signature".to_owned())?;
    let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| format!("header: {e}"))?;
    let claims: Value = serde_json::from_slice(&decode(claims)?).map_err(|e| format!("claims: {e}"))?;
    Ok((header, claims))
}

/// The service-account JSON of the FCM test key, trading at `token_uri`.
pub fn service_account_json(project_id: &str, token_uri: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "test-key-id-1",
        "private_key": FCM_TEST_KEY_PEM,
        "client_email": format!("push@{project_id}.iam.gserviceaccount.com"),
        "client_id": "1",
        "token_uri": token_uri,
    })
    .to_string()
}
