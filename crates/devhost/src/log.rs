//! One JSON object per line on stderr: what the host did, for people and
//! for log collectors alike. The fields are the components' own (`level`,
//! `component`, `msg`, `requestId`, numbers as numbers, camelCase), so one
//! parser reads both; `source: "devhost"` and `ts` tell the host's apart.

use std::io::Write as _;
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;

/// Writes one log line with `level`, `msg` and extra fields; a line that
/// names no `component` is the host's own (`"component": "devhost"`).
pub fn event(level: &str, message: &str, fields: &[(&str, Value)]) {
    let mut line = serde_json::Map::new();
    line.insert("ts".into(), chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into());
    line.insert("level".into(), level.into());
    line.insert("source".into(), "devhost".into());
    line.insert("component".into(), "devhost".into());
    line.insert("msg".into(), message.into());
    for (key, value) in fields {
        line.insert((*key).into(), value.clone());
    }
    let text = serde_json::Value::Object(line).to_string();
    copy_to_captures(&text);
    // A failed write to stderr has nowhere better to go.
    let _ = std::io::stderr().lock().write_all(format!("{text}\n").as_bytes());
}

/// The lines logged since [`capture`] returned it, while it lives.
///
/// Capturing is per process, like stderr: every host in the process logs
/// into every live capture, so a test picks its own lines out (by address,
/// component, ...).
pub struct Capture(Arc<Mutex<Vec<String>>>);

/// Starts copying every log line of this process into a new [`Capture`].
pub fn capture() -> Capture {
    let lines = Arc::new(Mutex::new(Vec::new()));
    lock(&CAPTURES).push(Arc::downgrade(&lines));
    Capture(lines)
}

impl Capture {
    /// The lines so far, each one JSON object.
    pub fn lines(&self) -> Vec<String> {
        lock(&self.0).clone()
    }
}

static CAPTURES: Mutex<Vec<Weak<Mutex<Vec<String>>>>> = Mutex::new(Vec::new());

fn copy_to_captures(text: &str) {
    lock(&CAPTURES).retain(|capture| match capture.upgrade() {
        Some(lines) => {
            lock(&lines).push(text.to_owned());
            true
        }
        None => false,
    });
}

/// A log line must not be lost because another thread panicked holding the lock.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_sees_lines_logged_while_it_lives() {
        let capture = capture();
        event("info", "captured line", &[("field", "value".into())]);
        let lines = capture.lines();
        let line = lines
            .iter()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON"))
            .find(|line| line["msg"] == "captured line")
            .expect("the line was captured");
        assert_eq!(line["field"], "value");
        assert_eq!(line["source"], "devhost");
        let weak = Arc::downgrade(&capture.0);
        drop(capture);
        event("info", "after the capture", &[]);
        assert!(!lock(&CAPTURES).iter().any(|live| live.ptr_eq(&weak)), "a dropped capture is forgotten");
    }
}
