//! A fake LiveKit server API (Twirp RoomService) on 127.0.0.1.
//!
//! It checks each request's bearer token with the official `livekit-api`
//! verifier and the grant each method needs, as LiveKit does, records every
//! request, and answers as the test sets it to: normally, with a 500, or never.
//! Tests put participants in rooms as LiveKit would have them once the app's
//! clients joined; `ListParticipants` reports them.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

use crate::fake_server::json;
use livekit_api::access_token::{Claims, TokenVerifier};

/// How the fake answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Fail,
    Hang,
}

/// A participant's `ParticipantInfo.State`, as LiveKit reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParticipantState {
    Joining,
    Joined,
    Active,
    Disconnected,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub body: serde_json::Value,
    /// The verified claims; `None` when the token was refused (answered 401).
    pub claims: Option<Claims>,
}

/// A running fake.
pub struct FakeLiveKit {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    mode: Mode,
    /// Rooms `ListRooms` reports, with their participant counts.
    rooms: Vec<(String, u32)>,
    /// Participants `ListParticipants` reports per room: (identity, state).
    participants: std::collections::BTreeMap<String, Vec<(String, ParticipantState)>>,
    received: Vec<Received>,
    verifier: TokenVerifier,
}

impl FakeLiveKit {
    /// Starts a fake that accepts tokens signed with `api_key` / `api_secret`.
    pub async fn start(api_key: &str, api_secret: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("bound address"));
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Normal,
            rooms: Vec::new(),
            participants: Default::default(),
            received: Vec::new(),
            verifier: TokenVerifier::with_api_key(api_key, api_secret),
        }));
        let task = crate::fake_server::spawn(listener, state.clone(), answer);
        Self { url, state, task }
    }

    /// Changes how the fake answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().expect("fake state").mode = mode;
    }

    /// Sets the rooms that exist and how many participants each has.
    pub fn set_rooms(&self, rooms: &[(&str, u32)]) {
        self.state.lock().expect("fake state").rooms = rooms.iter().map(|(name, n)| ((*name).to_owned(), *n)).collect();
    }

    /// Sets who is in `room` (their identities, our user ids), all `ACTIVE`.
    pub fn set_participants(&self, room: &str, identities: &[&str]) {
        let participants = identities.iter().map(|identity| ((*identity).to_owned(), ParticipantState::Active)).collect();
        self.set_participants_in_states(room, participants);
    }

    /// Sets who is in `room` and in which state; empty: nobody.
    pub fn set_participants_in_states(&self, room: &str, participants: Vec<(String, ParticipantState)>) {
        self.state.lock().expect("fake state").participants.insert(room.to_owned(), participants);
    }

    /// Requests of one method.
    pub fn received_method(&self, method: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.method == method).collect()
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("fake state").received.clone()
    }

    /// The `host:port` part, for allow-lists.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for FakeLiveKit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    let method = request.uri().path().rsplit('/').next().unwrap_or("").to_owned();
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    // Twirp speaks JSON (our components) and protobuf (LiveKit's own SDKs).
    let protobuf = request.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/protobuf"));
    let raw = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: serde_json::Value = if protobuf { protobuf_request_as_json(&method, &raw) } else { serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null) };
    let (mode, claims, rooms, participants) = {
        let mut state = state.lock().expect("fake state");
        let claims = token.and_then(|t| state.verifier.verify(&t).ok());
        state.received.push(Received { method: method.clone(), body: body.clone(), claims: claims.clone() });
        let room = body.get("room").and_then(|r| r.as_str()).unwrap_or("");
        (state.mode, claims, state.rooms.clone(), state.participants.get(room).cloned().unwrap_or_default())
    };
    match mode {
        Mode::Hang => std::future::pending::<()>().await,
        Mode::Fail => return Ok(twirp_error(500, "internal", "scripted failure")),
        Mode::Normal => {}
    }
    let Some(claims) = claims else {
        return Ok(twirp_error(401, "unauthenticated", "invalid token"));
    };
    let room = body.get("room").and_then(|r| r.as_str()).unwrap_or("");
    let permitted = match method.as_str() {
        "DeleteRoom" => claims.video.room_create,
        "ListRooms" => claims.video.room_list,
        "SendData" | "ListParticipants" => claims.video.room_admin && claims.video.room == room,
        _ => return Ok(twirp_error(404, "bad_route", "no such method")),
    };
    if !permitted {
        return Ok(twirp_error(403, "permission_denied", "missing grant"));
    }
    let answer = match method.as_str() {
        "ListRooms" => {
            // protojson: zero counts are left out, as LiveKit's server does.
            let wanted: Vec<&str> = body["names"].as_array().map(|n| n.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
            let rooms: Vec<serde_json::Value> = rooms
                .iter()
                .filter(|(name, _)| wanted.is_empty() || wanted.contains(&name.as_str()))
                .map(|(name, participants)| {
                    let mut room = serde_json::json!({ "sid": format!("RM_{name}"), "name": name, "emptyTimeout": 300 });
                    if *participants > 0 {
                        room["numParticipants"] = (*participants).into();
                    }
                    room
                })
                .collect();
            serde_json::json!({ "rooms": rooms })
        }
        // protojson: JOINING (0) and an empty list are left out, as LiveKit's server does.
        "ListParticipants" if participants.is_empty() => serde_json::json!({}),
        "ListParticipants" => {
            let participants: Vec<serde_json::Value> = participants
                .iter()
                .map(|(identity, state)| {
                    let mut participant = serde_json::json!({ "sid": format!("PA_{identity}"), "identity": identity, "name": identity });
                    if let Some(name) = state.protojson_name() {
                        participant["state"] = name.into();
                    }
                    participant
                })
                .collect();
            serde_json::json!({ "participants": participants })
        }
        _ => serde_json::json!({}),
    };
    if protobuf {
        return Ok(protobuf_answer(&method, &answer));
    }
    Ok(json(200, &answer))
}

