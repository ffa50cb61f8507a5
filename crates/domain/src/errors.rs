//! The error contract every component answers with.
//!
//! One table: each [`ErrorCode`] has its HTTP status, its Turkish (default)
//! and English text and its retry policy, in the `match`es below and nowhere
//! else. The codes are public: the app branches on them, so a code may be
//! added but never renamed.

use serde_json::{json, Map, Value};

/// A stable, upper-case error code, sent as `errorCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Missing, malformed, expired or forged user JWT.
    Unauthorized,
    /// The live session does not exist.
    SessionNotFound,
    /// The live session is for the creator's subscribers only.
    SubscriptionRequired,
    /// The live session must be bought first; the text names the price.
    PaymentRequired,
    /// Too many requests from this user; retry after a few seconds.
    RateLimited,
    /// An unexpected failure on our side; retry with backoff.
    InternalError,
    /// The body or parameters are malformed, of the wrong type, or too large.
    InvalidRequest,
    /// The 1-1 call does not exist.
    CallNotFound,
    /// The user is not allowed to act on this resource (not a participant, not the host).
    Forbidden,
    /// The live session has ended.
    SessionEnded,
    /// The call is over (ended, missed, rejected, cancelled, failed, busy).
    CallEnded,
    /// The call exists but is not (yet) in a state that allows joining it.
    CallNotActive,
    /// The host already has a broadcast that has not ended.
    AlreadyLive,
    /// The HTTP method is not supported on this route.
    MethodNotAllowed,
    /// A dependency (the database) is down; retry shortly.
    ServiceUnavailable,
    /// The caller or the callee is already in an active call.
    Busy,
    /// The action is impossible in the call's current state (sent with `status`).
    InvalidTransition,
    /// The call rang out before it was accepted.
    CallExpired,
    /// The callee's device could not be notified in time; retry.
    PushFailed,
    /// The user does not exist.
    UserNotFound,
    /// A user tried to call themselves.
    CannotCallSelf,
    /// The callee has no registered device.
    CalleeUnreachable,
    /// A webhook whose signature, body hash or expiry does not check out.
    InvalidSignature,
    /// No route serves this path (answered by the catch-all component).
    NotFound,
    /// The request body is over the runtime's limit (answered by the host).
    PayloadTooLarge,
    /// The component did not answer within the runtime's deadline (answered by
    /// the host); the request may or may not have taken effect.
    Timeout,
}

/// Every code, for tables, docs and tests.
pub const ALL_CODES: [ErrorCode; 26] = [
    ErrorCode::Unauthorized,
    ErrorCode::SessionNotFound,
    ErrorCode::SubscriptionRequired,
    ErrorCode::PaymentRequired,
    ErrorCode::RateLimited,
    ErrorCode::InternalError,
    ErrorCode::InvalidRequest,
    ErrorCode::CallNotFound,
    ErrorCode::Forbidden,
    ErrorCode::SessionEnded,
    ErrorCode::CallEnded,
    ErrorCode::CallNotActive,
    ErrorCode::AlreadyLive,
    ErrorCode::MethodNotAllowed,
    ErrorCode::ServiceUnavailable,
    ErrorCode::Busy,
    ErrorCode::InvalidTransition,
    ErrorCode::CallExpired,
    ErrorCode::PushFailed,
    ErrorCode::UserNotFound,
    ErrorCode::CannotCallSelf,
    ErrorCode::CalleeUnreachable,
    ErrorCode::InvalidSignature,
    ErrorCode::NotFound,
    ErrorCode::PayloadTooLarge,
    ErrorCode::Timeout,
];

/// The language of client-facing texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Language {
    /// Turkish, the seed's language and the default.
    #[default]
    Tr,
    /// English.
    En,
}

/// What a client should do after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryPolicy {
    /// Retrying cannot help.
    Never,
    /// Retry once, after this many seconds (`Retry-After`).
    AfterSeconds(u32),
    /// Retry up to `attempts` times with exponential backoff.
    Backoff { attempts: u32 },
}

