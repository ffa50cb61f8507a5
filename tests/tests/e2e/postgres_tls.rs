//! Postgres TLS as Spin 4.0.2 does it: the URL's `sslmode` decides, no
//! `sslmode` means `prefer` (TLS, verified), and the only extra root
//! certificate is the one the guest hands over (`database_ca_root`).
//!
//! The local server's certificate (`/etc/ssl/certs/ssl-cert-snakeoil.pem`,
//! for `localhost` only) may or may not be in the machine's roots; to test a
//! certificate that surely is not, [`TlsFront`] terminates TLS with its own
//! and relays to the server.

use std::net::SocketAddr;

use e2e::app::App;
use e2e::users::{bearer, new_user};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The local server, and its certificate.
const POSTGRES: &str = "127.0.0.1:5432";
const SERVER_ROOT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// The certificate of [`TlsFront`]: self-signed for `localhost`, in no
/// system root store (`openssl req -x509 -newkey ec -subj /CN=localhost`).
const FRONT_CERT: &str = "\
-----BEGIN CERTIFICATE-----
MIIBlTCCATugAwIBAgIUSm9+HLvaP0Ppa2G5b/OdviusSPowCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwMjA4MjAwMFoYDzIxMjYxMTA4
MDgyMDAwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASwsmIk8wNKNIRcup8Y65a+DNjq+E52KSKOHezLThKKLReaUe+x7orH
oYOO8Qz0kma1/JNsoCwaJv3lfQz+ujJVo2kwZzAdBgNVHQ4EFgQUTeO5adOeUBBb
miGB870Zh8C6lNowHwYDVR0jBBgwFoAUTeO5adOeUBBbmiGB870Zh8C6lNowFAYD
VR0RBA0wC4IJbG9jYWxob3N0MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwID
SAAwRQIgdFbeLzVomnxQw7HMy7/7oPCdM9lrdvBSOrdrOzq0YBwCIQCoNwL+L2qo
m8QkEIly46DenDVnjbQh9mYWsoxyISayOQ==
-----END CERTIFICATE-----
";
/// Its key; a test fixture that protects nothing.
const FRONT_KEY: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJGXzzI2b+amnSud8
IerUznkQeKitSCBLHkabmf/B4UmhRANCAASwsmIk8wNKNIRcup8Y65a+DNjq+E52
KSKOHezLThKKLReaUe+x7orHoYOO8Qz0kma1/JNsoCwaJv3lfQz+ujJV
-----END PRIVATE KEY-----
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_with_the_servers_root_is_tls_end_to_end() {
    let app = app_at("localhost:5432", Some("require"), Some(&server_root())).await;
    assert_healthy(&app).await;
    let user = new_user();
    let registered = app
        .post("/push-token-register", Some(&bearer(user)), r#"{"token":"ExponentPushToken[tls]","platform":"ios"}"#)
        .await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let stored = app.sql().await.query_one("SELECT user_id FROM push_tokens", &[]).await.unwrap();
    assert_eq!(stored.get::<_, uuid::Uuid>(0), user);
    assert_eq!(app_connections(&app).await, (true, false), "the components' sessions are encrypted");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_outside_the_system_store_must_come_from_the_guest() {
    let front = TlsFront::start().await;
    let host = front.host();
    let capture = devhost::log::capture();
    let app = app_at(&host, Some("require"), None).await;
    assert_unreachable(&app).await;
    if on_devhost() {
        let failure = tls_failure_logged(&capture, &app);
        assert!(failure["address"].as_str().unwrap().contains(&host), "{failure}");
        assert!(failure["error"].as_str().unwrap().contains("certificate verify failed"), "{failure}");
    }
    app.stop().await;

    let app = app_at(&host, Some("require"), Some(FRONT_CERT)).await;
    assert_healthy(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_sslmode_means_verified_tls_which_an_ip_address_fails() {
    let capture = devhost::log::capture();
    // With the server's own root, so only the name can fail: the certificate
    // is for `localhost`, the URL says 127.0.0.1.
    let app = app_at(POSTGRES, None, Some(&server_root())).await;
    assert_unreachable(&app).await;
    if on_devhost() {
        let failure = tls_failure_logged(&capture, &app);
        let error = failure["error"].as_str().unwrap();
        assert!(error.contains("certificate verify failed") && error.contains("IP address mismatch"), "{failure}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_connects_in_plain_text() {
    let app = app_at(POSTGRES, Some("disable"), None).await;
    assert_healthy(&app).await;
    assert_eq!(app_connections(&app).await, (false, true), "the components' sessions are plain");
    app.stop().await;
}

/// native-tls (OpenSSL) reads only the first certificate of a PEM text, on
/// Spin as here: a bundle works when the root it needs comes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_first_certificate_of_a_bundle_counts() {
    let front = TlsFront::start().await;
    let host = front.host();
    let other = server_root();
    for (bundle, works) in [(format!("{FRONT_CERT}{other}"), true), (format!("{other}{FRONT_CERT}"), false)] {
        let app = app_at(&host, Some("require"), Some(&bundle)).await;
        if works {
            assert_healthy(&app).await;
        } else {
            assert_unreachable(&app).await;
        }
        app.stop().await;
    }
}

/// The app with its components reaching the test database at `host` (also
/// their `database_host`) with `sslmode`, and `root` as `database_ca_root`.
async fn app_at(host: &str, sslmode: Option<&str>, root: Option<&str>) -> App {
    let mut overrides = vec![("database_host", host)];
    if let Some(root) = root {
        overrides.push(("database_ca_root", root));
    }
    App::start_reaching_database(&overrides, |url| reached(url, host, sslmode)).await
}

/// `url` (the test database on the local server) at `host`, with `sslmode`
/// or none at all.
fn reached(url: &str, host: &str, sslmode: Option<&str>) -> String {
    let without_parameters = url.split('?').next().unwrap_or(url).replace(POSTGRES, host);
    match sslmode {
        Some(mode) => format!("{without_parameters}?sslmode={mode}"),
        None => without_parameters,
    }
}

fn server_root() -> String {
    std::fs::read_to_string(SERVER_ROOT).unwrap_or_else(|error| panic!("the local server's certificate {SERVER_ROOT}: {error}"))
}

async fn assert_healthy(app: &App) {
    let health = get_health(app).await;
    assert_eq!((health.0, health.1["database"].as_str()), (200, Some("ok")), "{:?}", health.1);
}

/// `/health` says so, and a route that needs the database answers 503.
async fn assert_unreachable(app: &App) {
    let health = get_health(app).await;
    assert_eq!((health.0, health.1["database"].as_str()), (503, Some("unreachable")), "{:?}", health.1);
    let answer = app
        .post("/push-token-register", Some(&bearer(new_user())), r#"{"token":"ExponentPushToken[tls]","platform":"ios"}"#)
        .await;
    assert_eq!((answer.status, answer.code()), (503, "SERVICE_UNAVAILABLE"), "{:?}", answer.body);
}

async fn get_health(app: &App) -> (u16, serde_json::Value) {
    let response = app.host.client.get(app.host.url("/health")).send().await.expect("the host answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

/// Whether any of the components' sessions on the app's database use TLS, and any do not.
async fn app_connections(app: &App) -> (bool, bool) {
    let rows = app
        .sql()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            &[&app.db.name],
        )
        .await
        .unwrap();
    let encrypted: Vec<bool> = rows.iter().map(|row| row.get(0)).collect();
    assert!(!encrypted.is_empty(), "the pool keeps the components' sessions open");
    (encrypted.iter().any(|ssl| *ssl), encrypted.iter().any(|ssl| !*ssl))
}

/// The host's log line about this app's failed handshake.
fn tls_failure_logged(capture: &devhost::log::Capture, app: &App) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = capture.lines().iter().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    let failure = lines
        .iter()
        .find(|line| line["msg"] == "postgres TLS handshake failed" && line["address"].as_str().is_some_and(|a| a.contains(&app.db.name)));
    failure.cloned().unwrap_or_else(|| panic!("no TLS failure logged for {}: {lines:#?}", app.db.name))
}

/// Whether our host serves the tests (its log is in this process); real Spin
/// (`E2E_RUNTIME=spin`) logs elsewhere.
fn on_devhost() -> bool {
    std::env::var("E2E_RUNTIME").map_or(true, |runtime| runtime.is_empty() || runtime == "devhost")
}

/// A Postgres front with [`FRONT_CERT`]: it answers the client's SSLRequest
/// with `S`, completes the handshake, and relays the decrypted session to
/// the local server in plain text.
struct TlsFront {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

/// The SSLRequest message: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl TlsFront {
    async fn start() -> Self {
        let identity = native_tls::Identity::from_pkcs8(FRONT_CERT.as_bytes(), FRONT_KEY.as_bytes()).expect("the fixture identity");
        let acceptor = tokio_native_tls::TlsAcceptor::from(native_tls::TlsAcceptor::new(identity).expect("a TLS acceptor"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 8];
                    if client.read_exact(&mut request).await.is_err() || request != SSL_REQUEST {
                        return;
                    }
                    if client.write_all(b"S").await.is_err() {
                        return;
                    }
                    // A client that refuses the certificate ends here.
                    let Ok(mut tls) = acceptor.accept(client).await else { return };
                    let Ok(mut server) = tokio::net::TcpStream::connect(POSTGRES).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
        Self { addr, task }
    }

    /// `localhost:<port>`: the name its certificate is for.
    fn host(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}
