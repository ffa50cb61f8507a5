//! The simulated users: each registers its devices, then workers pair idle
//! users and play one call each time (ring, then accept, reject, cancel or
//! let it ring out; after an accept both fetch tokens, LiveKit reports the
//! joins, one hangs up, LiveKit reports the leaves), recording what the
//! client was told.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::client::{Auth, Client, Reply, Route};

/// The users, by index.
pub struct Users {
    pub ids: Vec<Uuid>,
    pub bearers: Vec<String>,
    /// Each user's registered push tokens.
    pub devices: Vec<Vec<String>>,
}

/// How a call is meant to go (the weights are in [`Plan::pick`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Plan {
    Accept,
    Reject,
    Cancel,
    /// Nobody answers: the ring deadline passes (back-dated) and the
    /// callee's late accept finds the call missed.
    RingOut,
    /// Not a plan: call-initiate answered with a call of its key that is
    /// not ringing (its first request died on a killed instance); the
    /// caller cancels it, as the app would.
    Stranded,
}

impl Plan {
    fn pick(random: &mut Random) -> Self {
        match random.below(100) {
            0..60 => Self::Accept,
            60..75 => Self::Reject,
            75..90 => Self::Cancel,
            _ => Self::RingOut,
        }
    }
}

/// One answer about a call, as the client saw it.
#[derive(Clone, Debug)]
pub struct Step {
    pub what: String,
    pub status: Option<u16>,
    pub code: String,
    /// `changed` of a call-action 200.
    pub changed: Option<bool>,
    /// The call's status the answer states (200 `call.status`, 409 `status`).
    pub call_status: Option<String>,
    pub end_reason: Option<String>,
    /// A webhook's `outcome`.
    pub outcome: Option<String>,
}

/// What the client believes happened to one call it started.
#[derive(Clone, Debug)]
pub struct CallHistory {
    pub id: Uuid,
    pub caller: usize,
    pub callee: usize,
    pub plan: Plan,
    pub steps: Vec<Step>,
}

impl CallHistory {
    /// The call's last status any answer stated, and its end reason if one did.
    pub fn believed(&self) -> (Option<String>, Option<String>) {
        let status = self.steps.iter().rev().find_map(|step| step.call_status.clone());
        let reason = self.steps.iter().rev().find_map(|step| step.end_reason.clone());
        (status, reason)
    }
}

/// One webhook delivery.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub event_id: String,
    pub status: Option<u16>,
    pub outcome: Option<String>,
    /// A deliberate second delivery of the same event.
    pub repeat: bool,
}

/// Everything the workers recorded.
#[derive(Default)]
pub struct Journal {
    pub calls: Vec<CallHistory>,
    /// call-initiate answers that were no call of the client's: BUSY
    /// between two users it believed idle, or anything unexpected.
    pub wrong_busy: u64,
    pub unexpected: Vec<String>,
    /// Initiations whose outcome the client never learned.
    pub initiations_unknown: u64,
    /// call-initiate answers naming a call of their key that never rang
    /// (its first request died with an instance): when, which.
    pub stranded: Vec<(Duration, String)>,
    pub deliveries: Vec<Delivery>,
    /// Users left out of the pool: a call of theirs the client lost track of.
    pub quarantined: u64,
}

/// The shared state of the workers.
pub struct Scenario {
    pub client: Arc<Client>,
    pub users: Arc<Users>,
    pub sql: Arc<tokio_postgres::Client>,
    pub ring_timeout_seconds: u64,
    idle: Mutex<Vec<usize>>,
    pub journal: Mutex<Journal>,
}

