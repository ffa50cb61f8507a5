//! `/...`: every path no other route serves, with any method.
//!
//! Spin answers an unrouted path itself with an empty 404; its most-specific
//! route rule makes this catch-all the fallback instead, so an unknown path
//! gets the JSON error contract (`NOT_FOUND`) on every runtime.

use component_kit::{serve, Failure, Incoming, Reply};
use domain::errors::ErrorCode;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    serve("not-found", component_kit::serve::ANY_METHOD, request, not_found).await
}

async fn not_found(_incoming: Incoming) -> Result<Reply, Failure> {
    Err(Failure::from(ErrorCode::NotFound))
}
