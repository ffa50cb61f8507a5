//! `GET /health`: is the service up, and can it reach its database?
//!
//! 200 `{"status":"ok","database":"ok","version"}` after a real `SELECT 1`;
//! 503 `{"status":"degraded","database":"unreachable"}` when Postgres does
//! not answer, so load balancers and operators see the outage; 500
//! `{"status":"degraded","database":"misconfigured","reason"}` when the
//! allow-list refuses `database_url` (it disagrees with `database_host`): a
//! configuration error, which waiting will not fix.

use component_kit::{db, serve, Failure, Incoming, Method, Reply, StatusCode};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("health", &[Method::GET, Method::HEAD], request, response_out, health).await
}

async fn health(_incoming: Incoming) -> Result<Reply, Failure> {
    let reachable = match db::open().await {
        Ok(connection) => db::query_one(&connection, "SELECT 1", vec![]).await.is_ok(),
        Err(db::ConnectFailure::Misconfigured(reason)) => {
            let body = json!({ "status": "degraded", "database": "misconfigured", "reason": reason, "version": VERSION });
            return Ok(Reply::new(StatusCode::INTERNAL_SERVER_ERROR, body));
        }
        Err(db::ConnectFailure::Other(_)) => false,
    };
    Ok(if reachable {
        Reply::ok(json!({ "status": "ok", "database": "ok", "version": VERSION }))
    } else {
        Reply::new(StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "degraded", "database": "unreachable", "version": VERSION }))
    })
}
