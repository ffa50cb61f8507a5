//! A guest that exercises each devhost capability, for the host's own tests.
//! It is not part of the application.

use std::task::Poll;
use std::time::Duration;

use pg::spin::postgres::postgres::{Connection, DbValue, Error, ParameterValue};
use spin_sdk::http::{Fields, IncomingRequest, IncomingResponse, Method, OutgoingBody, OutgoingRequest, OutgoingResponse, ResponseOutparam, Scheme};
use spin_sdk::http_component;
use wasi::clocks::monotonic_clock;

mod cron {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "spin:cron/spin-cron",
        path: "../../../../wit/spin-cron@3.0.0",
    });
}

/// `spin:postgres@4.2.0`, of which the probe uses the synchronous functions only.
mod pg {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "spin:postgres/imports",
        path: "../../../../wit/spin-postgres@4.2.0",
    });
}

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    let headers = request.headers().entries();
    // The path below the route, so that a second component id serving the
    // probe under a prefix (`/other/...`) answers the same paths.
    let path_with_query = request.path_with_query().unwrap_or_default();
    let (uri_path, query) = path_with_query.split_once('?').unwrap_or((&path_with_query, ""));
    let path = match headers.iter().find(|(name, _)| name == "spin-path-info") {
        Some((_, path_info)) => String::from_utf8_lossy(path_info).into_owned(),
        None => uri_path.to_owned(),
    };
    let answer = match path.as_str() {
        "/trap" => panic!("the probe was asked to trap"),
        "/empty" => serde_json::Value::Null,
        "/sleep" => sleep(&param(query, "ms")).await,
        "/served" => served(),
        "/var" => variable(&param(query, "name")),
        "/pg/roundtrip" => pg_roundtrip(),
        "/pg/bad" => pg_bad(),
        "/pg/timestamptz" => pg_timestamptz(),
        "/pg/empty" => pg_empty(),
        "/pg/insert" => pg_insert(&param(query, "value")),
        "/pg/backend" => pg_backend(),
        "/fetch" => fetch(&param(query, "url")).await,
        _ => echo(request, &headers).await,
    };
    respond(response_out, &answer);
}

/// 200 with `answer` as JSON. The body is written and finished before the
/// answer is set, as the application's components do (Spin then sends it in
/// one piece); one the host does not take at once follows the `set`.
fn respond(response_out: ResponseOutparam, answer: &serde_json::Value) {
    let body = answer.to_string().into_bytes();
    let headers = [
        ("content-type".to_owned(), b"application/json".to_vec()),
        ("content-length".to_owned(), body.len().to_string().into_bytes()),
    ];
    // The probe is a test guest: a failure here is a host bug, and a trap shows it.
    let response = OutgoingResponse::new(Fields::from_list(&headers).expect("valid headers"));
    response.set_status_code(200).expect("a valid status");
    let outgoing = response.body().expect("the body, taken once");
    let stream = outgoing.write().expect("the stream, taken once");
    let mut written = 0;
    while written < body.len() {
        match stream.check_write() {
            Ok(permitted) if permitted > 0 => {
                let end = body.len().min(written.saturating_add(usize::try_from(permitted).unwrap_or(usize::MAX)));
                stream.write(&body[written..end]).expect("a write within check-write");
                written = end;
            }
            _ => break,
        }
    }
    // A client gone meanwhile takes nothing more, and leaves the body short.
    if written < body.len() {
        response_out.set(response);
        for chunk in body[written..].chunks(4096) {
            if stream.blocking_write_and_flush(chunk).is_err() {
                break;
            }
        }
        drop(stream);
        let _ = OutgoingBody::finish(outgoing, None);
        return;
    }
    let _ = stream.flush();
    drop(stream);
    let _ = OutgoingBody::finish(outgoing, None);
    response_out.set(response);
}

async fn sleep(millis: &str) -> serde_json::Value {
    let millis: u64 = millis.parse().unwrap_or(0);
    pause(Duration::from_millis(millis)).await;
    serde_json::json!({ "slept": millis })
}

