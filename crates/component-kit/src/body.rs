//! Writing a body into a `wasi:http@0.2` output stream: first what the host
//! takes at once, before the message is handed over, so that head and body
//! reach the socket together (Spin leaves Nagle on, and a body sent after its
//! head waits for the peer's delayed ACK); then, for a body larger than that,
//! the rest as the stream drains.

use spin_sdk::http::OutgoingBody;
use wasi::io::streams::OutputStream;

/// Ends a body whose bytes are all written: its stream, a child of the
/// body, goes first.
pub fn finish(stream: OutputStream, body: OutgoingBody) {
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Writes as much of `bytes` as the stream takes without blocking; returns
/// how much it took. A client gone meanwhile takes nothing more.
pub fn write_available(stream: &OutputStream, bytes: &[u8]) -> usize {
    let mut offset = 0;
    while offset < bytes.len() {
        let permitted = match stream.check_write() {
            Ok(0) | Err(_) => break,
            Ok(permitted) => usize::try_from(permitted).unwrap_or(usize::MAX),
        };
        let end = offset + permitted.min(bytes.len() - offset);
        if stream.write(&bytes[offset..end]).is_err() {
            break;
        }
        offset = end;
    }
    if offset == bytes.len() {
        // Everything written is for the client now; nothing waits for it.
        let _ = stream.flush();
    }
    offset
}

/// Writes `bytes` as the stream drains, then waits for the flush.
pub async fn write_rest(stream: &OutputStream, mut bytes: &[u8]) {
    let writable = || !matches!(stream.check_write(), Ok(0));
    while !bytes.is_empty() {
        match stream.check_write() {
            Ok(0) => crate::time::until(writable, || stream.subscribe()).await,
            Ok(permitted) => {
                let count = usize::try_from(permitted).unwrap_or(usize::MAX).min(bytes.len());
                if stream.write(&bytes[..count]).is_err() {
                    return;
                }
                bytes = &bytes[count..];
            }
            Err(_) => return,
        }
    }
    if stream.flush().is_ok() {
        crate::time::until(writable, || stream.subscribe()).await;
    }
}
