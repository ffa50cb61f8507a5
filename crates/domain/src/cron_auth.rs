//! The sweep's HTTP entry, `POST /cleanup-orphans` with
//! `Authorization: Bearer <cron_secret>`: who may trigger it.

use crate::webhook::digests_equal;

/// The shortest `cron_secret` the HTTP entry accepts: a bearer secret any
/// scheduler can hold should still be out of reach of guessing (256 bits,
/// as for HS256). A shorter one refuses everyone, so a weak secret is
/// noticed rather than used.
pub const MIN_CRON_SECRET_BYTES: usize = 32;

/// Why a request may not trigger the sweep; every variant is 401 UNAUTHORIZED
/// to the caller, and the log says which.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CronAuthError {
    /// No `cron_secret` is configured: the HTTP entry is off.
    #[error("cron_secret is not set")]
    NotSet,
    /// The configured `cron_secret` is shorter than [`MIN_CRON_SECRET_BYTES`].
    #[error("cron_secret is shorter than 32 bytes: the HTTP entry refuses everyone until it is longer")]
    TooShort,
    /// The request did not present the secret.
    #[error("wrong cron secret")]
    Wrong,
}

/// Checks the request's `Authorization` against `configured` (`None` when
/// unset or blank). The two are compared as SHA-256 digests in constant
/// time: neither a differing length nor the first differing byte ends the
/// comparison early.
///
/// # Errors
///
/// One [`CronAuthError`] per reason, the configuration's before the request's.
pub fn check(configured: Option<&str>, authorization: Option<&str>) -> Result<(), CronAuthError> {
    let secret = configured.ok_or(CronAuthError::NotSet)?;
    if secret.len() < MIN_CRON_SECRET_BYTES {
        return Err(CronAuthError::TooShort);
    }
    let presented = authorization.and_then(|value| value.strip_prefix("Bearer ")).unwrap_or("");
    let presented_digest = hmac_sha256::Hash::hash(presented.as_bytes());
    let secret_digest = hmac_sha256::Hash::hash(secret.as_bytes());
    if digests_equal(&presented_digest, &secret_digest) {
        Ok(())
    } else {
        Err(CronAuthError::Wrong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-cron-secret-of-thirty-two-bytes-or-more";

    #[test]
    fn who_may_trigger_the_sweep() {
        let bearer = format!("Bearer {SECRET}");
        let short = "s".repeat(31);
        let cases: [(&str, Option<&str>, Option<&str>, Result<(), CronAuthError>); 10] = [
            ("right secret", Some(SECRET), Some(&bearer), Ok(())),
            ("not set", None, Some(&bearer), Err(CronAuthError::NotSet)),
            ("31 bytes, presented", Some(&short), Some(&format!("Bearer {short}")), Err(CronAuthError::TooShort)),
            ("32 bytes", Some(&SECRET[..32]), Some(&format!("Bearer {}", &SECRET[..32])), Ok(())),
            ("no header", Some(SECRET), None, Err(CronAuthError::Wrong)),
            ("empty bearer", Some(SECRET), Some("Bearer "), Err(CronAuthError::Wrong)),
            ("other scheme", Some(SECRET), Some(&format!("Basic {SECRET}")), Err(CronAuthError::Wrong)),
            ("a prefix", Some(SECRET), Some(&bearer[..bearer.len() - 1]), Err(CronAuthError::Wrong)),
            ("longer", Some(SECRET), Some(&format!("{bearer}x")), Err(CronAuthError::Wrong)),
            ("one byte off", Some(SECRET), Some(&bearer.replace("cron", "cran")), Err(CronAuthError::Wrong)),
        ];
        for (name, configured, authorization, expected) in cases {
            assert_eq!(check(configured, authorization), expected, "{name}");
        }
    }
}
