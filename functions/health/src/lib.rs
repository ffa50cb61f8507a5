//! `GET /health`: is the service up, and can it reach its database?
//!
//! 200 `{"status":"ok","database":"ok","version"}` after a real `SELECT 1`;
//! 503 `{"status":"degraded","database":"unreachable"}` when Postgres does
//! not answer, so load balancers and operators see the outage.

use spin_sdk::http::{IntoResponse, Json, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::Connection;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[http_service]
async fn health(request: Request) -> impl IntoResponse {
    if request.method() != spin_sdk::http::Method::GET && request.method() != spin_sdk::http::Method::HEAD {
        return json(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"success": false, "errorCode": "METHOD_NOT_ALLOWED", "error": "use GET", "retryable": false}),
        );
    }
    match database_answers().await {
        Ok(()) => json(
            StatusCode::OK,
            serde_json::json!({"status": "ok", "database": "ok", "version": VERSION}),
        ),
        Err(reason) => {
            eprintln!("{}", serde_json::json!({"level": "warn", "component": "health", "msg": "database unreachable", "error": reason}));
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({"status": "degraded", "database": "unreachable", "version": VERSION}),
            )
        }
    }
}

async fn database_answers() -> Result<(), String> {
    let address = spin_sdk::variables::get("database_url")
        .await
        .map_err(|e| format!("database_url: {e:?}"))?;
    let connection = Connection::open(address).await.map_err(|e| format!("{e:?}"))?;
    let rows = connection
        .query("SELECT 1", vec![])
        .await
        .map_err(|e| format!("{e:?}"))?
        .collect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if rows.len() == 1 {
        Ok(())
    } else {
        Err(format!("SELECT 1 returned {} rows", rows.len()))
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> (StatusCode, Json<serde_json::Value>) {
    (status, Json(body))
}
