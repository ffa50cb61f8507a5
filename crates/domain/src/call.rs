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

enum_str! {
    /// `calls.end_reason`.
    pub enum CallEndReason {
        UserEnded = "user_ended",
        PushFailed = "push_failed",
        NoPushToken = "no_push_token",
        PushTimeout = "push_timeout",
        NoAnswer = "no_answer",
        JoinTimeout = "join_timeout",
        MaxDuration = "max_duration",
        NetworkFailure = "network_failure",
        Rejected = "rejected",
        Cancelled = "cancelled",
        Busy = "busy",
    }
}

enum_str! {
    /// What a party asks `POST /call-action` to do.
    pub enum CallAction {
        Accept = "accept",
        Reject = "reject",
        Cancel = "cancel",
        End = "end",
    }
}

/// Everything that moves a call: the parties' actions and what the system
/// observes (push results, webhooks, deadlines).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallEvent {
    Action(CallAction),
    PushAccepted,
    PushFailed,
    NoPushToken,
    InitiateTimeout,
    RingTimeout,
    JoinTimeout,
    BothJoined,
    PartyLeft,
    NetworkFailure,
    MaxDuration,
}

/// Who may cause an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Caller,
    Callee,
    EitherParty,
    System,
}

/// One row of the transition table: `event` by `actor` moves a call in any
/// of `from` to `to`, recording `end_reason` when `to` is terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub event: CallEvent,
    pub actor: Actor,
    pub from: &'static [CallStatus],
    pub to: CallStatus,
    pub end_reason: Option<CallEndReason>,
}

/// A party of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Caller,
    Callee,
}

/// What `POST /call-action` should do, decided from the call's current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionDecision {
    /// Run the guarded UPDATE for this transition.
    Apply(&'static Transition),
    /// The action already happened: answer 200 with the current state.
    AlreadyDone,
    /// The ring deadline passed: 410 CALL_EXPIRED.
    Expired,
    /// This party may not do this: 403 FORBIDDEN.
    NotYours,
    /// Impossible now: 409 INVALID_TRANSITION with the current status.
    Invalid,
}

use CallStatus as S;

/// The seed's call state machine (section 2), once, as data. Components
/// enforce it with `UPDATE ... WHERE status = ANY(from)`.
pub const TRANSITIONS: &[Transition] = &[
    Transition { event: CallEvent::PushAccepted, actor: Actor::System, from: &[S::Initiated], to: S::Ringing, end_reason: None },
    Transition { event: CallEvent::PushFailed, actor: Actor::System, from: &[S::Initiated], to: S::Failed, end_reason: Some(CallEndReason::PushFailed) },
    Transition { event: CallEvent::NoPushToken, actor: Actor::System, from: &[S::Initiated], to: S::Failed, end_reason: Some(CallEndReason::NoPushToken) },
    Transition { event: CallEvent::InitiateTimeout, actor: Actor::System, from: &[S::Initiated], to: S::Failed, end_reason: Some(CallEndReason::PushTimeout) },
    Transition { event: CallEvent::RingTimeout, actor: Actor::System, from: &[S::Ringing], to: S::Missed, end_reason: Some(CallEndReason::NoAnswer) },
    Transition { event: CallEvent::Action(CallAction::Accept), actor: Actor::Callee, from: &[S::Ringing], to: S::Accepted, end_reason: None },
    Transition { event: CallEvent::Action(CallAction::Reject), actor: Actor::Callee, from: &[S::Ringing], to: S::Rejected, end_reason: Some(CallEndReason::Rejected) },
    Transition { event: CallEvent::Action(CallAction::Cancel), actor: Actor::Caller, from: &[S::Initiated, S::Ringing], to: S::Cancelled, end_reason: Some(CallEndReason::Cancelled) },
    Transition { event: CallEvent::JoinTimeout, actor: Actor::System, from: &[S::Accepted], to: S::Failed, end_reason: Some(CallEndReason::JoinTimeout) },
    Transition { event: CallEvent::BothJoined, actor: Actor::System, from: &[S::Accepted], to: S::Live, end_reason: None },
    Transition { event: CallEvent::Action(CallAction::End), actor: Actor::EitherParty, from: &[S::Accepted, S::Live], to: S::Ended, end_reason: Some(CallEndReason::UserEnded) },
    Transition { event: CallEvent::PartyLeft, actor: Actor::System, from: &[S::Accepted, S::Live], to: S::Ended, end_reason: Some(CallEndReason::UserEnded) },
    Transition { event: CallEvent::NetworkFailure, actor: Actor::System, from: &[S::Live], to: S::Failed, end_reason: Some(CallEndReason::NetworkFailure) },
    Transition { event: CallEvent::MaxDuration, actor: Actor::System, from: &[S::Live], to: S::Ended, end_reason: Some(CallEndReason::MaxDuration) },
];

