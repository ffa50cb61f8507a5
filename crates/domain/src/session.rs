//! Live sessions (broadcasts): their kinds, access rules and states.

use crate::enum_str;

enum_str! {
    /// `live_sessions.status`.
    pub enum SessionStatus {
        Live = "live",
        HostDisconnected = "host_disconnected",
        Paused = "paused",
        Ended = "ended",
    }
}

enum_str! {
    /// `live_sessions.type`.
    pub enum SessionType {
        VideoLive = "video_live",
        AudioLive = "audio_live",
    }
}

enum_str! {
    /// `live_sessions.access`: who may watch.
    pub enum SessionAccess {
        Public = "public",
        Subscribers = "subscribers",
        Paid = "paid",
    }
}

enum_str! {
    /// `live_sessions.end_reason`.
    pub enum SessionEndReason {
        HostEnded = "host_ended",
        HostTimeout = "host_timeout",
        RoomFinished = "room_finished",
        OrphanedCleanup = "orphaned_cleanup",
    }
}

/// The states in which a host is away and the grace (`host_grace_seconds`)
/// runs: past it, the session ends with `host_timeout`.
pub const IN_GRACE: &[SessionStatus] = &[SessionStatus::HostDisconnected, SessionStatus::Paused];

/// The highest price a paid session may ask, in coins.
pub const MAX_PRICE_COINS: i64 = 1_000_000;
