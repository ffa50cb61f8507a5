//! 1-1 calls: their kinds and states.

use crate::enum_str;

enum_str! {
    /// `calls.status`: the seed's call state machine, lowercase.
    pub enum CallStatus {
        Initiated = "initiated",
        Ringing = "ringing",
        Accepted = "accepted",
        Live = "live",
        Ended = "ended",
        Failed = "failed",
        Missed = "missed",
        Rejected = "rejected",
        Busy = "busy",
        Cancelled = "cancelled",
    }
}

enum_str! {
    /// `calls.call_type`.
    pub enum CallType {
        Audio = "audio",
        Video = "video",
    }
}

impl CallStatus {
    /// A call in a terminal state never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Ended | Self::Failed | Self::Missed | Self::Rejected | Self::Busy | Self::Cancelled)
    }
}
