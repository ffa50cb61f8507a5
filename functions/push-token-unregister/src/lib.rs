//! `POST /push-token-unregister`: the signed-in user's device forgets its push
//! token, on sign-out, so the phone stops ringing for someone who left it.
//!
//! One DELETE keyed by the token and the caller: another user's token is not
//! touched, and the answer is the same 200 whether a row went or not, so it
//! tells nobody whose a token is. Unregistering twice is not an error. The
//! answer never echoes the token.

use component_kit::db::ParameterValue;
use component_kit::{auth, db, serve, Failure, Incoming, Method, Reply};
use domain::push::PushUnregistration;
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
async fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
    serve("push-token-unregister", &[Method::POST], request, response_out, unregister).await
}

async fn unregister(incoming: Incoming) -> Result<Reply, Failure> {
    let user = auth::signed_in(&incoming).await?;
    let unregistration = PushUnregistration::parse(&incoming.body)?;
    let connection = db::connect().await?;
    db::execute(
        &connection,
        "DELETE FROM push_tokens WHERE token = $1 AND user_id = $2",
        vec![ParameterValue::Str(unregistration.token), db::uuid(user.id.0)],
    )
    .await?;
    Ok(Reply::ok(json!({ "success": true })))
}
