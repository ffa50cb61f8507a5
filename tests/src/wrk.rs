//! Load from a second process: wrk (Debian's `wrk`) over kept-alive TCP,
//! cycling through a list of prepared requests, so that a benchmark sees
//! what an outside client sees and the load generator does not share the
//! host's process or runtime.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;

/// One request: its `Authorization` value (empty for none) and JSON body
/// (empty for a GET).
pub type Prepared = (String, String);

/// What one wrk run measured.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrkReport {
    pub requests: u64,
    pub duration_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    /// Answers with a status of 400 or more.
    pub error_status: u64,
    /// Connect, read, write and timeout errors.
    pub error_socket: u64,
}

impl WrkReport {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }
}

/// The wrk binary (`WRK_BIN`, else `wrk` on the PATH). A missing `wrk` is
/// installed with apt-get where that can run (Debian, as root), as the
/// project's commands install what they need; otherwise the error says how.
pub fn binary() -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(std::env::var_os("WRK_BIN").unwrap_or_else(|| "wrk".into()));
    if runs(&path) {
        return Ok(path);
    }
    if std::env::var_os("WRK_BIN").is_none() && install_with_apt() && runs(&path) {
        return Ok(path);
    }
    bail!("{} does not run: the benchmark's load comes from wrk (Debian: apt-get install wrk)", path.display())
}

fn runs(path: &PathBuf) -> bool {
    // wrk prints its version and usage and exits 1.
    Command::new(path).arg("--version").output().is_ok_and(|output| String::from_utf8_lossy(&output.stdout).starts_with("wrk "))
}

fn install_with_apt() -> bool {
    eprintln!("Installing wrk (apt-get install wrk)");
    Command::new("apt-get")
        .args(["install", "-y", "-qq", "wrk"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs wrk against `url` with `connections` connections on `threads`
/// threads for `duration`, sending `requests` in turn (`method` with each
/// one's authorization and body).
pub fn run(
    wrk: &PathBuf,
    url: &str,
    method: &str,
    requests: &[Prepared],
    connections: usize,
    threads: usize,
    duration: Duration,
) -> anyhow::Result<WrkReport> {
    if requests.is_empty() {
        bail!("wrk needs at least one request");
    }
    let dir = std::env::temp_dir().join(format!("wrk-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let list = dir.join("requests.tsv");
    let mut text = String::new();
    for (authorization, body) in requests {
        if authorization.contains(['\t', '\n']) || body.contains('\n') {
            bail!("a prepared request holds a tab or newline");
        }
        text.push_str(authorization);
        text.push('\t');
        text.push_str(body);
        text.push('\n');
    }
    std::fs::write(&list, text)?;
    let script = dir.join("requests.lua");
    std::fs::write(&script, SCRIPT)?;
    let threads = threads.clamp(1, connections.max(1));
    let output = Command::new(wrk)
        .arg(format!("-c{connections}"))
        .arg(format!("-t{threads}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("30s")
        .arg("-s")
        .arg(&script)
        .arg(url)
        .arg("--")
        .arg(&list)
        .arg(method)
        .output()
        .context("running wrk")?;
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|line| line.starts_with('{'));
    match (output.status.success(), line) {
        (true, Some(line)) => serde_json::from_str(line).with_context(|| format!("wrk's summary {line:?}")),
        _ => bail!("wrk failed ({}): {stdout}{}", output.status, String::from_utf8_lossy(&output.stderr)),
    }
}

/// Each wrk thread loads the list and starts at its own offset; `done`
/// prints one JSON line.
const SCRIPT: &str = r#"
local counter = 0
local prepared = {}
local next_thread = 0

function setup(thread)
  thread:set("offset", next_thread * 7919)
  next_thread = next_thread + 1
end

function init(args)
  local path, method = args[1], args[2]
  for line in io.lines(path) do
    local authorization, body = line:match("^([^\t]*)\t(.*)$")
    local headers = {}
    if authorization ~= "" then headers["Authorization"] = authorization end
    if body ~= "" then
      headers["Content-Type"] = "application/json"
    else
      body = nil
    end
    prepared[#prepared + 1] = wrk.format(method, nil, headers, body)
  end
  counter = offset or 0
end

function request()
  counter = counter + 1
  return prepared[(counter % #prepared) + 1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"meanUs":%.1f,"p50Us":%d,"p99Us":%d,"errorStatus":%d,"errorSocket":%d}\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"#;
