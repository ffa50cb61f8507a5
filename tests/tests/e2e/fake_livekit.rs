//! The fake LiveKit answers as LiveKit does: checked by calling it with the
//! official `livekit-api` `RoomClient` (protobuf Twirp, LiveKit's own tokens).

use e2e::app::{LIVEKIT_KEY, LIVEKIT_SECRET};
use e2e::fake_livekit::{FakeLiveKit, Mode, ParticipantState};
use livekit_api::services::room::RoomClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_room_client_agrees_with_the_fake() {
    let fake = FakeLiveKit::start(LIVEKIT_KEY, LIVEKIT_SECRET).await;
    fake.set_rooms(&[("live_a", 2), ("live_b", 0), ("live_c", 1)]);
    let client = RoomClient::with_api_key(&fake.url, LIVEKIT_KEY, LIVEKIT_SECRET);

    let rooms = client.list_rooms(vec!["live_a".into(), "live_b".into(), "live_gone".into()]).await.expect("ListRooms");
    let mut seen: Vec<(String, u32)> = rooms.iter().map(|r| (r.name.clone(), r.num_participants)).collect();
    seen.sort();
    assert_eq!(seen, vec![("live_a".to_owned(), 2), ("live_b".to_owned(), 0)], "named rooms only; a missing room is absent");
    client.delete_room("live_b").await.expect("DeleteRoom");
    let received = fake.received();
    assert_eq!(received[0].body["names"].as_array().unwrap().len(), 3);
    assert!(received[0].claims.as_ref().unwrap().video.room_list, "LiveKit's client sends roomList for ListRooms");
    assert_eq!(received[1].body["room"], "live_b");
    assert!(received[1].claims.as_ref().unwrap().video.room_create, "and roomCreate for DeleteRoom");

    // Participants a test put in a room, as the official client reads them.
    fake.set_participants_in_states("call_a", vec![("caller".into(), ParticipantState::Active), ("callee".into(), ParticipantState::Joining)]);
    let participants = client.list_participants("call_a").await.expect("ListParticipants");
    let seen: Vec<(String, i32)> = participants.iter().map(|p| (p.identity.clone(), p.state)).collect();
    assert_eq!(seen, vec![("caller".to_owned(), 2), ("callee".to_owned(), 0)]);
    assert!(client.list_participants("call_empty").await.expect("an unknown room").is_empty());
    let asked = fake.received_method("ListParticipants");
    assert_eq!(asked[0].body["room"], "call_a");
    assert!(asked[0].claims.as_ref().unwrap().video.room_admin, "LiveKit's client sends roomAdmin for ListParticipants");

    // Wrong keys are refused, as LiveKit refuses them.
    let stranger = RoomClient::with_api_key(&fake.url, LIVEKIT_KEY, "not-the-secret");
    assert!(stranger.list_rooms(vec![]).await.is_err());
    // A failing server is an error for the official client too.
    fake.set_mode(Mode::Fail);
    assert!(client.list_rooms(vec![]).await.is_err());
}
