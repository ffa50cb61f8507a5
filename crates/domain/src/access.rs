//! Who may join which room, and with which grants.
//!
//! The component loads the facts in one query; these functions decide. They
//! never look at the clock: "subscribed" already means "unexpired".

use crate::call::{CallStatus, CallType};
use crate::errors::{ApiError, ErrorCode};
use crate::ids::UserId;
use crate::livekit_token::{TrackSource, VideoGrant};
use crate::session::{SessionAccess, SessionStatus, SessionType};

/// A participant's role, sent in the token's metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Host,
    Viewer,
    Caller,
    Callee,
}

/// The facts about a live session that decide admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionFacts {
    pub creator_id: UserId,
    pub status: SessionStatus,
    pub session_type: SessionType,
    pub access: SessionAccess,
    pub price_coins: i64,
    pub room_name: String,
    /// The user holds an unexpired subscription to the creator.
    pub subscribed: bool,
    /// The user bought this session.
    pub purchased: bool,
}

/// The facts about a call that decide admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFacts {
    pub caller_id: UserId,
    pub callee_id: UserId,
    pub status: CallStatus,
    pub call_type: CallType,
    pub room_name: String,
}

/// A decision to admit: the role and the grant for the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    pub role: Role,
    pub grant: VideoGrant,
}

impl Role {
    /// The wire form, also the token metadata's `role`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Host => "host",
            Self::Viewer => "viewer",
            Self::Caller => "caller",
            Self::Callee => "callee",
        }
    }

    /// The token's `metadata` claim: `{"role": "..."}`.
    pub fn metadata(self) -> String {
        serde_json::json!({ "role": self.as_str() }).to_string()
    }
}

/// Admits `user` to a live session, or says why not.
///
/// Errors: SESSION_NOT_FOUND (no such session), SESSION_ENDED,
/// SUBSCRIPTION_REQUIRED, PAYMENT_REQUIRED (with the price).
pub fn admit_to_session(user: UserId, session: Option<&SessionFacts>) -> Result<Admission, ApiError> {
    let session = session.ok_or(ErrorCode::SessionNotFound)?;
    if session.status == SessionStatus::Ended {
        return Err(ErrorCode::SessionEnded.into());
    }
    if user == session.creator_id {
        return Ok(Admission { role: Role::Host, grant: VideoGrant::publisher(&session.room_name, host_sources(session.session_type)) });
    }
    // Viewers may join while the host is away: the app shows the waiting overlay.
    let entitled = match session.access {
        SessionAccess::Public => true,
        SessionAccess::Subscribers => session.subscribed,
        SessionAccess::Paid => session.purchased,
    };
    if !entitled {
        return Err(match session.access {
            SessionAccess::Paid => ApiError::payment_required(session.price_coins),
            _ => ErrorCode::SubscriptionRequired.into(),
        });
    }
    Ok(Admission { role: Role::Viewer, grant: VideoGrant::subscriber(&session.room_name) })
}

/// Admits `user` to a 1-1 call, or says why not.
///
/// Only the two parties, only while `accepted` or `live` (the caller also while
/// `ringing`, to wait in the room). Errors: CALL_NOT_FOUND, FORBIDDEN (not a
/// party), CALL_ENDED (terminal), CALL_NOT_ACTIVE (not yet accepted).
pub fn admit_to_call(user: UserId, call: Option<&CallFacts>) -> Result<Admission, ApiError> {
    let call = call.ok_or(ErrorCode::CallNotFound)?;
    let role = if user == call.caller_id {
        Role::Caller
    } else if user == call.callee_id {
        Role::Callee
    } else {
        return Err(ErrorCode::Forbidden.into());
    };
    if call.status.is_terminal() {
        return Err(ApiError::new(ErrorCode::CallEnded).with_field("status", call.status.as_str()));
    }
    let joinable = match call.status {
        CallStatus::Accepted | CallStatus::Live => true,
        CallStatus::Ringing => role == Role::Caller,
        _ => false,
    };
    if !joinable {
        return Err(ApiError::new(ErrorCode::CallNotActive).with_field("status", call.status.as_str()));
    }
    Ok(Admission { role, grant: VideoGrant::publisher(&call.room_name, call_sources(call.call_type)) })
}

/// What a host may publish: a voice broadcast publishes only the microphone.
pub fn host_sources(session_type: SessionType) -> &'static [TrackSource] {
    match session_type {
        SessionType::VideoLive => &[TrackSource::Camera, TrackSource::Microphone],
        SessionType::AudioLive => &[TrackSource::Microphone],
    }
}

