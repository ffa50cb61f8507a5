//! Reporting failures to Sentry when variable `sentry_dsn` is set.
//!
//! A report waits at most two seconds and never fails the request: Sentry
//! being down costs a log line, nothing more.

use std::time::Duration;

use domain::sentry::{Dsn, SentryEvent};
use serde_json::{Map, Value};

use crate::config;

const TIMEOUT: Duration = Duration::from_secs(2);
const CLIENT: &str = concat!("livekit-backend/", env!("CARGO_PKG_VERSION"));

/// What to report; the rest (ids, time, release, environment) is filled in.
pub struct Report<'a> {
    pub component: &'a str,
    pub message: &'a str,
    pub request_id: Option<&'a str>,
    pub error_code: Option<&'a str>,
    pub route: Option<&'a str>,
    pub user_id: Option<String>,
    pub extra: Map<String, Value>,
}

/// Sends `report` when `sentry_dsn` is set; does nothing otherwise.
pub async fn report(report: Report<'_>) {
    let Some(dsn_text) = config::optional("sentry_dsn").await else {
        return;
    };
    let Some(dsn) = Dsn::parse(&dsn_text) else {
        log_failure(report.component, "sentry_dsn is not a DSN");
        return;
    };
    let event = SentryEvent {
        event_id: uuid::Uuid::new_v4().simple().to_string(),
        timestamp: crate::clock::now_unix(),
        message: report.message.to_owned(),
        component: report.component.to_owned(),
        request_id: report.request_id.map(str::to_owned),
        error_code: report.error_code.map(str::to_owned),
        route: report.route.map(str::to_owned),
        user_id: report.user_id,
        release: env!("CARGO_PKG_VERSION").to_owned(),
        environment: config::optional("sentry_environment").await.unwrap_or_else(|| "production".to_owned()),
        extra: report.extra,
    };
    let auth = dsn.auth_header(CLIENT);
    let headers = [("content-type", "application/x-sentry-envelope"), ("x-sentry-auth", auth.as_str())];
    match crate::outbound::post(&dsn.envelope_url(), &headers, dsn.envelope(&event), TIMEOUT, 64 * 1024).await {
        Ok((status, _)) if (200..300).contains(&status) => {}
        Ok((status, _)) => log_failure(report.component, &format!("Sentry answered {status}")),
        // Not reported to Sentry, obviously: the log line is all there is.
        Err(crate::outbound::Unanswered::Denied) => crate::outbound::log_misconfigured(&dsn_origin(&dsn_text), "sentry_dsn and sentry_origin must agree"),
        Err(reason) => log_failure(report.component, &reason.to_string()),
    }
}

/// The DSN's `scheme://host[:port]`, without its public key.
fn dsn_origin(dsn: &str) -> String {
    crate::outbound::origin(dsn)
}

fn log_failure(component: &str, reason: &str) {
    let mut fields = Map::new();
    fields.insert("error".into(), reason.into());
    crate::log::line("warn", component, "sentry report failed", fields);
}
