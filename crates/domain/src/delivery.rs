//! What became of one push to one device, whatever the provider.

/// A provider's verdict on one device (or, for Expo, one ticket).
///
/// No text here ever contains a device token: these reach logs and the
/// `calls` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceOutcome {
    /// The provider took it.
    Delivered,
    /// The token is dead (APNs 410 with Apple's reason, FCM `UNREGISTERED`
    /// in a JSON error, Expo `DeviceNotRegistered`): remove it from
    /// `push_tokens`. Only an answer that names the token dead says so: a
    /// proxy's or a wrong origin's 404 must never delete devices.
    Gone(String),
    /// APNs does not know the token (`400 BadDeviceToken`): the token is
    /// bogus, or pushes go to the wrong APNs environment and every token
    /// looks so. [`crate::apns::settle_bad_device_tokens`] turns it into
    /// Gone or Refused for the whole send.
    Unrecognized(String),
    /// Our credential was refused (APNs `ExpiredProviderToken` or
    /// `InvalidProviderToken`, FCM 401): drop the cached one so the next
    /// push mints a new one.
    Unauthorized(String),
    /// Any other refusal (bad request, rate limit, provider outage).
    Refused(String),
}