impl Transition {
    /// Whether a Postgres crash may lose this transition's commit
    /// (`synchronous_commit = off` for it alone). Only `initiated → ringing`:
    /// the `initiated` row it moves is durable, nothing but this commit
    /// needs it, and a call found `initiated` after a crash is failed by the
    /// sweep's initiate timeout like any push that never finished. Every
    /// other transition ends, answers or bills a call and must survive.
    pub fn commit_may_be_lost(&self) -> bool {
        self.event == CallEvent::PushAccepted
    }
}

/// Whether moving a call out of `from` by `t` stops a ring that may have
/// reached the callee's devices, so queues one stop-ringing push per rung
/// device (trigger `calls_stop_ringing`, whose `WHEN` the drift test keeps
/// equal to this): every move out of `ringing`, and every end of an
/// `initiated` call but `no_push_token` (it rang nobody). An `initiated`
/// call's ring may have left before the instance died or the push timed out;
/// a stop for a ring that never arrived is ignored by the device.
pub fn stops_ringing(from: CallStatus, t: &Transition) -> bool {
    t.from.contains(&from)
        && match from {
            S::Ringing => true,
            S::Initiated => t.to.is_terminal() && t.event != CallEvent::NoPushToken,
            _ => false,
        }
}

impl CallStatus {
    /// The `status` a `call_ended` push carries for a call that stopped
    /// ringing in this state: `failed` (its ring push timed out or never
    /// finished) reads as `missed` on the device, whose kit knows only the
    /// states a ringing call moves to.
    pub fn told_when_ring_stops(self) -> CallStatus {
        match self {
            Self::Failed => Self::Missed,
            other => other,
        }
    }
}

/// The active states: a user is in at most one call in these.
pub const ACTIVE: &[CallStatus] = &[S::Initiated, S::Ringing, S::Accepted, S::Live];

/// The transition for `event`. Invariant: every event has exactly one row.
pub fn transition(event: CallEvent) -> &'static Transition {
    TRANSITIONS
        .iter()
        .find(|t| t.event == event)
        .expect("every CallEvent has a row in TRANSITIONS")
}

/// The transition `event` causes from `status`, if any.
pub fn next(status: CallStatus, event: CallEvent) -> Option<&'static Transition> {
    let transition = transition(event);
    transition.from.contains(&status).then_some(transition)
}

/// Decides a party's action on a call that is now in `status`.
pub fn decide(action: CallAction, party: Party, status: CallStatus) -> ActionDecision {
    let transition = transition(CallEvent::Action(action));
    let allowed = matches!(
        (transition.actor, party),
        (Actor::EitherParty, _) | (Actor::Caller, Party::Caller) | (Actor::Callee, Party::Callee)
    );
    if !allowed {
        return ActionDecision::NotYours;
    }
    if transition.from.contains(&status) {
        ActionDecision::Apply(transition)
    } else if status == transition.to {
        ActionDecision::AlreadyDone
    } else if action == CallAction::Accept && status == S::Missed {
        ActionDecision::Expired
    } else {
        ActionDecision::Invalid
    }
}

