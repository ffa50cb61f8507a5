//! The domain core of the LiveKit backend.
//!
//! Plain Rust with no I/O: callers pass in the clock, ids and randomness, and
//! carry out the effects (SQL, HTTP) that this crate describes. It compiles for
//! the host (fast unit tests) and for `wasm32-wasip2` (the components).

mod enum_str;
pub use enum_str::Stored;

pub mod access;
pub mod apns;
pub mod auth;
pub mod call;
pub mod call_push;
pub mod cron_auth;
pub mod delivery;
pub mod errors;
pub mod fcm;
pub mod hs256;
pub mod ids;
pub mod jwks_url;
pub mod livekit_token;
pub mod presence;
pub mod push;
pub mod query_sentinel;
pub mod requests;
pub mod retention;
pub mod roomservice;
pub mod sentry;
pub mod session;
pub mod sweep;
pub mod time;
pub mod webhook;
