//! A guest that exercises each devhost capability, for the host's own tests.
//! It is not part of the application.

use spin_sdk::http::body::IncomingBodyExt as _;
use spin_sdk::http::{EmptyBody, IntoResponse, Request, StatusCode};
use spin_sdk::http_service;
use spin_sdk::pg::{Connection, DbValue, ParameterValue};

mod cron {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        world: "spin:cron/spin-cron",
        path: "../../../../wit/spin-cron@3.0.0",
    });
}

#[http_service]
async fn handle(request: Request) -> impl IntoResponse {
    // The path below the route, so that a second component id serving the
    // probe under a prefix (`/other/...`) answers the same paths.
    let path = match request.headers().get("spin-path-info").and_then(|value| value.to_str().ok()) {
        Some(path_info) => path_info.to_owned(),
        None => request.uri().path().to_owned(),
    };
    let query = request.uri().query().unwrap_or_default().to_owned();
    let answer = match path.as_str() {
        "/trap" => panic!("the probe was asked to trap"),
        "/empty" => serde_json::Value::Null,
        "/sleep" => sleep(&param(&query, "ms")).await,
        "/served" => served(),
        "/var" => variable(&param(&query, "name")).await,
        "/pg/roundtrip" => pg_roundtrip().await,
        "/pg/bad" => pg_bad().await,
        "/pg/insert" => pg_insert(&param(&query, "value")).await,
        "/pg/backend" => pg_backend().await,
        "/fetch" => fetch(&param(&query, "url")).await,
        _ => echo(request).await,
    };
    (StatusCode::OK, spin_sdk::http::Json(answer))
}

async fn sleep(millis: &str) -> serde_json::Value {
    let millis: u64 = millis.parse().unwrap_or(0);
    spin_sdk::time::sleep(std::time::Duration::from_millis(millis)).await;
    serde_json::json!({ "slept": millis })
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

async fn echo(request: Request) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = request
        .headers()
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("spin-"))
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("?").into()))
        .collect();
    let method = request.method().to_string();
    let uri = request.uri().to_string();
    let body = request.into_body().bytes().await.map(|b| b.len()).unwrap_or(0);
    serde_json::json!({ "method": method, "uri": uri, "headers": headers, "bodyLength": body })
}

async fn variable(name: &str) -> serde_json::Value {
    match spin_sdk::variables::get(name).await {
        Ok(value) => serde_json::json!({ "value": value }),
        Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
    }
}

async fn open() -> Result<Connection, String> {
    let address = spin_sdk::variables::get("db_url").await.map_err(|e| format!("{e:?}"))?;
    Connection::open(address).await.map_err(|e| format!("{e:?}"))
}

async fn pg_roundtrip() -> serde_json::Value {
    let connection = match open().await {
        Ok(connection) => connection,
        Err(error) => return serde_json::json!({ "error": error }),
    };
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
               '2024-01-02T03:04:05.5+02:00'::timestamptz AS ts";
    match connection.query(sql, params).await {
        Ok(result) => {
            let columns: Vec<String> = result.columns().iter().map(|c| format!("{}:{:?}", c.name, c.data_type)).collect();
            let width = columns.len();
            match result.collect().await {
                Ok(rows) => {
                    let values: Vec<String> = rows
                        .iter()
                        .flat_map(|row| (0..width).map(|i| describe(&row[i])))
                        .collect();
                    serde_json::json!({ "columns": columns, "values": values })
                }
                Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
            }
        }
        Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
    }
}

fn describe(value: &DbValue) -> String {
    match value {
        DbValue::Jsonb(bytes) => format!("Jsonb({})", String::from_utf8_lossy(bytes)),
        other => format!("{other:?}"),
    }
}

async fn pg_bad() -> serde_json::Value {
    let connection = match open().await {
        Ok(connection) => connection,
        Err(error) => return serde_json::json!({ "error": error }),
    };
    match connection.query("SELECT FROM nowhere_at_all", vec![]).await {
        Ok(_) => serde_json::json!({ "unexpected": "success" }),
        Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
    }
}

async fn pg_insert(value: &str) -> serde_json::Value {
    let connection = match open().await {
        Ok(connection) => connection,
        Err(error) => return serde_json::json!({ "error": error }),
    };
    match connection
        .execute("INSERT INTO probe_rows (value) VALUES ($1)", vec![ParameterValue::Str(value.into())])
        .await
    {
        Ok(count) => serde_json::json!({ "inserted": count }),
        Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
    }
}

/// The process id of the server session the pooled connection is on, which
/// tells a reused connection from a new one.
async fn pg_backend() -> serde_json::Value {
    let connection = match open().await {
        Ok(connection) => connection,
        Err(error) => return serde_json::json!({ "error": error }),
    };
    let rows = match connection.query("SELECT pg_backend_pid() AS pid", vec![]).await {
        Ok(result) => result.collect().await,
        Err(error) => Err(error),
    };
    match rows.as_deref() {
        Ok([row]) => match &row[0] {
            DbValue::Int32(pid) => serde_json::json!({ "pid": pid }),
            other => serde_json::json!({ "error": describe(other) }),
        },
        Ok(rows) => serde_json::json!({ "error": format!("{} rows", rows.len()) }),
        Err(error) => serde_json::json!({ "error": format!("{error:?}") }),
    }
}

async fn fetch(url: &str) -> serde_json::Value {
    let request = match Request::get(url).body(EmptyBody::new()) {
        Ok(request) => request,
        Err(error) => return serde_json::json!({ "error": error.to_string() }),
    };
    let response = match spin_sdk::http::send(request).await {
        Ok(response) => response,
        Err(error) => return serde_json::json!({ "error": format!("{error:?}") }),
    };
    let status = response.status().as_u16();
    match response.into_body().bytes().await {
        Ok(body) => serde_json::json!({ "status": status, "body": String::from_utf8_lossy(&body) }),
        Err(error) => serde_json::json!({ "status": status, "bodyError": format!("{error:?}") }),
    }
}

struct Cron;

impl cron::Guest for Cron {
    async fn handle_cron_event(metadata: cron::spin::cron::cron_types::Metadata) -> Result<(), cron::spin::cron::cron_types::Error> {
        let fail = |reason: String| cron::spin::cron::cron_types::Error::Other(reason);
        if spin_sdk::variables::get("cron_fail").await.is_ok_and(|value| value == "true") {
            return Err(fail("asked to fail".into()));
        }
        let connection = open().await.map_err(fail)?;
        connection
            .execute(
                "INSERT INTO probe_rows (value) VALUES ($1)",
                vec![ParameterValue::Str(format!("cron:{}", metadata.timestamp))],
            )
            .await
            .map_err(|e| fail(format!("{e:?}")))?;
        Ok(())
    }
}

cron::export!(Cron with_types_in cron);
