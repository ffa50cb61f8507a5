//! The push variables, read and checked together.
//!
//! - `push_provider`: `log` (default: write `push_log`, send nothing) or
//!   `expo` (send for real: Expo, plus APNs and FCM where configured; the
//!   name predates the other providers and is kept).
//! - `push_timeout_seconds` (5): the whole exchange, every provider at once.
//! - `ring_timeout_seconds` (30): how long providers keep trying to deliver.
//! - Expo: `push_url` (derived from `push_origin` in spin.toml),
//!   `push_access_token`.
//! - APNs: `apns_key_id`, `apns_team_id`, `apns_private_key` (the .p8 PEM),
//!   `apns_bundle_id`, `apns_environment` (`production` or `sandbox`), and
//!   the origins `apns_origin` / `apns_sandbox_origin` (Apple's by default).
//! - FCM: `fcm_service_account_json`, `fcm_origin` (Google's by default).
//!
//! A provider left unconfigured refuses its devices with a reason; one
//! configured wrongly does the same and logs which variable is wrong.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use domain::apns::{ApnsEnvironment, ApnsKey};
use domain::fcm::ServiceAccount;
use domain::push::DEFAULT_PUSH_URL;

use crate::config;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Log,
    Live,
}

pub struct Settings {
    pub provider: Provider,
    pub timeout: Duration,
    pub ttl_seconds: u32,
    pub expo_url: String,
    pub expo_access_token: Option<String>,
    /// `Err`: why APNs devices cannot be rung.
    pub apns: Result<Apns, String>,
    /// `Err`: why FCM devices cannot be rung.
    pub fcm: Result<Fcm, String>,
}

pub struct Apns {
    pub key: ApnsKey,
    pub bundle_id: String,
    pub origin: String,
}

pub struct Fcm {
    pub account: ServiceAccount,
    pub origin: String,
}

/// FCM's origin, the default of `fcm_origin`.
const FCM_ORIGIN: &str = "https://fcm.googleapis.com";

thread_local! {
    /// The settings as this instance first read them: variables do not change
    /// under a running app, and parsing the keys (an RSA key above all) is
    /// the costly part; a wrong variable is logged once per instance.
    static CURRENT: RefCell<Option<Result<Rc<Settings>, String>>> = const { RefCell::new(None) };
}

impl Settings {
    /// The push settings, read once per instance. `Err` names a malformed
    /// shared variable; nothing can be sent then.
    pub async fn current() -> Result<Rc<Self>, String> {
        if let Some(known) = CURRENT.with(|current| current.borrow().clone()) {
            return known;
        }
        let read = Self::read().await.map(Rc::new);
        CURRENT.with(|current| *current.borrow_mut() = Some(read.clone()));
        read
    }

    async fn read() -> Result<Self, String> {
        let provider = match config::optional("push_provider").await.as_deref().map(str::trim) {
            None | Some("log") => Provider::Log,
            Some("expo") => Provider::Live,
            Some(_) => return Err("unknown push provider".to_owned()),
        };
        let timeout = config::positive_integer("push_timeout_seconds", 5)
            .await
            .map_err(|_| "variable push_timeout_seconds must be a positive integer".to_owned())?;
        let ring_timeout = config::positive_integer("ring_timeout_seconds", 30)
            .await
            .map_err(|_| "variable ring_timeout_seconds must be a positive integer".to_owned())?;
        let (apns, fcm) = if provider == Provider::Live { (read_apns().await, read_fcm().await) } else { (Err(String::new()), Err(String::new())) };
        Ok(Self {
            provider,
            timeout: Duration::from_secs(timeout),
            ttl_seconds: u32::try_from(ring_timeout).unwrap_or(u32::MAX),
            expo_url: config::optional("push_url").await.unwrap_or_else(|| DEFAULT_PUSH_URL.to_owned()).trim().to_owned(),
            expo_access_token: config::optional("push_access_token").await,
            apns,
            fcm,
        })
    }
}

const APNS_VARIABLES: [&str; 4] = ["apns_key_id", "apns_team_id", "apns_private_key", "apns_bundle_id"];

async fn read_apns() -> Result<Apns, String> {
    let mut values = Vec::with_capacity(APNS_VARIABLES.len());
    for name in APNS_VARIABLES {
        values.push(config::optional(name).await);
    }
    if values.iter().all(Option::is_none) {
        return Err("APNs is not configured".to_owned());
    }
    let missing: Vec<&str> = APNS_VARIABLES.iter().zip(&values).filter(|(_, value)| value.is_none()).map(|(name, _)| *name).collect();
    if !missing.is_empty() {
        return Err(misconfigured(&format!("APNs needs {}", missing.join(", "))));
    }
    let value = |index: usize| values[index].clone().unwrap_or_default();
    let (key_id, team_id, pem, bundle_id) = (value(0), value(1), value(2), value(3));
    let key = ApnsKey::parse(key_id.trim(), team_id.trim(), &pem).map_err(|error| misconfigured(&error.to_string()))?;
    let environment = match config::optional("apns_environment").await {
        None => ApnsEnvironment::Production,
        Some(text) => ApnsEnvironment::parse(text.trim()).ok_or_else(|| misconfigured("apns_environment must be production or sandbox"))?,
    };
    let origin_variable = match environment {
        ApnsEnvironment::Production => "apns_origin",
        ApnsEnvironment::Sandbox => "apns_sandbox_origin",
    };
    let origin = config::optional(origin_variable).await.unwrap_or_else(|| environment.origin().to_owned());
    Ok(Apns { key, bundle_id: bundle_id.trim().to_owned(), origin: origin.trim().trim_end_matches('/').to_owned() })
}

async fn read_fcm() -> Result<Fcm, String> {
    let Some(json) = config::optional("fcm_service_account_json").await else {
        return Err("FCM is not configured".to_owned());
    };
    let account = ServiceAccount::parse(&json).map_err(|error| misconfigured(&format!("fcm_service_account_json: {error}")))?;
    let origin = config::optional("fcm_origin").await.unwrap_or_else(|| FCM_ORIGIN.to_owned());
    Ok(Fcm { account, origin: origin.trim().trim_end_matches('/').to_owned() })
}

/// Logs a wrong push variable (never its value) and answers the reason.
fn misconfigured(reason: &str) -> String {
    let mut fields = serde_json::Map::new();
    fields.insert("error".into(), reason.into());
    crate::log::line("error", crate::log::component().unwrap_or("push"), "misconfigured push provider", fields);
    reason.to_owned()
}