impl ErrorCode {
    /// The wire form, e.g. `SESSION_NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "UNAUTHORIZED",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::SubscriptionRequired => "SUBSCRIPTION_REQUIRED",
            Self::PaymentRequired => "PAYMENT_REQUIRED",
            Self::RateLimited => "RATE_LIMITED",
            Self::InternalError => "INTERNAL_ERROR",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::CallNotFound => "CALL_NOT_FOUND",
            Self::Forbidden => "FORBIDDEN",
            Self::SessionEnded => "SESSION_ENDED",
            Self::CallEnded => "CALL_ENDED",
            Self::CallNotActive => "CALL_NOT_ACTIVE",
            Self::AlreadyLive => "ALREADY_LIVE",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Busy => "BUSY",
            Self::InvalidTransition => "INVALID_TRANSITION",
            Self::CallExpired => "CALL_EXPIRED",
            Self::PushFailed => "PUSH_FAILED",
            Self::UserNotFound => "USER_NOT_FOUND",
            Self::CannotCallSelf => "CANNOT_CALL_SELF",
            Self::CalleeUnreachable => "CALLEE_UNREACHABLE",
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::NotFound => "NOT_FOUND",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::Timeout => "TIMEOUT",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::CannotCallSelf => 400,
            Self::Unauthorized | Self::InvalidSignature => 401,
            Self::PaymentRequired => 402,
            Self::SubscriptionRequired | Self::Forbidden => 403,
            Self::SessionNotFound | Self::CallNotFound | Self::UserNotFound | Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::CallNotActive | Self::AlreadyLive | Self::Busy | Self::InvalidTransition | Self::CalleeUnreachable => 409,
            Self::SessionEnded | Self::CallEnded | Self::CallExpired => 410,
            Self::PayloadTooLarge => 413,
            Self::RateLimited => 429,
            Self::InternalError => 500,
            Self::PushFailed => 502,
            Self::ServiceUnavailable => 503,
            Self::Timeout => 504,
        }
    }

    /// The retry policy the seed gives (section 5), extended to the new codes.
    pub fn retry_policy(self) -> RetryPolicy {
        match self {
            Self::RateLimited => RetryPolicy::AfterSeconds(5),
            Self::ServiceUnavailable => RetryPolicy::AfterSeconds(5),
            Self::InternalError | Self::PushFailed | Self::Timeout => RetryPolicy::Backoff { attempts: 3 },
            _ => RetryPolicy::Never,
        }
    }

    /// The client-facing text. `{price}` in a template is the session's price.
    fn template(self, language: Language) -> &'static str {
        use Language::{En, Tr};
        match (self, language) {
            (Self::Unauthorized, Tr) => "Oturum süresi doldu, tekrar giriş yapın",
            (Self::Unauthorized, En) => "Your session has expired, please sign in again",
            (Self::SessionNotFound, Tr) => "Yayın bulunamadı",
            (Self::SessionNotFound, En) => "Broadcast not found",
            (Self::SubscriptionRequired, Tr) => "Bu yayın sadece abonelere özel",
            (Self::SubscriptionRequired, En) => "This broadcast is for subscribers only",
            (Self::PaymentRequired, Tr) => "Bu yayını izlemek için {price} coin gerekli",
            (Self::PaymentRequired, En) => "You need {price} coins to watch this broadcast",
            (Self::RateLimited, Tr) => "Çok fazla istek, biraz bekleyin",
            (Self::RateLimited, En) => "Too many requests, please wait a moment",
            (Self::InternalError, Tr) => "Bir hata oluştu, tekrar deneyin",
            (Self::InternalError, En) => "Something went wrong, please try again",
            (Self::InvalidRequest, Tr) => "Geçersiz istek",
            (Self::InvalidRequest, En) => "Invalid request",
            (Self::CallNotFound, Tr) => "Arama bulunamadı",
            (Self::CallNotFound, En) => "Call not found",
            (Self::Forbidden, Tr) => "Bu işlem için yetkiniz yok",
            (Self::Forbidden, En) => "You are not allowed to do this",
            (Self::SessionEnded, Tr) => "Yayın sona erdi",
            (Self::SessionEnded, En) => "This broadcast has ended",
            (Self::CallEnded, Tr) => "Arama sona erdi",
            (Self::CallEnded, En) => "This call has ended",
            (Self::CallNotActive, Tr) => "Arama henüz kabul edilmedi",
            (Self::CallNotActive, En) => "This call has not been accepted yet",
            (Self::AlreadyLive, Tr) => "Devam eden bir yayınınız zaten var",
            (Self::AlreadyLive, En) => "You already have a broadcast in progress",
            (Self::MethodNotAllowed, Tr) => "Bu istek yöntemi desteklenmiyor",
            (Self::MethodNotAllowed, En) => "This request method is not supported",
            (Self::ServiceUnavailable, Tr) => "Servis geçici olarak kullanılamıyor, biraz sonra tekrar deneyin",
            (Self::ServiceUnavailable, En) => "The service is temporarily unavailable, please try again shortly",
            (Self::Busy, Tr) => "Kullanıcı şu anda başka bir görüşmede",
            (Self::Busy, En) => "The user is in another call",
            (Self::InvalidTransition, Tr) => "Bu işlem aramanın şu anki durumunda yapılamaz",
            (Self::InvalidTransition, En) => "This action is not possible in the call's current state",
            (Self::CallExpired, Tr) => "Arama zaman aşımına uğradı",
            (Self::CallExpired, En) => "The call has expired",
            (Self::PushFailed, Tr) => "Arama bildirimi gönderilemedi, tekrar deneyin",
            (Self::PushFailed, En) => "The call notification could not be delivered, please try again",
            (Self::UserNotFound, Tr) => "Kullanıcı bulunamadı",
            (Self::UserNotFound, En) => "User not found",
            (Self::CannotCallSelf, Tr) => "Kendinizi arayamazsınız",
            (Self::CannotCallSelf, En) => "You cannot call yourself",
            (Self::CalleeUnreachable, Tr) => "Kullanıcıya şu anda ulaşılamıyor",
            (Self::CalleeUnreachable, En) => "This user cannot be reached right now",
            (Self::InvalidSignature, Tr) => "Geçersiz imza",
            (Self::InvalidSignature, En) => "Invalid signature",
            (Self::NotFound, Tr) => "İstenen adres bulunamadı",
            (Self::NotFound, En) => "The requested address was not found",
            (Self::PayloadTooLarge, Tr) => "İstek çok büyük",
            (Self::PayloadTooLarge, En) => "The request is too large",
            (Self::Timeout, Tr) => "İstek zaman aşımına uğradı, tekrar deneyin",
            (Self::Timeout, En) => "The request timed out, please try again",
        }
    }
}

