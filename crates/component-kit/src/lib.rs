//! The Spin side of every component: the ports the domain crate describes,
//! implemented on spin-sdk 6 (variables, Postgres, outbound HTTP), and the one
//! request wrapper that turns any failure into the JSON error contract.
//!
//! Components are thin: `serve` decodes the request and logs the outcome;
//! the component's handler loads facts, asks the domain, persists, answers.

pub mod auth;
pub mod calls;
pub mod clock;
pub mod config;
pub mod db;
pub mod livekit;
pub mod log;
pub mod outbound;
pub mod push;
pub mod sentry;
pub mod serve;
pub mod sql;
pub mod tokens;
pub mod users;

pub use serve::{serve, Failure, Incoming, Reply};