/// Resolves after `duration`, on spin-executor's loop.
async fn pause(duration: Duration) {
    let deadline = monotonic_clock::now().saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    let mut registered = None;
    std::future::poll_fn(|context| {
        if monotonic_clock::now() >= deadline {
            return Poll::Ready(());
        }
        let token = spin_executor::push_waker_and_get_token(monotonic_clock::subscribe_instant(deadline), context.waker().clone());
        drop(registered.replace(spin_executor::CancelOnDropToken::from(token)));
        Poll::Pending
    })
    .await
}

/// How many `/served` requests this instance has answered, this one
/// included: the host's instance reuse, seen from inside.
fn served() -> serde_json::Value {
    static SERVED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = SERVED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    serde_json::json!({ "served": count })
}

fn param(query: &str, name: &str) -> String {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default()
}

async fn echo(request: IncomingRequest, headers: &[(String, Vec<u8>)]) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .filter(|(name, _)| name.starts_with("spin-"))
        .map(|(name, value)| (name.clone(), std::str::from_utf8(value).unwrap_or("?").into()))
        .collect();
    let method = request.method().to_string();
    let uri = request.uri();
    let body = request.into_body().await.map(|b| b.len()).unwrap_or(0);
    serde_json::json!({ "method": method, "uri": uri, "headers": headers, "bodyLength": body })
}

fn variable(name: &str) -> serde_json::Value {
    match spin_sdk::variables::get(name) {
        Ok(value) => serde_json::json!({ "value": value }),
        Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
    }
}

fn open() -> Result<Connection, String> {
    let address = spin_sdk::variables::get("db_url").map_err(|e| format!("{e:?}"))?;
    Connection::open(&address).map_err(|e| format!("{e:?}"))
}

/// `work`'s answer on a connection to `db_url`, or the error that stopped it.
fn on_db(work: impl FnOnce(&Connection) -> Result<serde_json::Value, Error>) -> serde_json::Value {
    match open() {
        Ok(connection) => work(&connection).unwrap_or_else(|error| serde_json::json!({ "error": format!("{error:?}") })),
        Err(error) => serde_json::json!({ "error": error }),
    }
}

