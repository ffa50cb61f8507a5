//! The caller's identity, from `Authorization: Bearer <user JWT>`.

use domain::auth::{AuthConfig, VerifiedUser};
use domain::errors::ErrorCode;
use domain::ids::UserId;

use crate::{config, Failure, Incoming};

/// Verifies the request's bearer token and returns its user's id; see
/// [`signed_in`].
pub async fn user(incoming: &Incoming) -> Result<UserId, Failure> {
    Ok(signed_in(incoming).await?.id)
}

/// Verifies the request's bearer token against the auth variables
/// (`auth_jwt_secret`, `auth_jwks`, `auth_audience`, `auth_issuer`) and
/// returns its user with the display name the token carries.
///
/// Errors: UNAUTHORIZED for any bad token (the reason goes to the log only);
/// INTERNAL_ERROR when no verification key is configured.
pub async fn signed_in(incoming: &Incoming) -> Result<VerifiedUser, Failure> {
    let secret = config::optional("auth_jwt_secret").await;
    let jwks = config::optional("auth_jwks").await;
    let audience = config::optional("auth_audience").await.unwrap_or_else(|| "authenticated".to_owned());
    let issuer = config::optional("auth_issuer").await;
    let auth = AuthConfig::new(secret.as_deref(), jwks.as_deref(), &audience, issuer.as_deref())
        .map_err(|error| Failure::internal(format!("auth configuration: {error}")))?;
    let user = auth
        .verify_bearer(incoming.header("authorization"), crate::clock::now_unix())
        .map_err(|reason| Failure::from(ErrorCode::Unauthorized).with_detail(format!("jwt refused: {reason}")))?;
    incoming.user.set(Some(user.id));
    Ok(user)
}
