//! Every end-to-end suite in one test binary: each links wasmtime and the host,
//! so one binary links once. A new suite is a module here, not a new file in
//! `tests/tests/`. Run one with `cargo test -p e2e --test e2e <module>::`.

mod answers;
mod auth;
mod calls;
mod deploy_manifests;
mod devhost;
mod fake_livekit;
mod first_write;
mod health;
mod hostile_input;
mod live_session;
mod logs;
mod manifest_without_cron;
mod migrate;
mod misconfigured;
mod openapi;
mod openapi_fuzz;
mod outage;
mod postgres_statements;
mod postgres_tls;
mod push_providers;
mod push_token;
mod scale_out;
mod sentry;
mod soak;
mod sweep;
mod sweep_cadence;
mod token;
mod webhook;
mod webhook_replay;
