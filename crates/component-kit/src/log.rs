//! Structured logs: one JSON object per line on stderr, which Spin collects.
//! Every line of a request carries its request id. Never log tokens, secrets
//! or JWTs.

use std::cell::RefCell;

use serde_json::{Map, Value};

thread_local! {
    // An instance serves one request, so "the current request" is per instance.
    static REQUEST_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Sets the request id that every later line of this instance carries.
pub fn set_request_id(request_id: &str) {
    REQUEST_ID.with(|current| *current.borrow_mut() = Some(request_id.to_owned()));
}

/// Writes one log line with `level`, `component`, `msg`, the request id (if
/// any) and `fields`.
pub fn line(level: &str, component: &str, msg: &str, fields: Map<String, Value>) {
    let mut object = Map::new();
    object.insert("level".into(), level.into());
    object.insert("component".into(), component.into());
    object.insert("msg".into(), msg.into());
    REQUEST_ID.with(|current| {
        if let Some(request_id) = current.borrow().as_ref() {
            object.insert("requestId".into(), request_id.clone().into());
        }
    });
    object.extend(fields);
    eprintln!("{}", Value::Object(object));
}
