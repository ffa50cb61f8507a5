//! The kit every end-to-end test shares: fresh databases, a host serving
//! the compiled components (our devhost, or real Spin with
//! `E2E_RUNTIME=spin`), fakes of LiveKit, user tokens, and paths to the
//! build outputs.

pub mod app;
pub mod config_check;
pub mod db;
pub mod fake_apns;
pub mod fake_fcm;
pub mod fake_jwks;
pub mod fake_jwt;
pub mod fake_livekit;
pub mod fake_push;
pub mod fake_sentry;
pub mod fake_server;
pub mod fake_tls;
pub mod fleet;
pub mod host;
pub mod load;
pub mod manifests;
pub mod paths;
mod process_tree;
pub mod schemathesis;
pub mod soak;
pub mod spin;
pub mod stack;
pub mod tcp_proxy;
pub mod users;
pub mod webhooks;
pub mod wrk;