impl RetryPolicy {
    /// Whether the client should try again at all.
    pub fn retryable(self) -> bool {
        !matches!(self, Self::Never)
    }
}

impl Language {
    /// The language an `Accept-Language` header prefers among ours: English
    /// when `en` outranks `tr` (by q-value, then by order), Turkish otherwise.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let Some(header) = header else {
            return Self::Tr;
        };
        let mut best: Option<(f32, Self)> = None;
        for entry in header.split(',') {
            let mut parts = entry.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let primary = tag.split('-').next().unwrap_or("");
            let language = match primary {
                "en" => Self::En,
                "tr" => Self::Tr,
                _ => continue,
            };
            let quality = parts
                .find_map(|p| p.trim().strip_prefix("q=").map(|q| q.trim().parse::<f32>().unwrap_or(0.0)))
                .unwrap_or(1.0);
            if quality <= 0.0 || !quality.is_finite() {
                continue;
            }
            if best.is_none_or(|(best_quality, _)| quality > best_quality) {
                best = Some((quality, language));
            }
        }
        best.map_or(Self::Tr, |(_, language)| language)
    }
}

/// An error answer: a code plus what its text or body needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    code: ErrorCode,
    price_coins: Option<i64>,
    fields: Map<String, Value>,
}

impl ApiError {
    /// An error with the code's plain text.
    pub fn new(code: ErrorCode) -> Self {
        Self { code, price_coins: None, fields: Map::new() }
    }

    /// PAYMENT_REQUIRED naming the real price.
    pub fn payment_required(price_coins: i64) -> Self {
        Self { price_coins: Some(price_coins), ..Self::new(ErrorCode::PaymentRequired) }
        .with_field("priceCoins", price_coins)
    }

