//! What became of one push to one device, whatever the provider.

/// A provider's verdict on one device (or, for Expo, one ticket).
///
/// No text here ever contains a device token: these reach logs and the
/// `calls` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// The provider took it.
    Delivered,
    /// The token is dead (APNs 410 or `BadDeviceToken`, FCM `UNREGISTERED`
    /// or 404, Expo `DeviceNotRegistered`): remove it from `push_tokens`.
    Gone(String),
    /// Our credential was refused (APNs `ExpiredProviderToken` or
    /// `InvalidProviderToken`, FCM 401): drop the cached one so the next
    /// push mints a new one.
    Unauthorized(String),
    /// Any other refusal (bad request, rate limit, provider outage).
    Refused(String),
}
