//! Structured logs: one JSON object per line on stderr, which Spin collects.
//! Never log tokens, secrets or JWTs.

use serde_json::{Map, Value};

/// Writes one log line with `level`, `component`, `msg` and `fields`.
pub fn line(level: &str, component: &str, msg: &str, fields: Map<String, Value>) {
    let mut object = Map::new();
    object.insert("level".into(), level.into());
    object.insert("component".into(), component.into());
    object.insert("msg".into(), msg.into());
    object.extend(fields);
    eprintln!("{}", Value::Object(object));
}