/// What a call party may publish.
pub fn call_sources(call_type: CallType) -> &'static [TrackSource] {
    match call_type {
        CallType::Video => &[TrackSource::Camera, TrackSource::Microphone],
        CallType::Audio => &[TrackSource::Microphone],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId(uuid::Uuid::from_bytes([n; 16]))
    }

    fn session(status: SessionStatus, access: SessionAccess, subscribed: bool, purchased: bool) -> SessionFacts {
        SessionFacts {
            creator_id: user(1),
            status,
            session_type: SessionType::VideoLive,
            access,
            price_coins: if access == SessionAccess::Paid { 250 } else { 0 },
            room_name: "live_x".to_owned(),
            subscribed,
            purchased,
        }
    }

    fn code(result: Result<Admission, ApiError>) -> Result<Role, &'static str> {
        result.map(|a| a.role).map_err(|e| e.code().as_str())
    }

    #[test]
    fn session_admission_table() {
        use SessionAccess::*;
        use SessionStatus::*;
        let cases: &[(u8, SessionStatus, SessionAccess, bool, bool, Result<Role, &str>)] = &[
            (1, Live, Paid, false, false, Ok(Role::Host)),
            (1, Paused, Subscribers, false, false, Ok(Role::Host)),
            (1, Ended, Public, false, false, Err("SESSION_ENDED")),
            (2, Live, Public, false, false, Ok(Role::Viewer)),
            (2, HostDisconnected, Public, false, false, Ok(Role::Viewer)),
            (2, Paused, Public, false, false, Ok(Role::Viewer)),
            (2, Ended, Public, true, true, Err("SESSION_ENDED")),
            (2, Live, Subscribers, false, false, Err("SUBSCRIPTION_REQUIRED")),
            (2, Live, Subscribers, false, true, Err("SUBSCRIPTION_REQUIRED")),
            (2, Live, Subscribers, true, false, Ok(Role::Viewer)),
            (2, Live, Paid, false, false, Err("PAYMENT_REQUIRED")),
            (2, Live, Paid, true, false, Err("PAYMENT_REQUIRED")),
            (2, Live, Paid, false, true, Ok(Role::Viewer)),
        ];
        for (who, status, access, subscribed, purchased, expected) in cases {
            let facts = session(*status, *access, *subscribed, *purchased);
            assert_eq!(code(admit_to_session(user(*who), Some(&facts))), *expected, "{who} {status:?} {access:?}");
        }
        assert_eq!(code(admit_to_session(user(2), None)), Err("SESSION_NOT_FOUND"));
    }

    #[test]
    fn grants_by_role() {
        let facts = session(SessionStatus::Live, SessionAccess::Public, false, false);
        let host = admit_to_session(user(1), Some(&facts)).unwrap().grant;
        assert_eq!(host.can_publish, Some(true));
        assert_eq!(host.can_publish_sources, vec![TrackSource::Camera, TrackSource::Microphone]);
        assert!(!host.hidden, "the viewers see the host");
        let viewer = admit_to_session(user(2), Some(&facts)).unwrap().grant;
        assert_eq!((viewer.can_publish, viewer.can_publish_data, viewer.can_subscribe), (Some(false), Some(false), Some(true)));
        assert!(viewer.hidden, "a viewer sees no other viewer");
        let audio = SessionFacts { session_type: SessionType::AudioLive, ..facts };
        assert_eq!(admit_to_session(user(1), Some(&audio)).unwrap().grant.can_publish_sources, vec![TrackSource::Microphone]);
    }

    #[test]
    fn paid_error_names_the_price() {
        let facts = session(SessionStatus::Live, SessionAccess::Paid, false, false);
        let error = admit_to_session(user(2), Some(&facts)).unwrap_err();
        assert_eq!(error.message(crate::errors::Language::Tr), "Bu yayını izlemek için 250 coin gerekli");
    }

    #[test]
    fn call_admission_table() {
        for status in CallStatus::ALL {
            let facts = CallFacts { caller_id: user(1), callee_id: user(2), status: *status, call_type: CallType::Audio, room_name: "call_x".to_owned() };
            let (caller, callee): (Result<Role, &str>, Result<Role, &str>) = match status {
                CallStatus::Accepted | CallStatus::Live => (Ok(Role::Caller), Ok(Role::Callee)),
                CallStatus::Ringing => (Ok(Role::Caller), Err("CALL_NOT_ACTIVE")),
                CallStatus::Initiated => (Err("CALL_NOT_ACTIVE"), Err("CALL_NOT_ACTIVE")),
                _ => (Err("CALL_ENDED"), Err("CALL_ENDED")),
            };
            assert_eq!(code(admit_to_call(user(1), Some(&facts))), caller, "{status:?}");
            assert_eq!(code(admit_to_call(user(2), Some(&facts))), callee, "{status:?}");
            assert_eq!(code(admit_to_call(user(3), Some(&facts))), Err("FORBIDDEN"), "{status:?}");
        }
        assert_eq!(code(admit_to_call(user(1), None)), Err("CALL_NOT_FOUND"));
    }

    #[test]
    fn call_sources_follow_the_call_type() {
        let mut facts = CallFacts { caller_id: user(1), callee_id: user(2), status: CallStatus::Live, call_type: CallType::Audio, room_name: "c".to_owned() };
        assert_eq!(admit_to_call(user(1), Some(&facts)).unwrap().grant.can_publish_sources, vec![TrackSource::Microphone]);
        facts.call_type = CallType::Video;
        assert_eq!(admit_to_call(user(2), Some(&facts)).unwrap().grant.can_publish_sources, vec![TrackSource::Camera, TrackSource::Microphone]);
        for party in [user(1), user(2)] {
            assert!(!admit_to_call(party, Some(&facts)).unwrap().grant.hidden, "the parties see each other");
        }
    }
}
