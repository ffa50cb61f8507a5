//! User JWTs as the app's auth provider (Supabase-style) issues them.

use jwt_simple::prelude::*;

/// The HS256 secret the test apps verify user tokens with.
pub const AUTH_SECRET: &str = "test-auth-secret-with-at-least-32-bytes!";

/// A new random user id.
pub fn new_user() -> uuid::Uuid {
    uuid::Uuid::new_v4()
}

/// A valid access token for `user`: `aud` = authenticated, one hour.
pub fn token(user: uuid::Uuid) -> String {
    token_with(user, |claims| claims)
}

/// A token for `user` whose claims `adjust` may change before signing.
pub fn token_with(user: uuid::Uuid, adjust: impl FnOnce(JWTClaims<serde_json::Value>) -> JWTClaims<serde_json::Value>) -> String {
    let claims = Claims::with_custom_claims(serde_json::json!({"role": "authenticated", "email": "u@example.com"}), Duration::from_hours(1))
        .with_subject(user.to_string())
        .with_audience("authenticated");
    HS256Key::from_bytes(AUTH_SECRET.as_bytes())
        .authenticate(adjust(claims))
        .expect("signing a test token")
}

/// `Bearer <token>` for `user`.
pub fn bearer(user: uuid::Uuid) -> String {
    format!("Bearer {}", token(user))
}