    /// Adds a field to the JSON body (for example the current `status`).
    pub fn with_field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(name.to_owned(), value.into());
        self
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status.
    pub fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// The `Retry-After` header value, when the policy names a delay.
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self.code.retry_policy() {
            RetryPolicy::AfterSeconds(seconds) => Some(seconds),
            _ => None,
        }
    }

    /// The client-facing text in `language`.
    pub fn message(&self, language: Language) -> String {
        let template = self.code.template(language);
        match self.price_coins {
            Some(price) => template.replace("{price}", &price.to_string()),
            None => template.to_owned(),
        }
    }

    /// The JSON body: `{"success": false, "errorCode", "error", "retryable", "retryAfterSeconds"?, ...fields}`.
    pub fn body(&self, language: Language) -> Value {
        let mut body = json!({
            "success": false,
            "errorCode": self.code.as_str(),
            "error": self.message(language),
            "retryable": self.code.retry_policy().retryable(),
        });
        let object = body.as_object_mut().expect("json! of an object literal is an object");
        if let Some(seconds) = self.retry_after_seconds() {
            object.insert("retryAfterSeconds".to_owned(), seconds.into());
        }
        for (name, value) in &self.fields {
            object.entry(name.clone()).or_insert_with(|| value.clone());
        }
        body
    }
}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_language(header: Option<&str>, expected: Language) {
        assert_eq!(Language::from_accept_language(header), expected, "{header:?}");
    }

    #[test]
    fn accept_language_picks_the_preferred_of_ours() {
        check_language(None, Language::Tr);
        check_language(Some(""), Language::Tr);
        check_language(Some("en"), Language::En);
        check_language(Some("en-US,en;q=0.9,tr;q=0.8"), Language::En);
        check_language(Some("tr-TR,en;q=0.5"), Language::Tr);
        check_language(Some("fr"), Language::Tr);
        check_language(Some("fr, en;q=0.5"), Language::En);
        check_language(Some("tr;q=0.4, en;q=0.6"), Language::En);
        check_language(Some("en;q=0, tr"), Language::Tr);
        check_language(Some("EN-gb"), Language::En);
        check_language(Some("en;q=abc"), Language::Tr);
        check_language(Some(";;,,;q=1"), Language::Tr);
    }

    #[test]
    fn every_code_has_distinct_wire_name_and_both_texts() {
        let mut names: Vec<_> = ALL_CODES.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ALL_CODES.len());
        for code in ALL_CODES {
            assert!(code.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'));
            assert_ne!(code.template(Language::Tr), code.template(Language::En), "{code:?}");
            assert!((400..600).contains(&code.http_status()));
        }
    }

    #[test]
    fn seed_table_rows() {
        let cases = [
            (ErrorCode::Unauthorized, 401, "Oturum süresi doldu, tekrar giriş yapın", RetryPolicy::Never),
            (ErrorCode::SessionNotFound, 404, "Yayın bulunamadı", RetryPolicy::Never),
            (ErrorCode::SubscriptionRequired, 403, "Bu yayın sadece abonelere özel", RetryPolicy::Never),
            (ErrorCode::RateLimited, 429, "Çok fazla istek, biraz bekleyin", RetryPolicy::AfterSeconds(5)),
            (ErrorCode::InternalError, 500, "Bir hata oluştu, tekrar deneyin", RetryPolicy::Backoff { attempts: 3 }),
        ];
        for (code, status, text, policy) in cases {
            let error = ApiError::new(code);
            assert_eq!(error.http_status(), status);
            assert_eq!(error.message(Language::Tr), text);
            assert_eq!(code.retry_policy(), policy);
        }
    }

    #[test]
    fn payment_required_names_the_price() {
        let error = ApiError::payment_required(150);
        assert_eq!(error.http_status(), 402);
        assert_eq!(error.message(Language::Tr), "Bu yayını izlemek için 150 coin gerekli");
        assert_eq!(error.message(Language::En), "You need 150 coins to watch this broadcast");
        assert_eq!(error.body(Language::Tr)["priceCoins"], 150);
    }

    #[test]
    fn body_shape() {
        let body = ApiError::new(ErrorCode::RateLimited).body(Language::En);
        assert_eq!(
            body,
            json!({"success": false, "errorCode": "RATE_LIMITED", "error": "Too many requests, please wait a moment",
                   "retryable": true, "retryAfterSeconds": 5})
        );
        let body = ApiError::new(ErrorCode::SessionNotFound).with_field("errorCode", "X").body(Language::Tr);
        assert_eq!(body["errorCode"], "SESSION_NOT_FOUND", "fields never override the contract");
        assert!(body.get("retryAfterSeconds").is_none());
    }
}
