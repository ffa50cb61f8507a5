//! The Spin side of every component: the ports the domain crate describes,
//! implemented on spin-sdk 5 and wasi:http 0.2 (variables, Postgres through
//! our own `spin:postgres@4.2.0` bindings, outbound HTTP), and the one
//! request wrapper that turns any failure into the JSON error contract.
//!
//! Components are thin: `serve` decodes the request and logs the outcome;
//! the component's handler loads facts, asks the domain, persists, answers.
//! Everything async here runs on spin-executor (`spin_sdk::http::run`), which
//! blocks in `wasi:io/poll` on every pending pollable at once; only
//! synchronous imports are used.

pub mod auth;
pub mod body;
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
pub mod time;
pub mod tokens;
pub mod users;

pub use http::{Method, StatusCode};
pub use serve::{after_answer, serve, Failure, Incoming, Reply};
