//! SQL text quoting the domain's stored names (states, end reasons), so no
//! component writes one of them by hand. Only fixed strings from the domain
//! are quoted here, never input.

use domain::Stored;

/// `'a'`.
pub fn literal(value: impl Stored) -> String {
    format!("'{}'", value.stored())
}

/// `'a', 'b'`, for `IN (...)`.
pub fn list<T: Stored>(values: &[T]) -> String {
    values.iter().map(|value| literal(*value)).collect::<Vec<_>>().join(", ")
}
