//! One JSON object per line on stderr: what the host did, for people and
//! for log collectors alike.

use std::io::Write as _;

/// Writes one log line with `level`, `msg` and extra string fields.
pub fn event(level: &str, message: &str, fields: &[(&str, &str)]) {
    let mut line = serde_json::Map::new();
    line.insert("ts".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into());
    line.insert("level".into(), level.into());
    line.insert("source".into(), "devhost".into());
    line.insert("msg".into(), message.into());
    for (key, value) in fields {
        line.insert((*key).into(), (*value).into());
    }
    let mut text = serde_json::Value::Object(line).to_string();
    text.push('\n');
    // A failed write to stderr has nowhere better to go.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
