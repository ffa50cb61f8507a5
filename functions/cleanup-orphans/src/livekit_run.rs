//! LiveKit as one run sees it: every call ends by the run's deadline, and
//! once LiveKit failed to answer, the run asks it nothing more. An outage
//! costs a run one call's attempts, not three per row.

use std::time::Instant;

use component_kit::livekit::SpinTransport;
use component_kit::outbound::with_timeout;
use domain::livekit_token::MintError;
use domain::roomservice::{self, RetrySchedule, RoomService, RoomServiceError, TwirpRequest};
use domain::sweep;
use serde_json::{Map, Value};

/// What became of one call.
pub enum Called {
    Answered(Value),
    /// LiveKit refused this request (or its answer made no sense): counted
    /// as an error; other requests may still succeed.
    Refused,
    /// No answer within the attempts or the deadline: counted as an error,
    /// and the run sends nothing more.
    Unreachable,
    /// Not sent: LiveKit did not answer earlier in this run, or the
    /// deadline is too near. The work waits for the next run.
    NotSent,
}

pub struct LiveKitRun {
    pub service: RoomService,
    schedule: RetrySchedule,
    deadline: Instant,
    unreachable: bool,
    /// Calls that failed (`livekitErrors` in the summary).
    pub errors: u64,
    /// A call was cut or not sent because of the deadline.
    pub deadline_reached: bool,
}

impl LiveKitRun {
    pub fn new(service: RoomService, schedule: RetrySchedule, deadline: Instant) -> Self {
        Self { service, schedule, deadline, unreachable: false, errors: 0, deadline_reached: false }
    }

    /// Sends `request` (named `what` in the log) with the run's retry
    /// schedule, each attempt's timeout and the whole call cut to the time left.
    pub async fn call(&mut self, what: &str, request: Result<TwirpRequest, MintError>) -> Called {
        if self.unreachable {
            return Called::NotSent;
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let Some(schedule) = sweep::schedule_within(self.schedule, remaining) else {
            self.deadline_reached = true;
            return Called::NotSent;
        };
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                self.error(what, &error.to_string());
                return Called::Refused;
            }
        };
        match with_timeout(remaining, roomservice::call(&SpinTransport, &request, schedule)).await {
            Some(Ok(answer)) => Called::Answered(answer),
            Some(Err(error @ RoomServiceError::Unreachable { .. })) => {
                self.unreachable = true;
                self.error(what, &error.to_string());
                Called::Unreachable
            }
            Some(Err(error)) => {
                self.error(what, &error.to_string());
                Called::Refused
            }
            None => {
                self.unreachable = true;
                self.deadline_reached = true;
                self.error(what, "no answer before the run's deadline (sweep_deadline_seconds)");
                Called::Unreachable
            }
        }
    }

    /// Counts and logs a failed call, e.g. an answer the sweep cannot read.
    pub fn error(&mut self, what: &str, reason: &str) {
        self.errors += 1;
        let mut fields = Map::new();
        fields.insert("call".into(), what.into());
        fields.insert("error".into(), reason.into());
        component_kit::log::line("warn", "cleanup-orphans", "livekit error", fields);
    }
}
