//! Delivery order does not matter: 2,000 events for 50 rooms, 20% delivered
//! twice and shuffled within each room's neighbourhood, sent by 16 parallel
//! senders, leave the same rows as the same events delivered once, in order.

use std::sync::{Arc, Mutex};

use e2e::app::App;
use e2e::webhooks::{now, participant};
use uuid::Uuid;

const ROOMS: usize = 50;
const EVENTS_PER_ROOM: usize = 40;
const PARTICIPANTS: usize = 4; // the host and three viewers
const SENDERS: usize = 16;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// Every room's events in delivery order (per participant: strictly newer).
fn events(sessions: &[(Uuid, Uuid)], rng: &mut Rng) -> Vec<Vec<String>> {
    let reasons = ["CLIENT_INITIATED", "SIGNAL_CLOSE", "CONNECTION_TIMEOUT", "MEDIA_FAILURE", "UNKNOWN_REASON"];
    let start = now() - 20_000;
    sessions
        .iter()
        .map(|(session, host)| {
            let room = format!("live_{}", session.simple());
            let people: Vec<String> = std::iter::once(host.to_string()).chain((1..PARTICIPANTS).map(|_| Uuid::new_v4().to_string())).collect();
            let mut present = vec![false; PARTICIPANTS];
            (0..EVENTS_PER_ROOM)
                .map(|index| {
                    let who = (rng.next() as usize) % PARTICIPANTS;
                    let at = start + index as u64 * 3;
                    let id = format!("EV_{}", Uuid::new_v4().simple());
                    present[who] = !present[who];
                    if present[who] {
                        participant(&id, "participant_joined", &room, &people[who], at, None)
                    } else if rng.next() % 5 == 0 {
                        participant(&id, "participant_connection_aborted", &room, &people[who], at, None)
                    } else {
                        participant(&id, "participant_left", &room, &people[who], at, Some(reasons[(rng.next() as usize) % reasons.len()]))
                    }
                })
                .collect()
        })
        .collect()
}

async fn app_with(sessions: &[(Uuid, Uuid)]) -> App {
    let app = App::start_with(&[("host_grace_seconds", "1000000")]).await;
    let sql = app.sql().await;
    for (session, host) in sessions {
        sql.execute(
            "INSERT INTO live_sessions (id, creator_id, type, livekit_room_name) VALUES ($1, $2, 'video_live', $3)",
            &[session, host, &format!("live_{}", session.simple())],
        )
        .await
        .unwrap();
    }
    app
}

async fn final_rows(app: &App) -> Vec<String> {
    let sql = app.sql().await;
    let mut rows: Vec<String> = sql
        .query("SELECT livekit_room_name, status, host_left_at::text, end_reason FROM live_sessions ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{:?} {:?} {:?} {:?}", r.get::<_, String>(0), r.get::<_, String>(1), r.get::<_, Option<String>>(2), r.get::<_, Option<String>>(3)))
        .collect();
    rows.extend(
        sql.query("SELECT room_name, identity, present, event_at::text, event_rank, left_reason FROM room_participants ORDER BY 1, 2", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {} {} {:?}",
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, bool>(2),
                    r.get::<_, String>(3),
                    r.get::<_, i16>(4),
                    r.get::<_, Option<String>>(5)
                )
            }),
    );
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shuffled_duplicated_parallel_delivery_leaves_the_in_order_rows() {
    let mut rng = Rng(7);
    let sessions: Vec<(Uuid, Uuid)> = (0..ROOMS).map(|_| (Uuid::new_v4(), Uuid::new_v4())).collect();
    let per_room = events(&sessions, &mut rng);
    assert_eq!(per_room.iter().map(Vec::len).sum::<usize>(), 2000);

    let in_order = app_with(&sessions).await;
    for room_events in &per_room {
        for body in room_events {
            assert_eq!(in_order.webhook(body).await.status, 200);
        }
    }

    // Duplicate 20%, shuffle each room within a window of 6, interleave rooms.
    let mut deliveries: Vec<(usize, String)> = Vec::new();
    for (room_index, room_events) in per_room.iter().enumerate() {
        let mut room_deliveries: Vec<String> = Vec::new();
        for body in room_events {
            room_deliveries.push(body.clone());
            if rng.next() % 5 == 0 {
                room_deliveries.push(body.clone());
            }
        }
        for index in 0..room_deliveries.len() {
            let other = (index + (rng.next() as usize) % 6).min(room_deliveries.len() - 1);
            room_deliveries.swap(index, other);
        }
        deliveries.extend(room_deliveries.into_iter().map(|body| (room_index, body)));
    }
    let duplicates = deliveries.len() - 2000;
    assert!((300..=500).contains(&duplicates), "about 20% duplicated: {duplicates}");
    deliveries.sort_by_key(|(room_index, _)| *room_index); // stable: keeps each room's shuffled order
    let mut interleaved = Vec::new();
    let mut cursors: Vec<std::collections::VecDeque<String>> = vec![Default::default(); ROOMS];
    for (room_index, body) in deliveries {
        cursors[room_index].push_back(body);
    }
    while cursors.iter().any(|c| !c.is_empty()) {
        for cursor in cursors.iter_mut() {
            if let Some(body) = cursor.pop_front() {
                interleaved.push(body);
            }
        }
    }

    let shuffled = Arc::new(app_with(&sessions).await);
    let queue = Arc::new(Mutex::new(interleaved.into_iter().collect::<std::collections::VecDeque<_>>()));
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let queue = queue.clone();
        let app = shuffled.clone();
        senders.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop_front() else { break };
                let answer = app.webhook(&body).await;
                assert_eq!(answer.status, 200, "{:?}", answer.body);
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }

    let expected = final_rows(&in_order).await;
    let got = final_rows(&shuffled).await;
    assert_eq!(expected.len(), got.len());
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(e, g);
    }
    let recorded: i64 = shuffled.sql().await.query_one("SELECT count(*) FROM webhook_events", &[]).await.unwrap().get(0);
    assert_eq!(recorded, 2000, "each event id recorded once");
    assert_eq!(stale_events(&in_order).await, 0);
    assert!(stale_events(&shuffled).await > 0, "the shuffle really delivered older events after newer ones");
}

async fn stale_events(app: &App) -> i64 {
    app.sql().await.query_one("SELECT count(*) FROM webhook_events WHERE outcome = 'stale'", &[]).await.unwrap().get(0)
}
