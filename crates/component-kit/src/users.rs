//! The `users` table: a verified caller becomes a row on their first write.
//!
//! Nothing outside syncs users in: `push-token-register`, `call-initiate`
//! (the caller) and `live-session-start` each fold [`upsert_cte!`] into the
//! statement they already run, so knowing the user costs no round trip.

use domain::auth::VerifiedUser;

use crate::db::ParameterValue;

/// A CTE `signed_in` that makes the request's verified user a `users` row,
/// for a statement's `WITH` list; it runs whether the statement reads it or
/// not.
///
/// `$id` and `$name` are the statement's placeholders (`"$2"`, `"$6"`) for
/// the user's id and [`display_name`]. A new user gets the name or `''`; a
/// name replaces a different stored one; no name leaves the stored one, and
/// an unchanged name writes nothing. Expands to a string literal, for
/// `concat!`.
///
/// The statement sees the `users` table as it was before this CTE ran: read
/// a name the token carries from `$name` first (`COALESCE($name::text, ...)`).
#[macro_export]
macro_rules! upsert_cte {
    ($id:literal, $name:literal) => {
        concat!(
            "signed_in AS (
    INSERT INTO users AS known (id, display_name) VALUES (", $id, ", COALESCE(", $name, "::text, ''))
    ON CONFLICT (id) DO UPDATE SET display_name = EXCLUDED.display_name, updated_at = now()
    WHERE EXCLUDED.display_name <> '' AND known.display_name <> EXCLUDED.display_name
)"
        )
    };
}

/// The `$name` parameter of [`upsert_cte!`]: the token's display name, or
/// NULL when it carries none.
pub fn display_name(user: &VerifiedUser) -> ParameterValue {
    match &user.display_name {
        Some(name) => ParameterValue::Str(name.as_str().to_owned()),
        None => ParameterValue::DbNull,
    }
}
