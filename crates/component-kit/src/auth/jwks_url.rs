//! Verifying with the keys published at `auth_jwks_url`, which the auth
//! provider may rotate.
//!
//! Three tiers, cheapest first: this instance's parsed copy (no I/O, trusted
//! for `INSTANCE_COPY_SECONDS`), the shared row in `auth_jwks_cache` (one
//! statement, which may also claim the right to fetch), and the URL itself
//! (at most once a minute across instances, with a timeout and one retry). A
//! token that verifies with `auth_jwt_secret` or `auth_jwks` touches none of
//! them, and a token whose `kid` the fresh copy knows touches only the first.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use domain::auth::{AuthConfig, AuthError, KeySet, VerifiedUser};
use domain::jwks_url::{self, FailureKind, FetchFailure, FETCH_ATTEMPTS, INSTANCE_COPY_SECONDS, MAX_ANSWER_BYTES, REFETCH_INTERVAL_SECONDS};
use serde_json::json;

use crate::db::{Connection, ParameterValue, Row};
use crate::{config, db, Failure};
use crate::outbound::{self, Unanswered};

/// A pause before the one retry, so a blip can pass.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

thread_local! {
    /// This instance's parsed copy of the shared set.
    static COPY: RefCell<Option<InstanceCopy>> = const { RefCell::new(None) };
}

#[derive(Clone)]
struct InstanceCopy {
    keys: Rc<KeySet>,
    /// `auth_jwks_cache.version` of the document the keys came from.
    version: i64,
    /// When this instance last read the shared row (Unix seconds).
    read_at: u64,
}

/// `auth_jwks_max_age_seconds` and `auth_jwks_timeout_seconds`.
struct Limits {
    max_age_seconds: u64,
    /// Per attempt.
    timeout: Duration,
}

/// What the shared row said.
struct Shared {
    document: Option<String>,
    version: i64,
    claimed: bool,
    last_failure: Option<FailureKind>,
}

/// The token's verdict with the configured keys and the URL's (outer `Err`:
/// no verdict can be given, see `auth::signed_in`).
pub async fn verify(auth: &AuthConfig, url: &str, authorization: Option<&str>, now: u64) -> Result<Result<VerifiedUser, AuthError>, Failure> {
    let configured_only = auth.verify_bearer(authorization, now);
    if !wants_fresh_keys(&configured_only) {
        return Ok(configured_only);
    }
    let mut held = COPY.with(|copy| copy.borrow().clone());
    let mut verdict = held.as_ref().map(|copy| auth.verify_bearer_with(Some(&copy.keys), authorization, now));
    if let (Some(copy), Some(verdict)) = (&held, &verdict) {
        if now < copy.read_at + INSTANCE_COPY_SECONDS && !wants_fresh_keys(verdict) {
            return Ok(verdict.clone());
        }
    }

    let limits = Limits {
        max_age_seconds: config::positive_integer("auth_jwks_max_age_seconds", jwks_url::DEFAULT_MAX_AGE_SECONDS).await?,
        timeout: Duration::from_secs(config::positive_integer("auth_jwks_timeout_seconds", jwks_url::DEFAULT_TIMEOUT_SECONDS).await?),
    };
    let connection = db::connect().await?;
    // A newer shared set that still lacks the kid may be old enough to claim
    // a fetch: a second look, never more.
    for _ in 0..2 {
        let known_version = held.as_ref().map_or(-1, |copy| copy.version);
        let kid_unknown = verdict.as_ref().is_some_and(wants_fresh_keys);
        let shared = claim(&connection, url, known_version, kid_unknown, &limits).await?;
        let (current, failure) = if shared.claimed {
            refresh(&connection, url, &shared, &limits).await?
        } else {
            (shared.document.as_deref().map(|document| (document.to_owned(), shared.version)), shared.last_failure)
        };
        let Some((document, version)) = current else {
            let kind = failure.unwrap_or(FailureKind::Unreachable);
            return Err(Failure::from(kind.error_code()).with_detail(format!("no key set from auth_jwks_url yet ({kind})")));
        };
        let copy = match held.as_ref().filter(|copy| copy.version == version) {
            Some(copy) => InstanceCopy { read_at: now, ..copy.clone() },
            None => InstanceCopy { keys: Rc::new(parse_stored(&document)?), version, read_at: now },
        };
        COPY.with(|slot| *slot.borrow_mut() = Some(copy.clone()));
        let fresh_verdict = auth.verify_bearer_with(Some(&copy.keys), authorization, now);
        let look_again = wants_fresh_keys(&fresh_verdict) && !shared.claimed && version != known_version;
        verdict = Some(fresh_verdict);
        held = Some(copy);
        if !look_again {
            break;
        }
    }
    Ok(verdict.unwrap_or(configured_only))
}

fn wants_fresh_keys(verdict: &Result<VerifiedUser, AuthError>) -> bool {
    verdict.as_ref().err().is_some_and(AuthError::wants_fresh_keys)
}

