//! `GET /openapi.yaml`: the API description, compiled into the component so
//! that what is served is what was built (a test keeps it in step with the code).

use component_kit::{serve, Failure, Incoming, Reply};
use spin_sdk::http::{IntoResponse, Method, Request, StatusCode};
use spin_sdk::http_service;

const DOCUMENT: &str = include_str!("../../../openapi.yaml");

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    serve("openapi", &[Method::GET, Method::HEAD], request, document).await
}

async fn document(_incoming: Incoming) -> Result<Reply, Failure> {
    Ok(Reply::text(StatusCode::OK, "application/yaml; charset=utf-8", DOCUMENT.to_owned()))
}