impl CallStatus {
    /// The column that records when a call entered this state.
    pub fn timestamp_column(self) -> &'static str {
        match self {
            Self::Initiated => "created_at",
            Self::Ringing => "ringing_at",
            Self::Accepted => "accepted_at",
            Self::Live => "live_at",
            _ => "ended_at",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_one_row_and_terminal_states_have_reasons() {
        let events = [
            CallEvent::Action(CallAction::Accept),
            CallEvent::Action(CallAction::Reject),
            CallEvent::Action(CallAction::Cancel),
            CallEvent::Action(CallAction::End),
            CallEvent::PushAccepted,
            CallEvent::PushFailed,
            CallEvent::NoPushToken,
            CallEvent::InitiateTimeout,
            CallEvent::RingTimeout,
            CallEvent::JoinTimeout,
            CallEvent::BothJoined,
            CallEvent::PartyLeft,
            CallEvent::NetworkFailure,
            CallEvent::MaxDuration,
        ];
        assert_eq!(events.len(), TRANSITIONS.len());
        for event in events {
            assert_eq!(TRANSITIONS.iter().filter(|t| t.event == event).count(), 1, "{event:?}");
            let t = transition(event);
            assert_eq!(t.to.is_terminal(), t.end_reason.is_some(), "{event:?}");
            assert!(t.from.iter().all(|s| !s.is_terminal()), "{event:?} leaves a terminal state");
        }
    }

    #[test]
    fn terminal_states_are_final_for_every_event() {
        for status in CallStatus::ALL.iter().filter(|s| s.is_terminal()) {
            for t in TRANSITIONS {
                assert!(next(*status, t.event).is_none(), "{status:?} {:?}", t.event);
            }
        }
    }

    #[test]
    fn every_state_times_every_action_for_both_parties() {
        use ActionDecision::*;
        use CallAction::*;
        // (action, party, status) -> expected; written out in full so a change shows up here.
        let expected = |action: CallAction, party: Party, status: CallStatus| -> ActionDecision {
            match (action, party, status) {
                (Accept, Party::Caller, _) | (Reject, Party::Caller, _) | (Cancel, Party::Callee, _) => NotYours,
                (Accept, Party::Callee, S::Ringing) => Apply(transition(CallEvent::Action(Accept))),
                (Accept, Party::Callee, S::Accepted) => AlreadyDone,
                (Accept, Party::Callee, S::Missed) => Expired,
                (Reject, Party::Callee, S::Ringing) => Apply(transition(CallEvent::Action(Reject))),
                (Reject, Party::Callee, S::Rejected) => AlreadyDone,
                (Cancel, Party::Caller, S::Initiated | S::Ringing) => Apply(transition(CallEvent::Action(Cancel))),
                (Cancel, Party::Caller, S::Cancelled) => AlreadyDone,
                (End, _, S::Accepted | S::Live) => Apply(transition(CallEvent::Action(End))),
                (End, _, S::Ended) => AlreadyDone,
                _ => Invalid,
            }
        };
        for action in CallAction::ALL {
            for party in [Party::Caller, Party::Callee] {
                for status in CallStatus::ALL {
                    assert_eq!(decide(*action, party, *status), expected(*action, party, *status), "{action:?} {party:?} {status:?}");
                }
            }
        }
    }

    #[test]
    fn the_seed_paths() {
        let path = |start: CallStatus, events: &[CallEvent]| {
            events.iter().try_fold(start, |status, event| next(status, *event).map(|t| t.to))
        };
        use CallEvent::*;
        assert_eq!(path(S::Initiated, &[PushAccepted, Action(CallAction::Accept), BothJoined, Action(CallAction::End)]), Some(S::Ended));
        assert_eq!(path(S::Initiated, &[PushAccepted, RingTimeout]), Some(S::Missed));
        assert_eq!(path(S::Initiated, &[PushAccepted, Action(CallAction::Reject)]), Some(S::Rejected));
        assert_eq!(path(S::Initiated, &[PushAccepted, Action(CallAction::Accept), BothJoined, NetworkFailure]), Some(S::Failed));
        assert_eq!(path(S::Initiated, &[PushAccepted, Action(CallAction::Accept), BothJoined, MaxDuration]), Some(S::Ended));
        assert_eq!(path(S::Initiated, &[InitiateTimeout]), Some(S::Failed));
        let lossy: Vec<CallEvent> = TRANSITIONS.iter().filter(|t| t.commit_may_be_lost()).map(|t| t.event).collect();
        assert_eq!(lossy, [PushAccepted], "only the ring may skip the WAL flush; the sweep recovers it");
        assert_eq!(path(S::Initiated, &[PushAccepted, Action(CallAction::Accept), Action(CallAction::Reject)]), None);
    }

    #[test]
    fn which_ends_stop_the_ring() {
        use CallEvent::*;
        let stopping = |from: CallStatus| -> Vec<CallEvent> { TRANSITIONS.iter().filter(|t| stops_ringing(from, t)).map(|t| t.event).collect() };
        assert_eq!(stopping(S::Initiated), [PushFailed, InitiateTimeout, Action(CallAction::Cancel)]);
        assert_eq!(stopping(S::Ringing), [RingTimeout, Action(CallAction::Accept), Action(CallAction::Reject), Action(CallAction::Cancel)]);
        for status in CallStatus::ALL.iter().filter(|s| !matches!(s, S::Initiated | S::Ringing)) {
            assert!(stopping(*status).is_empty(), "{status:?}");
        }
        // The trigger tells an initiated call's stopping ends apart by end_reason.
        let reasons: Vec<_> = TRANSITIONS.iter().filter(|t| t.from.contains(&S::Initiated) && t.to.is_terminal()).map(|t| t.end_reason).collect();
        assert!(reasons.iter().all(Option::is_some));
        assert_eq!(reasons.iter().collect::<std::collections::HashSet<_>>().len(), reasons.len());
        // Every status a stop carries is one a ringing call moves to (openapi's CallEndedStatus).
        let out_of_ringing: Vec<CallStatus> = TRANSITIONS.iter().filter(|t| t.from.contains(&S::Ringing)).map(|t| t.to).collect();
        for from in [S::Initiated, S::Ringing] {
            for t in TRANSITIONS.iter().filter(|t| stops_ringing(from, t)) {
                assert!(out_of_ringing.contains(&t.to.told_when_ring_stops()), "{:?}", t.event);
            }
        }
    }

    #[test]
    fn random_event_sequences_never_leave_a_terminal_state() {
        // A small deterministic generator: no extra dependency, same run every time.
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut random = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..10_000 {
            let mut status = S::Initiated;
            for _ in 0..12 {
                let t = &TRANSITIONS[(random() % TRANSITIONS.len() as u64) as usize];
                match next(status, t.event) {
                    Some(t) => {
                        assert!(!status.is_terminal());
                        status = t.to;
                    }
                    None => assert!(status.is_terminal() || !t.from.contains(&status)),
                }
            }
        }
    }
}
