//! The accept loop every fake shares: HTTP/1 on a bound listener, each
//! request answered by `answer` with a clone of `state`.

use std::convert::Infallible;
use std::future::Future;

use bytes::Bytes;
use http_body_util::Full;

/// Serves `listener` until the returned task is aborted.
pub fn spawn<S, F, Fut>(listener: tokio::net::TcpListener, state: S, answer: F) -> tokio::task::JoinHandle<()>
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<hyper::Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let state = state.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| answer(state.clone(), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// A JSON answer with `status`.
pub fn json(status: u16, body: &serde_json::Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/json"));
    response
}
