//! `GET /openapi.yaml`: the API description, compiled into the component so
//! that what is served is what was built (a test keeps it in step with the code).

use http_body_util::Full;
use spin_sdk::http::{IntoResponse, Method, Request, StatusCode};
use spin_sdk::http_service;

const DOCUMENT: &str = include_str!("../../../openapi.yaml");

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    let (status, body) = if request.method() == Method::GET || request.method() == Method::HEAD {
        (StatusCode::OK, DOCUMENT.to_owned())
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"success":false,"errorCode":"METHOD_NOT_ALLOWED","error":"Bu istek yöntemi desteklenmiyor","retryable":false}"#.to_owned(),
        )
    };
    let content_type = if status == StatusCode::OK { "application/yaml; charset=utf-8" } else { "application/json; charset=utf-8" };
    http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(bytes::Bytes::from(body)))
        .unwrap_or_else(|_| http::Response::new(Full::new(bytes::Bytes::new())))
}