/// Registers `count` users through `POST /push-token-register` (which
/// creates each `users` row on first write), `concurrency` at a time. One
/// in seven has a second device. Users whose registration failed are left
/// out (and counted in the returned number).
pub async fn register_users(client: &Arc<Client>, count: usize, concurrency: usize, seed: u64) -> (Users, usize) {
    let mut random = Random::new(seed);
    let ids: Vec<Uuid> = (0..count).map(|_| random.uuid()).collect();
    let bearers: Vec<String> = ids.iter().map(|id| crate::users::bearer(*id)).collect();
    let devices: Vec<Vec<String>> = (0..count)
        .map(|index| {
            let devices = if random.below(7) == 0 { 2 } else { 1 };
            (0..devices).map(|device| format!("ExponentPushToken[soak-{index}-{device}]")).collect()
        })
        .collect();
    let jobs: Vec<(usize, String, String)> =
        (0..count).flat_map(|index| devices[index].iter().map(move |token| (index, token.clone(), if index % 2 == 0 { "ios" } else { "android" }.to_owned()))).collect();
    let jobs = Arc::new(Mutex::new(jobs));
    let bearers = Arc::new(bearers);
    let failed = Arc::new(Mutex::new(std::collections::BTreeSet::new()));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (jobs, bearers, failed, client) = (jobs.clone(), bearers.clone(), failed.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((index, token, platform)) = jobs.lock().expect("jobs").pop() else { break };
                let body = json!({ "token": token, "platform": platform }).to_string();
                let reply = client.send(Route::PushTokenRegister, Auth::User(&bearers[index]), &body, None).await;
                if !reply.ok() {
                    failed.lock().expect("failed").insert(index);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let failed = failed.lock().expect("failed").clone();
    let bearers = Arc::try_unwrap(bearers).unwrap_or_else(|shared| (*shared).clone());
    let mut users = Users { ids: Vec::new(), bearers: Vec::new(), devices: Vec::new() };
    for index in 0..count {
        if !failed.contains(&index) {
            users.ids.push(ids[index]);
            users.bearers.push(bearers[index].clone());
            users.devices.push(devices[index].clone());
        }
    }
    (users, failed.len())
}

impl Scenario {
    pub fn new(client: Arc<Client>, users: Users, sql: tokio_postgres::Client, ring_timeout_seconds: u64) -> Self {
        let idle = (0..users.ids.len()).collect();
        Self { client, users: Arc::new(users), sql: Arc::new(sql), ring_timeout_seconds, idle: Mutex::new(idle), journal: Mutex::new(Journal::default()) }
    }

    /// One worker: plays calls between idle users until `deadline` (and at
    /// most `max_calls`), each call to its end.
    pub async fn worker(self: Arc<Self>, seed: u64, deadline: Instant, max_calls: usize) {
        let mut random = Random::new(seed);
        let mut played = 0;
        while Instant::now() < deadline && played < max_calls {
            let Some((caller, callee)) = self.take_two(&mut random) else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            played += 1;
            let settled = self.play(&mut random, caller, callee).await;
            if settled {
                self.idle.lock().expect("idle users").extend([caller, callee]);
            } else {
                self.journal.lock().expect("journal").quarantined += 2;
            }
        }
    }

    fn take_two(&self, random: &mut Random) -> Option<(usize, usize)> {
        let mut idle = self.idle.lock().expect("idle users");
        if idle.len() < 2 {
            return None;
        }
        let first = random.below(idle.len() as u64) as usize;
        let first = idle.swap_remove(first);
        let second = random.below(idle.len() as u64) as usize;
        let second = idle.swap_remove(second);
        Some((first, second))
    }

    /// Plays one call; false when the client lost track of it (its users
    /// then stay out of the pool).
    async fn play(&self, random: &mut Random, caller: usize, callee: usize) -> bool {
        let key = random.uuid().to_string();
        let call_type = if random.below(2) == 0 { "audio" } else { "video" };
        let body = json!({ "calleeId": self.users.ids[callee], "callType": call_type }).to_string();
        let started = self.client.send(Route::CallInitiate, Auth::User(&self.users.bearers[caller]), &body, Some(&key)).await;
        let id = started.body["call"]["id"].as_str().and_then(|id| id.parse::<Uuid>().ok());
        let room = started.body["roomName"].as_str().map(str::to_owned);
        if let (Some(id), Some(409)) = (id, started.status) {
            // As openapi.yaml says a resend answers when its first request's
            // call is neither ringing nor ended; expected only around a kill.
            self.journal.lock().expect("journal").stranded.push((self.client.elapsed(), format!("call {id} {}", started.body["status"])));
            let mut history = CallHistory { id, caller, callee, plan: Plan::Stranded, steps: vec![step("initiate", &started)] };
            let settled = self.hang_up_if_open(&mut history).await;
            self.journal.lock().expect("journal").calls.push(history);
            return settled;
        }
        let (Some(id), Some(room), Some(201)) = (id, room, started.status) else {
            let mut journal = self.journal.lock().expect("journal");
            match (started.status, started.code.as_str()) {
                (Some(409), "BUSY") => journal.wrong_busy += 1,
                _ if !started.definite() => journal.initiations_unknown += 1,
                (status, code) => journal.unexpected.push(format!("call-initiate answered {status:?} {code}: {}", started.body)),
            }
            return started.definite();
        };
        let plan = Plan::pick(random);
        let mut history = CallHistory { id, caller, callee, plan, steps: vec![step("initiate", &started)] };
        match plan {
            Plan::Accept => self.answered(random, &mut history, &room).await,
            Plan::Reject => {
                self.act(&mut history, callee, "reject").await;
                if random.below(20) == 0 {
                    self.act(&mut history, callee, "reject").await;
                }
            }
            Plan::Cancel => {
                self.act(&mut history, caller, "cancel").await;
                if random.below(20) == 0 {
                    self.act(&mut history, caller, "cancel").await;
                }
            }
            Plan::RingOut => {
                // Back-dated rather than waited for (never sleep through a timeout).
                let backdated = self
                    .sql
                    .execute("UPDATE calls SET ringing_at = ringing_at - make_interval(secs => $2) WHERE id = $1", &[&id, &((self.ring_timeout_seconds + 1) as f64)])
                    .await;
                if backdated.is_err() {
                    self.journal.lock().expect("journal").unexpected.push(format!("could not back-date call {id}"));
                }
                self.act(&mut history, callee, "accept").await;
            }
            // Never picked; hang_up_if_open ends it.
            Plan::Stranded => {}
        }
        let settled = self.hang_up_if_open(&mut history).await;
        self.journal.lock().expect("journal").calls.push(history);
        settled
    }

    /// Accepted: tokens, joins (sometimes delivered twice), a hang-up by an
    /// action or by leaving the room, the leaves.
    async fn answered(&self, random: &mut Random, history: &mut CallHistory, room: &str) {
        let (caller, callee) = (history.caller, history.callee);
        let accepted = self.act(history, callee, "accept").await;
        if !accepted.ok() {
            return;
        }
        if random.below(20) == 0 {
            self.act(history, callee, "accept").await;
        }
        for party in [caller, callee] {
            let body = json!({ "callId": history.id }).to_string();
            let reply = self.client.send(Route::GetLivekitToken, Auth::User(&self.users.bearers[party]), &body, None).await;
            let mut token = step("token", &reply);
            token.call_status = None;
            history.steps.push(token);
        }
        let joined_at = crate::webhooks::now();
        for party in [caller, callee] {
            self.webhook(random, history, room, party, "participant_joined", joined_at, None).await;
        }
        // A leave is newer than the join (same-second events favour the join).
        let left_at = joined_at + 1;
        let first = if random.below(2) == 0 { caller } else { callee };
        let second = if first == caller { callee } else { caller };
        if random.below(5) == 0 {
            // Hung up by leaving the room: LiveKit says so, then the other's end is a repeat.
            self.webhook(random, history, room, first, "participant_left", left_at, Some("CLIENT_INITIATED")).await;
            self.act(history, second, "end").await;
        } else {
            self.act(history, first, "end").await;
            self.webhook(random, history, room, first, "participant_left", left_at, Some("CLIENT_INITIATED")).await;
        }
        self.webhook(random, history, room, second, "participant_left", left_at, Some("CLIENT_INITIATED")).await;
    }

    /// Ends a call the plan left open (an answer lost for good): the caller
    /// cancels, or ends what is already answered. False when it stays unknown.
    async fn hang_up_if_open(&self, history: &mut CallHistory) -> bool {
        for _ in 0..3 {
            let (status, _) = history.believed();
            let action = match status.as_deref() {
                Some(status) if is_terminal(status) => return true,
                Some("accepted" | "live") => "end",
                _ => "cancel",
            };
            let caller = history.caller;
            let reply = self.act(history, caller, action).await;
            if !reply.definite() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        history.believed().0.as_deref().is_some_and(is_terminal)
    }

    async fn act(&self, history: &mut CallHistory, user: usize, action: &str) -> Reply {
        let body = json!({ "callId": history.id, "action": action }).to_string();
        let reply = self.client.send(Route::CallAction, Auth::User(&self.users.bearers[user]), &body, None).await;
        let who = if user == history.caller { "caller" } else { "callee" };
        history.steps.push(step(&format!("{who} {action}"), &reply));
        reply
    }

    #[allow(clippy::too_many_arguments)]
    async fn webhook(&self, random: &mut Random, history: &mut CallHistory, room: &str, user: usize, event: &str, created_at: u64, reason: Option<&str>) {
        let event_id = format!("EV_{}", random.uuid().simple());
        let body = crate::webhooks::participant(&event_id, event, room, &self.users.ids[user].to_string(), created_at, reason);
        let times = if random.below(20) == 0 { 2 } else { 1 };
        for delivery in 0..times {
            let reply = self.client.send(Route::LivekitWebhook, Auth::Webhook, &body, None).await;
            let outcome = reply.body["outcome"].as_str().map(str::to_owned);
            let mut recorded = step(&format!("webhook {event}"), &reply);
            recorded.call_status = outcome.as_deref().and_then(|outcome| outcome.strip_prefix("applied: call ")).map(str::to_owned);
            recorded.outcome = outcome.clone();
            history.steps.push(recorded);
            self.journal.lock().expect("journal").deliveries.push(Delivery { event_id: event_id.clone(), status: reply.status, outcome, repeat: delivery > 0 });
        }
    }
}

fn step(what: &str, reply: &Reply) -> Step {
    let call = &reply.body["call"];
    let call_status = call["status"].as_str().or_else(|| reply.body["status"].as_str()).map(str::to_owned);
    Step {
        what: what.to_owned(),
        status: reply.status,
        code: reply.code.clone(),
        changed: reply.body["changed"].as_bool(),
        call_status,
        end_reason: call["endReason"].as_str().map(str::to_owned),
        outcome: None,
    }
}

/// `domain::call::CallStatus::is_terminal` by name.
pub fn is_terminal(status: &str) -> bool {
    domain::call::CallStatus::parse(status).is_some_and(|status| status.is_terminal())
}

/// Counts by key, for the report.
pub fn tally<K: Ord>(items: impl IntoIterator<Item = K>) -> BTreeMap<K, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0) += 1;
    }
    counts
}

/// A small seeded generator (splitmix64): the same seed plays the same choices.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-enough in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }

    /// A version-4 UUID from the generator.
    pub fn uuid(&mut self) -> Uuid {
        let bytes = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        uuid::Builder::from_random_bytes(bytes.to_le_bytes()).into_uuid()
    }
}