fn pg_roundtrip() -> serde_json::Value {
    let params = vec![
        ParameterValue::Str("héllo".into()),
        ParameterValue::Int32(-7),
        ParameterValue::Int64(1 << 40),
        ParameterValue::Boolean(true),
        ParameterValue::Floating64(2.5),
        ParameterValue::Uuid("7f1c2b0e-3c1d-4b6a-9a51-0e7c5f1d2a3b".into()),
        ParameterValue::Jsonb(br#"{"a":[1,2]}"#.to_vec()),
        ParameterValue::DbNull,
        ParameterValue::Int16(12),
        ParameterValue::Floating32(0.5),
    ];
    let sql = "SELECT $1::text AS t, $2::int4 AS i, $3::int8 AS b, $4::bool AS flag, $5::float8 AS f, \
               $6::uuid AS u, $7::jsonb AS j, $8::text AS n, $9::int2 AS s, $10::float4 AS r, \
               '2024-01-02T03:04:05.5'::timestamp AS ts";
    on_db(|connection| {
        let result = connection.query(sql, &params)?;
        let columns: Vec<String> = result.columns.iter().map(|c| format!("{}:{:?}", c.name, c.data_type)).collect();
        let values: Vec<String> = result.rows.iter().flat_map(|row| row.iter().map(describe)).collect();
        Ok(serde_json::json!({ "columns": columns, "values": values }))
    })
}

fn describe(value: &DbValue) -> String {
    match value {
        DbValue::Jsonb(bytes) => format!("Jsonb({})", String::from_utf8_lossy(bytes)),
        other => format!("{other:?}"),
    }
}

fn pg_bad() -> serde_json::Value {
    on_db(|connection| connection.query("SELECT FROM nowhere_at_all", &[]).map(|_| serde_json::json!({ "unexpected": "success" })))
}

/// A `timestamptz` column, which Spin 4.0.2 cannot read.
fn pg_timestamptz() -> serde_json::Value {
    on_db(|connection| connection.query("SELECT 1 AS one, now() AS at", &[]).map(|_| serde_json::json!({ "unexpected": "success" })))
}

/// A query that yields no row, which Spin 4.0.2 never answers.
fn pg_empty() -> serde_json::Value {
    on_db(|connection| connection.query("SELECT 1 AS one WHERE false", &[]).map(|result| serde_json::json!({ "rows": result.rows.len() })))
}

fn pg_insert(value: &str) -> serde_json::Value {
    on_db(|connection| {
        connection
            .execute("INSERT INTO probe_rows (value) VALUES ($1)", &[ParameterValue::Str(value.into())])
            .map(|count| serde_json::json!({ "inserted": count }))
    })
}

/// The process id of the server session the pooled connection is on, which
/// tells a reused connection from a new one.
fn pg_backend() -> serde_json::Value {
    on_db(|connection| {
        let rows = connection.query("SELECT pg_backend_pid() AS pid", &[])?.rows;
        Ok(match rows.as_slice() {
            [row] => match row.first() {
                Some(DbValue::Int32(pid)) => serde_json::json!({ "pid": pid }),
                Some(other) => serde_json::json!({ "error": describe(other) }),
                None => serde_json::json!({ "error": "no column" }),
            },
            rows => serde_json::json!({ "error": format!("{} rows", rows.len()) }),
        })
    })
}

async fn fetch(url: &str) -> serde_json::Value {
    let request = match get_request(url) {
        Ok(request) => request,
        Err(error) => return serde_json::json!({ "error": error }),
    };
    let response = match spin_sdk::http::send::<_, IncomingResponse>(request).await {
        Ok(response) => response,
        Err(error) => return serde_json::json!({ "error": format!("{error:?}") }),
    };
    let status = response.status();
    match response.into_body().await {
        Ok(body) => serde_json::json!({ "status": status, "body": String::from_utf8_lossy(&body) }),
        Err(error) => serde_json::json!({ "status": status, "bodyError": format!("{error:?}") }),
    }
}

/// A GET of `url` without a body (never taken, so none is sent).
fn get_request(url: &str) -> Result<OutgoingRequest, String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("http", rest)) => (Scheme::Http, rest),
        Some(("https", rest)) => (Scheme::Https, rest),
        _ => return Err(format!("not an http(s) URL: {url}")),
    };
    let (authority, path) = rest.find('/').map_or((rest, "/"), |slash| rest.split_at(slash));
    let request = OutgoingRequest::new(Fields::new());
    request.set_method(&Method::Get).map_err(|()| "method".to_owned())?;
    request.set_scheme(Some(&scheme)).map_err(|()| "scheme".to_owned())?;
    request.set_authority(Some(authority)).map_err(|()| format!("authority {authority:?}"))?;
    request.set_path_with_query(Some(path)).map_err(|()| format!("path {path:?}"))?;
    Ok(request)
}

struct Cron;

impl cron::Guest for Cron {
    // An `async func` export whose body uses synchronous imports only.
    async fn handle_cron_event(metadata: cron::spin::cron::cron_types::Metadata) -> Result<(), cron::spin::cron::cron_types::Error> {
        let fail = |reason: String| cron::spin::cron::cron_types::Error::Other(reason);
        if spin_sdk::variables::get("cron_fail").is_ok_and(|value| value == "true") {
            return Err(fail("asked to fail".into()));
        }
        let connection = open().map_err(fail)?;
        connection
            .execute("INSERT INTO probe_rows (value) VALUES ($1)", &[ParameterValue::Str(format!("cron:{}", metadata.timestamp))])
            .map_err(|e| fail(format!("{e:?}")))?;
        Ok(())
    }
}

cron::export!(Cron with_types_in cron);
