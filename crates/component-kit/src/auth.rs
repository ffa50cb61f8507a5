//! The caller's identity, from `Authorization: Bearer <user JWT>`.

mod jwks_url;

use std::cell::RefCell;
use std::rc::Rc;

use domain::auth::{AuthConfig, VerifiedUser};
use domain::errors::ErrorCode;
use domain::ids::UserId;

use crate::{config, Failure, Incoming};

thread_local! {
    /// The verification rules built from this instance's variables, which
    /// cannot change under a running app (see `config`).
    static CONFIGURED: RefCell<Option<Rc<AuthConfig>>> = const { RefCell::new(None) };
}

/// Verifies the request's bearer token and returns its user's id; see
/// [`signed_in`].
pub async fn user(incoming: &Incoming) -> Result<UserId, Failure> {
    Ok(signed_in(incoming).await?.id)
}

/// Verifies the request's bearer token against the auth variables
/// (`auth_jwt_secret`, `auth_jwks`, the keys at `auth_jwks_url`,
/// `auth_audience`, `auth_issuer`) and returns its user with the display name
/// the token carries. Keys from `auth_jwks` and from the URL are both
/// accepted.
///
/// Errors: UNAUTHORIZED for any bad token (the reason goes to the log only);
/// INTERNAL_ERROR when no verification key is configured; for a token that
/// needs the URL's keys while no good set was ever fetched, INTERNAL_ERROR
/// (the URL answers but not with keys, or the allow-list refuses it) or
/// SERVICE_UNAVAILABLE (it does not answer); SERVICE_UNAVAILABLE when the
/// database holding the shared set is unreachable.
pub async fn signed_in(incoming: &Incoming) -> Result<VerifiedUser, Failure> {
    let key_url = config::optional("auth_jwks_url").await;
    let auth = configured(key_url.is_some()).await?;
    let authorization = incoming.header("authorization");
    let now = crate::clock::now_unix();
    let verdict = match key_url {
        None => auth.verify_bearer(authorization, now),
        Some(url) => jwks_url::verify(&auth, url.trim(), authorization, now).await?,
    };
    let user = verdict.map_err(|reason| Failure::from(ErrorCode::Unauthorized).with_detail(format!("jwt refused: {reason}")))?;
    incoming.user.set(Some(user.id));
    Ok(user)
}

async fn configured(keys_by_url: bool) -> Result<Rc<AuthConfig>, Failure> {
    if let Some(auth) = CONFIGURED.with(|configured| configured.borrow().clone()) {
        return Ok(auth);
    }
    let secret = config::optional("auth_jwt_secret").await;
    let jwks = config::optional("auth_jwks").await;
    let audience = config::optional("auth_audience").await.unwrap_or_else(|| "authenticated".to_owned());
    let issuer = config::optional("auth_issuer").await;
    let built = if keys_by_url {
        AuthConfig::with_key_url(secret.as_deref(), jwks.as_deref(), &audience, issuer.as_deref())
    } else {
        AuthConfig::new(secret.as_deref(), jwks.as_deref(), &audience, issuer.as_deref())
    };
    let auth = Rc::new(built.map_err(|error| Failure::internal(format!("auth configuration: {error}")))?);
    CONFIGURED.with(|configured| *configured.borrow_mut() = Some(auth.clone()));
    Ok(auth)
}
