//! Reading the component's variables (`spin:variables`).

use crate::Failure;

/// A required variable; a missing or undeclared one is a deploy mistake (500).
pub async fn required(name: &str) -> Result<String, Failure> {
    spin_sdk::variables::get(name)
        .await
        .map_err(|error| Failure::internal(format!("variable {name}: {error:?}")))
}

/// An optional variable: unset, undeclared or empty is `None`.
pub async fn optional(name: &str) -> Option<String> {
    spin_sdk::variables::get(name).await.ok().filter(|value| !value.trim().is_empty())
}

/// A positive integer variable with a default when unset.
pub async fn positive_integer(name: &str, default: u64) -> Result<u64, Failure> {
    match optional(name).await {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(value) if value > 0 => Ok(value),
            _ => Err(Failure::internal(format!("variable {name} must be a positive integer, got {text:?}"))),
        },
    }
}
