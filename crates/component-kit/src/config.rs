//! Reading the component's variables (`fermyon:spin/variables@2.0.0`).
//!
//! Each name is read from the host once per instance and then kept: a
//! request asks for some names several times (a Sentry report, the push
//! settings), and a variable cannot change under a running app (Spin
//! resolves `--variable`, environment and file values at start-up). The read
//! itself is synchronous; the `async` signatures are the callers' shape.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::Failure;

thread_local! {
    /// What each name read as: its value, or the host's error in words.
    static READ: RefCell<HashMap<String, Result<String, String>>> = RefCell::new(HashMap::new());
}

/// The variable `name` as the host gave it the first time this instance asked.
async fn get(name: &str) -> Result<String, String> {
    if let Some(known) = READ.with(|read| read.borrow().get(name).cloned()) {
        return known;
    }
    let value = spin_sdk::variables::get(name).map_err(|error| format!("{error:?}"));
    READ.with(|read| read.borrow_mut().insert(name.to_owned(), value.clone()));
    value
}

/// A required variable; a missing or undeclared one is a deploy mistake (500).
pub async fn required(name: &str) -> Result<String, Failure> {
    get(name).await.map_err(|error| Failure::internal(format!("variable {name}: {error}")))
}

/// An optional variable: unset, undeclared or empty is `None`.
pub async fn optional(name: &str) -> Option<String> {
    get(name).await.ok().filter(|value| !value.trim().is_empty())
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
