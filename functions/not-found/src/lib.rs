//! `/...`: every path no other route serves, with any method.
//!
//! Spin answers an unrouted path itself with an empty 404; its most-specific
//! route rule makes this catch-all the fallback instead, so an unknown path
//! gets the JSON error contract (`NOT_FOUND`) on every runtime.

use component_kit::{serve, Failure, Incoming, Reply};
use domain::errors::ErrorCode;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("not-found", component_kit::serve::ANY_METHOD, request, response_out, not_found).await
}

async fn not_found(_incoming: Incoming) -> Result<Reply, Failure> {
    Err(Failure::from(ErrorCode::NotFound))
}
