//! HAProxy in front of the instances: HTTP mode, round robin per request,
//! keep-alive to clients, `/health` checks, retries only where a request
//! cannot have been processed, bounded timeouts, a CSV stats page for
//! waiting until every instance is up.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::process::{tail, Process};

/// Requests HAProxy sends one instance at once (the rest wait in its
/// queue): a bound on each instance's Postgres connections, so three
/// instances stay well inside the server's 100.
pub(super) const MAX_REQUESTS_PER_INSTANCE: usize = 16;

/// How long HAProxy may take to listen.
const START_DEADLINE: Duration = Duration::from_secs(15);

pub(super) struct HaProxy {
    process: Process,
    port: u16,
    stats_port: u16,
}

impl HaProxy {
    /// Starts HAProxy balancing over the instances on `ports` (server `iN`
    /// is the instance on `ports[N]`).
    pub(super) async fn start(dir: &Path, ports: &[u16], upstream_keepalive: bool) -> anyhow::Result<Self> {
        let binary = super::tools::haproxy()?;
        let port = super::free_port()?;
        let stats_port = super::free_port()?;
        let config = dir.join("haproxy.cfg");
        std::fs::write(&config, config_text(port, stats_port, ports, upstream_keepalive))?;
        let mut command = Command::new(&binary);
        // -db: stay in the foreground, with the log on stderr.
        command.arg("-db").arg("-f").arg(&config);
        let process = Process::spawn("haproxy", &mut command, &dir.join("haproxy.log"))?;
        let mut balancer = Self { process, port, stats_port };
        balancer.wait_listening().await?;
        Ok(balancer)
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until every server whose `running` is true is UP by HAProxy's checks.
    pub(super) async fn wait_up(&self, client: &reqwest::Client, running: &[bool], within: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let states = self.server_states(client).await;
            if let Ok(states) = &states {
                let up = running.iter().enumerate().all(|(index, running)| {
                    !running || states.iter().any(|(name, status)| *name == format!("i{index}") && status == "UP")
                });
                if up {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("HAProxy did not see every instance up within {within:?}: {states:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn stop(&mut self) {
        let _ = self.process.kill().await;
    }

    /// (server name, status) of each instance, from the CSV stats page.
    async fn server_states(&self, client: &reqwest::Client) -> anyhow::Result<Vec<(String, String)>> {
        let url = format!("http://127.0.0.1:{}/stats;csv", self.stats_port);
        let text = client.get(url).timeout(Duration::from_secs(2)).send().await?.text().await?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().context("an empty stats page")?.trim_start_matches("# ").split(',').collect();
        let column = |name: &str| header.iter().position(|column| *column == name).with_context(|| format!("no {name} column"));
        let (proxy, server, status) = (column("pxname")?, column("svname")?, column("status")?);
        Ok(lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|fields| fields.get(proxy) == Some(&"instances") && fields.get(server).is_some_and(|name| name.starts_with('i')))
            .map(|fields| (fields[server].to_owned(), fields.get(status).copied().unwrap_or_default().to_owned()))
            .collect())
    }

    async fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            self.process.ensure_running()?;
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("haproxy did not listen on 127.0.0.1:{} within {START_DEADLINE:?}:\n{}", self.port, tail(&self.process.log_text()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The configuration. Retries (`retry-on conn-failure empty-response`,
/// `retries 2`, `option redispatch` to another instance) cover a connection
/// refused by a killed instance and a kept-alive connection it closed before
/// reading the request. Caveat: `empty-response` would also retry a request
/// whose instance died mid-processing; the database keeps such a repeat
/// harmless (guarded updates, idempotency keys, webhook dedupe).
///
/// Upstream keep-alive is off unless asked for (`option http-server-close`:
/// a new connection to the instance per request): Spin 4.0.2 leaves Nagle
/// on, so on a reused connection an answer written in two pieces waits up
/// to 40 ms for the balancer's delayed ACK (docs/deploy.md, "Kept-alive
/// connections"). Clients keep their connections to HAProxy either way.
fn config_text(port: u16, stats_port: u16, instances: &[u16], upstream_keepalive: bool) -> String {
    let mut text = format!(
        "global\n\
         \x20 maxconn 4000\n\
         defaults\n\
         \x20 mode http\n\
         \x20 option http-keep-alive\n\
         \x20 timeout connect 2s\n\
         \x20 timeout client 60s\n\
         \x20 timeout server 60s\n\
         \x20 timeout queue 30s\n\
         \x20 timeout http-request 10s\n\
         \x20 timeout http-keep-alive 10s\n\
         \x20 timeout check 2s\n\
         \x20 retries 2\n\
         \x20 retry-on conn-failure empty-response\n\
         \x20 option redispatch\n\
         frontend app\n\
         \x20 bind 127.0.0.1:{port}\n\
         \x20 default_backend instances\n\
         backend instances\n\
         \x20 {upstream}\n\
         \x20 balance roundrobin\n\
         \x20 option httpchk\n\
         \x20 http-check send meth GET uri /health ver HTTP/1.1 hdr Host localhost\n\
         \x20 http-check expect status 200\n",
        // HTTP/1.1 with a Host: Spin 4.0.2 answers HAProxy's default check
        // (HTTP/1.0, no Host) with nothing usable, and every instance stays DOWN.
        upstream = if upstream_keepalive { "option http-keep-alive" } else { "option http-server-close" },
    );
    for (index, instance_port) in instances.iter().enumerate() {
        text.push_str(&format!(
            "  server i{index} 127.0.0.1:{instance_port} check inter 1s fall 2 rise 1 maxconn {MAX_REQUESTS_PER_INSTANCE}\n"
        ));
    }
    text.push_str(&format!("listen stats\n  bind 127.0.0.1:{stats_port}\n  stats enable\n  stats uri /stats\n"));
    text
}