/// The fields of a protobuf request the fake looks at, as JSON.
fn protobuf_request_as_json(method: &str, raw: &[u8]) -> serde_json::Value {
    use livekit_protocol as proto;
    use prost::Message as _;
    match method {
        "ListRooms" => proto::ListRoomsRequest::decode(raw).map(|r| serde_json::json!({ "names": r.names })).unwrap_or_default(),
        "DeleteRoom" => proto::DeleteRoomRequest::decode(raw).map(|r| serde_json::json!({ "room": r.room })).unwrap_or_default(),
        "SendData" => proto::SendDataRequest::decode(raw).map(|r| serde_json::json!({ "room": r.room, "topic": r.topic })).unwrap_or_default(),
        "ListParticipants" => proto::ListParticipantsRequest::decode(raw).map(|r| serde_json::json!({ "room": r.room })).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

/// The JSON answer re-encoded as LiveKit's protobuf response.
fn protobuf_answer(method: &str, answer: &serde_json::Value) -> hyper::Response<Full<Bytes>> {
    use livekit_protocol as proto;
    use prost::Message as _;
    let bytes = match method {
        "ListRooms" => proto::ListRoomsResponse {
            rooms: answer["rooms"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|room| proto::Room {
                    sid: room["sid"].as_str().unwrap_or("").to_owned(),
                    name: room["name"].as_str().unwrap_or("").to_owned(),
                    num_participants: room["numParticipants"].as_u64().unwrap_or(0) as u32,
                    empty_timeout: 300,
                    ..Default::default()
                })
                .collect(),
        }
        .encode_to_vec(),
        "ListParticipants" => proto::ListParticipantsResponse {
            participants: answer["participants"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|participant| proto::ParticipantInfo {
                    sid: participant["sid"].as_str().unwrap_or("").to_owned(),
                    identity: participant["identity"].as_str().unwrap_or("").to_owned(),
                    name: participant["name"].as_str().unwrap_or("").to_owned(),
                    state: match participant["state"].as_str() {
                        Some("JOINED") => proto::participant_info::State::Joined,
                        Some("ACTIVE") => proto::participant_info::State::Active,
                        Some("DISCONNECTED") => proto::participant_info::State::Disconnected,
                        _ => proto::participant_info::State::Joining,
                    } as i32,
                    ..Default::default()
                })
                .collect(),
        }
        .encode_to_vec(),
        "DeleteRoom" => proto::DeleteRoomResponse::default().encode_to_vec(),
        "SendData" => proto::SendDataResponse::default().encode_to_vec(),
        _ => Vec::new(),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(bytes)));
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/protobuf"));
    response
}

impl ParticipantState {
    /// The protojson enum name; `None` for the zero value, which protojson leaves out.
    fn protojson_name(self) -> Option<&'static str> {
        match self {
            Self::Joining => None,
            Self::Joined => Some("JOINED"),
            Self::Active => Some("ACTIVE"),
            Self::Disconnected => Some("DISCONNECTED"),
        }
    }
}

fn twirp_error(status: u16, code: &str, msg: &str) -> hyper::Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "code": code, "msg": msg }))
}
