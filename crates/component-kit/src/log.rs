//! Structured logs: one JSON object per line on stderr, which Spin collects.
//! Every line of a request carries its request id. Never log tokens, secrets
//! or JWTs.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use serde_json::{Map, Value};

thread_local! {
    // The request whose future is being polled right now. Spin instantiates
    // a wasi:http 0.2 component for every request, but this is set around
    // every poll of a request's future all the same, never for the
    // instance's lifetime: a host that reused instances, or ran requests side
    // by side, would then still get every line right.
    static REQUEST_ID: RefCell<Option<Rc<str>>> = const { RefCell::new(None) };
    // The component serving that request, polled the same way.
    static COMPONENT: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Runs `future` so that every line it logs carries `request_id`, and
/// [`component`] answers `component`, even while other requests of the same
/// instance interleave with it.
pub async fn with_request_id<F: Future>(component: &'static str, request_id: &str, future: F) -> F::Output {
    let request_id: Rc<str> = Rc::from(request_id);
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let outer = REQUEST_ID.with(|current| current.replace(Some(request_id.clone())));
        let outer_component = COMPONENT.with(|current| current.replace(Some(component)));
        let poll = future.as_mut().poll(cx);
        REQUEST_ID.with(|current| *current.borrow_mut() = outer);
        COMPONENT.with(|current| current.set(outer_component));
        poll
    })
    .await
}

/// The component whose request is being polled, if any.
pub fn component() -> Option<&'static str> {
    COMPONENT.with(Cell::get)
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
            object.insert("requestId".into(), request_id.as_ref().into());
        }
    });
    object.extend(fields);
    // One write: the guest's stderr is unbuffered, and `eprintln!` of a
    // `Value` writes every token separately, each a host call.
    let mut text = Value::Object(object).to_string();
    text.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
}
