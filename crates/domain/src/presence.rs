//! What a participant's join or leave means for a session or a call.
//!
//! The seed (section 3): a host who closes the app (`CLIENT_INITIATED`) pauses
//! the broadcast at once; any other way of leaving (signal close, timeout,
//! media failure, server side, unknown, an aborted connection) starts the
//! 30 s reconnect grace; coming back makes it live again.

use crate::call::CallEvent;
use crate::session::SessionStatus;
use crate::webhook::{DisconnectReason, EventKind, WebhookEvent};

/// A participant's presence as one event states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceChange {
    Joined,
    /// Left on purpose (the app closed the room or the phone).
    LeftCleanly,
    /// Left any other way: the network may bring them back.
    Dropped,
}

impl PresenceChange {
    /// The presence change an event carries, if it is a presence event.
    pub fn of(event: &WebhookEvent) -> Option<Self> {
        match event.kind {
            EventKind::ParticipantJoined => Some(Self::Joined),
            EventKind::ParticipantLeft => {
                let reason = event.participant.as_ref().map(|p| p.disconnect_reason);
                Some(if reason == Some(DisconnectReason::ClientInitiated) { Self::LeftCleanly } else { Self::Dropped })
            }
            EventKind::ParticipantConnectionAborted => Some(Self::Dropped),
            _ => None,
        }
    }

    /// Whether the participant is in the room after this event.
    pub fn present(self) -> bool {
        self == Self::Joined
    }

    /// The tie-break between events of the same second: a join outranks a
    /// leave, so a reconnect within one second leaves the participant present.
    pub fn rank(self) -> i16 {
        if self.present() { 1 } else { 0 }
    }

    /// The session status when the host's newest presence is this.
    pub fn host_status(self) -> SessionStatus {
        match self {
            Self::Joined => SessionStatus::Live,
            Self::LeftCleanly => SessionStatus::Paused,
            Self::Dropped => SessionStatus::HostDisconnected,
        }
    }

    /// The call event this party's change causes; `both_present` says whether
    /// both parties are in the room after it. A dropped party keeps the call
    /// live for the reconnect grace (the sweep fails it afterwards).
    pub fn call_event(self, both_present: bool) -> Option<CallEvent> {
        match self {
            Self::Joined if both_present => Some(CallEvent::BothJoined),
            Self::LeftCleanly => Some(CallEvent::PartyLeft),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::Participant;

    fn event(kind: EventKind, reason: DisconnectReason) -> WebhookEvent {
        WebhookEvent {
            id: "EV_1".into(),
            kind,
            created_at: 1,
            room_name: Some("live_x".into()),
            participant: Some(Participant { identity: "host".into(), disconnect_reason: reason }),
            track: None,
        }
    }

    #[test]
    fn host_statuses_follow_the_seed() {
        use DisconnectReason as R;
        use EventKind as K;
        let cases = [
            (K::ParticipantJoined, R::UnknownReason, SessionStatus::Live),
            (K::ParticipantLeft, R::ClientInitiated, SessionStatus::Paused),
            (K::ParticipantLeft, R::SignalClose, SessionStatus::HostDisconnected),
            (K::ParticipantLeft, R::ConnectionTimeout, SessionStatus::HostDisconnected),
            (K::ParticipantLeft, R::MediaFailure, SessionStatus::HostDisconnected),
            (K::ParticipantLeft, R::ServerShutdown, SessionStatus::HostDisconnected),
            (K::ParticipantLeft, R::UnknownReason, SessionStatus::HostDisconnected),
            (K::ParticipantConnectionAborted, R::ClientInitiated, SessionStatus::HostDisconnected),
        ];
        for (kind, reason, status) in cases {
            assert_eq!(PresenceChange::of(&event(kind, reason)).unwrap().host_status(), status, "{kind:?} {reason:?}");
        }
        assert_eq!(PresenceChange::of(&event(K::TrackPublished, R::UnknownReason)), None);
        assert_eq!(PresenceChange::of(&event(K::RoomFinished, R::UnknownReason)), None);
    }

    #[test]
    fn call_events() {
        assert_eq!(PresenceChange::Joined.call_event(true), Some(CallEvent::BothJoined));
        assert_eq!(PresenceChange::Joined.call_event(false), None);
        assert_eq!(PresenceChange::LeftCleanly.call_event(true), Some(CallEvent::PartyLeft));
        assert_eq!(PresenceChange::Dropped.call_event(false), None);
        assert!(PresenceChange::Joined.rank() > PresenceChange::Dropped.rank());
    }
}