async fn claim(connection: &Connection, url: &str, known_version: i64, kid_unknown: bool, limits: &Limits) -> Result<Shared, Failure> {
    let rows = db::query(
        connection,
        "SELECT jwks, version, claimed, last_failure FROM auth_jwks_claim($1, $2, $3, $4, $5)",
        vec![
            ParameterValue::Str(url.to_owned()),
            ParameterValue::Int64(known_version),
            ParameterValue::Boolean(kid_unknown),
            ParameterValue::Int32(seconds(REFETCH_INTERVAL_SECONDS)),
            ParameterValue::Int32(seconds(limits.max_age_seconds)),
        ],
    )
    .await?;
    let row = rows.first().ok_or_else(|| Failure::internal("auth_jwks_claim returned no row"))?;
    shared(row)
}

fn shared(row: &Row) -> Result<Shared, Failure> {
    let last_failure = db::get_optional::<String>(row, "last_failure")?;
    Ok(Shared {
        document: db::get_optional(row, "jwks")?,
        version: db::get(row, "version")?,
        claimed: db::get(row, "claimed")?,
        last_failure: last_failure.as_deref().and_then(FailureKind::parse),
    })
}

/// Fetches the URL (we hold the claim) and records the outcome: a good
/// document replaces the shared one, a failure only says why. Answers the
/// set to use (the new one, else the last good one) and the failure.
async fn refresh(connection: &Connection, url: &str, shared: &Shared, limits: &Limits) -> Result<(Option<(String, i64)>, Option<FailureKind>), Failure> {
    match fetch(url, limits.timeout).await {
        Ok(document) => {
            let rows = db::query(
                connection,
                "UPDATE auth_jwks_cache
                 SET jwks = $2, version = version + 1, fetched_at = now(), last_failure = NULL, last_error = NULL
                 WHERE url = $1
                 RETURNING version",
                vec![ParameterValue::Str(url.to_owned()), ParameterValue::Str(document.clone())],
            )
            .await?;
            let version = match rows.first() {
                Some(row) => db::get(row, "version")?,
                None => return Err(Failure::internal("auth_jwks_cache row vanished during a fetch")),
            };
            Ok((Some((document, version)), None))
        }
        Err(failure) => {
            log_failure(url, &failure, shared.document.is_some());
            db::execute(
                connection,
                "UPDATE auth_jwks_cache SET last_failure = $2, last_error = $3 WHERE url = $1",
                vec![
                    ParameterValue::Str(url.to_owned()),
                    ParameterValue::Str(failure.kind.as_str().to_owned()),
                    ParameterValue::Str(failure.reason.clone()),
                ],
            )
            .await?;
            let kept = shared.document.clone().map(|document| (document, shared.version));
            Ok((kept, Some(failure.kind)))
        }
    }
}

/// The URL's document once it holds a usable key, within
/// `auth_jwks_timeout_seconds` per attempt and `FETCH_ATTEMPTS` attempts.
async fn fetch(url: &str, timeout: Duration) -> Result<String, FetchFailure> {
    let mut attempt = 1;
    loop {
        let answer = outbound::get(url, &[("accept", "application/json")], timeout, MAX_ANSWER_BYTES).await;
        let outcome = match answer {
            Ok((status, body)) => jwks_url::read_answer(status, &body).map(|_| String::from_utf8_lossy(&body).into_owned()),
            Err(Unanswered::Denied) => Err(FetchFailure::misconfigured(format!(
                "{} is not in allowed_outbound_hosts: auth_jwks_url and auth_jwks_origin must agree",
                outbound::origin(url)
            ))),
            Err(Unanswered::Failed(reason)) => Err(FetchFailure::unreachable(reason)),
        };
        match outcome {
            Err(failure) if failure.worth_retrying() && attempt < FETCH_ATTEMPTS => {
                attempt += 1;
                crate::time::sleep(RETRY_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// A stored document was good when stored; parsing cannot fail unless the
/// row was edited by hand.
fn parse_stored(document: &str) -> Result<KeySet, Failure> {
    KeySet::parse(document).map_err(|error| Failure::internal(format!("auth_jwks_cache holds a bad document: {error}")))
}

/// The one line a failed fetch leaves, naming the variable to look at.
fn log_failure(url: &str, failure: &FetchFailure, kept: bool) {
    let mut fields = serde_json::Map::new();
    fields.insert("variable".into(), json!("auth_jwks_url"));
    fields.insert("url".into(), json!(url));
    fields.insert("failure".into(), json!(failure.kind.as_str()));
    fields.insert("error".into(), json!(failure.reason));
    fields.insert("kept".into(), json!(if kept { "the last good key set" } else { "no key set yet" }));
    let level = if kept { "warn" } else { "error" };
    crate::log::line(level, crate::log::component().unwrap_or("component-kit"), "auth_jwks_url fetch failed", fields);
}

fn seconds(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}
