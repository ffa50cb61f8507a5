//! `GET /openapi.yaml`: the API description, compiled into the component so
//! that what is served is what was built (a test keeps it in step with the code).

use component_kit::{serve, Failure, Incoming, Method, Reply, StatusCode};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

const DOCUMENT: &str = include_str!("../../../openapi.yaml");

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("openapi", &[Method::GET, Method::HEAD], request, response_out, document).await
}

async fn document(_incoming: Incoming) -> Result<Reply, Failure> {
    Ok(Reply::text(StatusCode::OK, "application/yaml; charset=utf-8", DOCUMENT.to_owned()))
}
