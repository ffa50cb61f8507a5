//! What the host answers itself when a component cannot: a body over the
//! limit, a trap, a timeout. The answers follow the app's JSON error
//! contract (`errorCode`, Turkish by default, English by `Accept-Language`,
//! `x-request-id`) so a client cannot tell who answered. The host knows
//! nothing of the app, so the texts live here; a test keeps them equal to
//! the app's table.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};

use crate::http::ResponseBody;

/// A failure the host answers for the component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The request body could not be read.
    InvalidRequest,
    /// The request body is over the host's limit.
    PayloadTooLarge,
    /// The component trapped, failed to instantiate, or has no handler.
    Internal,
    /// The component did not answer within the request timeout.
    Timeout,
}

/// The language of a host answer: `en` when `Accept-Language` ranks it
/// above `tr` (by q-value, then order), `tr` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    Tr,
    En,
}

/// What a host answer takes from the request.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub language: Language,
    pub request_id: String,
}

impl HostError {
    /// The app's `errorCode`.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::Internal => "INTERNAL_ERROR",
            Self::Timeout => "TIMEOUT",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Whether a client may try again (with backoff).
    pub fn retryable(self) -> bool {
        matches!(self, Self::Internal | Self::Timeout)
    }

    pub fn message(self, language: Language) -> &'static str {
        match (self, language) {
            (Self::InvalidRequest, Language::Tr) => "Geçersiz istek",
            (Self::InvalidRequest, Language::En) => "Invalid request",
            (Self::PayloadTooLarge, Language::Tr) => "İstek çok büyük",
            (Self::PayloadTooLarge, Language::En) => "The request is too large",
            (Self::Internal, Language::Tr) => "Bir hata oluştu, tekrar deneyin",
            (Self::Internal, Language::En) => "Something went wrong, please try again",
            (Self::Timeout, Language::Tr) => "İstek zaman aşımına uğradı, tekrar deneyin",
            (Self::Timeout, Language::En) => "The request timed out, please try again",
        }
    }
}

impl Language {
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for entry in header.unwrap_or("").split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let language = match tag.split('-').next().unwrap_or("") {
                "en" => Self::En,
                "tr" => Self::Tr,
                _ => continue,
            };
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(|q| q.trim().parse::<f32>().unwrap_or(0.0)))
                .unwrap_or(1.0);
            if quality > 0.0 && quality.is_finite() && best.is_none_or(|(best_quality, _)| quality > best_quality) {
                best = Some((quality, language));
            }
        }
        best.map_or(Self::Tr, |(_, language)| language)
    }
}

impl RequestContext {
    /// The language and request id of a request: the caller's
    /// `x-request-id` when short and plain (as the components keep it), else
    /// a new one.
    pub fn of(headers: &HeaderMap) -> Self {
        let language = Language::from_accept_language(headers.get("accept-language").and_then(|v| v.to_str().ok()));
        let request_id = headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .filter(|id| {
                !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Self { language, request_id }
    }
}

/// The JSON answer for `error`, with `content-length` and `x-request-id`.
pub fn render(error: HostError, context: &RequestContext) -> Response<ResponseBody> {
    let body = serde_json::json!({
        "success": false,
        "errorCode": error.code(),
        "error": error.message(context.language),
        "retryable": error.retryable(),
    })
    .to_string();
    let length = body.len();
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        headers.insert("x-request-id", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_english_only_when_it_outranks_turkish() {
        let cases = [
            (None, Language::Tr),
            (Some("en"), Language::En),
            (Some("en-US,en;q=0.9,tr;q=0.8"), Language::En),
            (Some("tr-TR,en;q=0.5"), Language::Tr),
            (Some("fr"), Language::Tr),
            (Some("fr, en;q=0.5"), Language::En),
            (Some("tr;q=0.4, en;q=0.6"), Language::En),
            (Some("en;q=0, tr"), Language::Tr),
            (Some("en;q=abc"), Language::Tr),
        ];
        for (header, expected) in cases {
            assert_eq!(Language::from_accept_language(header), expected, "{header:?}");
        }
    }
}
