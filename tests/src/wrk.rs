//! Load from a second process: wrk (Debian's `wrk`) over kept-alive TCP,
//! sending a list of prepared requests round and round, or each exactly
//! once (requests that consume a row), so that a benchmark sees what an
//! outside client sees and the load generator does not share the host's
//! process or runtime.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde::Deserialize;

/// One request: its `Authorization` value (empty for none) and JSON body
/// (empty for a GET).
pub type Prepared = (String, String);

/// Answers slower than this (in microseconds) count in [`WrkReport::over_30_ms`]: a 40 ms
/// delayed-ACK stall (Nagle on one side, delayed ACKs on the other) is what
/// this column is for, and nothing else makes a local answer this slow.
pub const SLOW_US: u64 = 30_000;

/// How a run uses its prepared requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Round and round: a request may be sent any number of times (a GET, a
    /// token for one of many users).
    Cycle,
    /// Each request at most once: every wrk thread takes its own slice of the
    /// list, in order. A thread that has sent its whole slice sends
    /// `GET /bench-ran-out-of-prepared-requests` instead, counted in
    /// [`WrkReport::ran_out`] (and, as the app answers it 404, in
    /// [`WrkReport::error_status`]): the run says so rather than repeat a
    /// request that consumed a row.
    Once,
}

/// Which answers are right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Any status below 400 (wrk's own `errors.status` counts the others; the
    /// app never redirects, so this is "2xx").
    Success,
    /// Exactly this status (wrk then hands every answer to the script, which
    /// counts the others).
    Status(u16),
}

/// One wrk run: `connections` kept-alive connections on `threads` threads
/// for `duration`, each sending `method` to `url` with the prepared
/// requests' authorization and body.
#[derive(Clone, Debug)]
pub struct Load {
    pub url: String,
    pub method: String,
    pub requests: Vec<Prepared>,
    pub reuse: Reuse,
    pub expect: Expect,
    pub connections: usize,
    pub threads: usize,
    pub duration: Duration,
}

/// What one wrk run measured. Latencies are wrk's, in microseconds: from
/// the first byte of a request written to the last byte of its answer read,
/// every answer recorded (wrk counts answers per microsecond, no sampling).
///
/// The percentiles and [`WrkReport::over_30_ms`] are of the answers. wrk's
/// own percentiles (`wrk_*`, what `wrk --latency` prints) are of its samples:
/// before it reports, wrk corrects for coordinated omission by adding, for
/// each answer that took at least twice the run's mean interval per
/// connection, made-up samples one interval apart below it. One 40 ms stall
/// in a run of 1 ms answers thus becomes some 40 samples between 1 and 40 ms,
/// and a few stalls move wrk's p90. The script recovers the answers from the
/// samples exactly (the script's `answers_above`); an answer slower than
/// wrk's 30 s timeout is not among the samples (wrk counts a timeout, a
/// socket error).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrkReport {
    /// Answers read.
    pub requests: u64,
    pub duration_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Answers that took longer than [`SLOW_US`] (30 ms), exactly.
    pub over_30_ms: u64,
    /// wrk's own figures, of its corrected samples (see above).
    pub wrk_mean_us: f64,
    pub wrk_p50_us: u64,
    pub wrk_p90_us: u64,
    pub wrk_p99_us: u64,
    /// Wrong answers: with [`Expect::Success`] wrk's `errors.status` (status
    /// 400 or more), with [`Expect::Status`] the answers with another status.
    pub error_status: u64,
    /// Connect, read, write and timeout errors.
    pub error_socket: u64,
    /// With [`Reuse::Once`]: requests a thread wanted after its slice was
    /// used up (see [`Reuse::Once`]); 0 means every request sent was a
    /// prepared one, each once.
    pub ran_out: u64,
}

impl WrkReport {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / (self.duration_us.max(1) as f64 / 1e6)
    }

    /// The mean time one connection spent per answer: the run's duration
    /// times its connections over its answers (a closed loop: each
    /// connection sends its next request as soon as it has read an answer).
    pub fn mean_exchange_us(&self, connections: usize) -> f64 {
        self.duration_us as f64 * connections as f64 / self.requests.max(1) as f64
    }

    /// [`WrkReport::over_30_ms`] as a share of the answers (0 to 1).
    pub fn over_30_ms_share(&self) -> f64 {
        self.over_30_ms as f64 / self.requests.max(1) as f64
    }

    /// Wrong answers and socket errors.
    pub fn errors(&self) -> u64 {
        self.error_status + self.error_socket
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

/// Runs `load` with the wrk at `wrk`.
///
/// Errors: no requests, a request holding a tab or newline, wrk does not
/// run or fails, or its summary line does not parse.
pub fn run(wrk: &Path, load: &Load) -> anyhow::Result<WrkReport> {
    if load.requests.is_empty() {
        bail!("wrk needs at least one request");
    }
    let dir = std::env::temp_dir().join(format!("wrk-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let list = dir.join("requests.tsv");
    let mut text = String::new();
    for (authorization, body) in &load.requests {
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
    // wrk refuses more threads than connections.
    let threads = load.threads.clamp(1, load.connections.max(1));
    let output = Command::new(wrk)
        .arg(format!("-c{}", load.connections))
        .arg(format!("-t{threads}"))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("30s")
        .arg("-s")
        .arg(&script)
        .arg(&load.url)
        .arg("--")
        .arg(&list)
        .arg(&load.method)
        .arg(match load.reuse {
            Reuse::Cycle => "cycle",
            Reuse::Once => "once",
        })
        .arg(threads.to_string())
        .arg(match load.expect {
            Expect::Success => "success".to_owned(),
            Expect::Status(status) => status.to_string(),
        })
        .arg(SLOW_US.to_string())
        .arg(load.connections.to_string())
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

/// The load script. wrk runs `setup` for each thread in its main Lua state,
/// then `init` in the thread's own state (so each thread numbers itself and
/// formats its share of the list), calls `request` once on thread 0 to
/// check the request parses (that request is never sent), then `request`
/// before every request; `done` runs in the main state and reads each
/// thread's counters with `thread:get`, so those are globals.
///
/// Arguments: the list (`authorization<TAB>body` lines), the method,
/// `cycle` or `once` ([`Reuse`]), the thread count, `success` or the one
/// expected status ([`Expect`]), [`SLOW_US`] and the connection count.
const SCRIPT: &str = r#"
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

prepared = {}
counter = 0
ran_out = 0
unexpected = 0

function init(args)
  local path, method, reuse, thread_count, expect = args[1], args[2], args[3], tonumber(args[4]), args[5]
  local lines = {}
  for line in io.lines(path) do lines[#lines + 1] = line end
  local first, last = 1, #lines
  once = reuse == "once"
  if once then
    first = math.floor(index * #lines / thread_count) + 1
    last = math.floor((index + 1) * #lines / thread_count)
  else
    counter = index * 7919
  end
  for i = first, last do
    local authorization, body = lines[i]:match("^([^\t]*)\t(.*)$")
    local headers = {}
    if authorization ~= "" then headers["Authorization"] = authorization end
    if body ~= "" then
      headers["Content-Type"] = "application/json"
    else
      body = nil
    end
    prepared[#prepared + 1] = wrk.format(method, nil, headers, body)
  end
  exhausted = wrk.format("GET", "/bench-ran-out-of-prepared-requests", {}, nil)
  slow = tonumber(args[6])
  connections = tonumber(args[7])
  expects_status = expect ~= "success"
  if expects_status then
    local expected = tonumber(expect)
    -- Defined here, before wrk looks for it on thread 0: only then does
    -- wrk hand answers to the script.
    function response(status)
      if status ~= expected then unexpected = unexpected + 1 end
    end
  end
end

function request()
  counter = counter + 1
  if not once then
    return prepared[(counter % #prepared) + 1]
  end
  local next = prepared[counter]
  if next == nil then
    ran_out = ran_out + 1
    return exhausted
  end
  return next
end

-- wrk's latency samples are its answers plus the samples its correction
-- for coordinated omission (stats_correct) adds before `done`: with the
-- interval E = duration / (answers / connections), each answer n >= 2E adds
-- samples n - E, n - 2E, ... while above E. The functions below recover the
-- answers from the samples through `percentile(p)` alone, the smallest
-- sample whose rank reaches round(p / 100 * samples + 0.5).

-- The share of the samples above x, without knowing their count.
local function share_above(latency, x)
  if latency:percentile(0) > x then return 1 end
  local low, high = 0, 100
  for _ = 1, 64 do
    local middle = (low + high) / 2
    local value = latency:percentile(middle)
    if value > 0 and value <= x then low = middle else high = middle end
  end
  return 1 - high / 100
end

-- How many of `count` samples are above x.
local function samples_above(latency, count, x)
  local low, high = 0, count
  while low < high do
    local rank = math.floor((low + high + 1) / 2)
    local value = latency:percentile(100 * (rank - 0.5) / count)
    if value > 0 and value <= x then low = rank else high = rank - 1 end
  end
  return count - low
end

-- A function counting the answers above x. Samples above x (x >= E) count
-- an answer n > x ceil((n - x) / E) times: G(x) = F(x) + F(x + E) + ...,
-- F counting answers, so F(x) = G(x) - G(max(x, E) + E) (below E nothing
-- was added). The added samples number G(2E), which gives their count.
local function answers_above(latency, answers, duration, connections)
  local per_connection = math.floor(answers / connections)
  if per_connection == 0 then
    return function(x) return samples_above(latency, answers, x) end
  end
  local interval = math.floor(duration / per_connection)
  local count = math.floor(answers / (1 - share_above(latency, 2 * interval)) + 0.5)
  return function(x)
    return samples_above(latency, count, x) - samples_above(latency, count, math.max(x, interval) + interval)
  end
end

-- The answer at percentile p, ranked as wrk ranks its samples: the smallest
-- x with at least round(p / 100 * answers + 0.5) answers at or under it.
local function answer_percentile(latency, above, answers, p)
  local rank = math.floor(p / 100 * answers + 1)
  local low, high = latency.min - 1, latency.max
  while high - low > 1 do
    local middle = math.floor((low + high) / 2)
    if answers - above(middle) >= rank then high = middle else low = middle end
  end
  return high
end

function done(summary, latency, requests)
  local e = summary.errors
  local ran_out_total, unexpected_total = 0, 0
  for _, thread in ipairs(threads) do
    ran_out_total = ran_out_total + thread:get("ran_out")
    unexpected_total = unexpected_total + thread:get("unexpected")
  end
  local status_errors = e.status
  if threads[1]:get("expects_status") then status_errors = unexpected_total end
  local n = summary.requests
  local p50, p90, p99, over = 0, 0, 0, 0
  if n > 0 then
    local above = answers_above(latency, n, summary.duration, threads[1]:get("connections"))
    p50 = answer_percentile(latency, above, n, 50)
    p90 = answer_percentile(latency, above, n, 90)
    p99 = answer_percentile(latency, above, n, 99)
    over = above(threads[1]:get("slow"))
  end
  io.write(string.format(
    '{"requests":%d,"durationUs":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"maxUs":%d,"over30Ms":%d,' ..
    '"wrkMeanUs":%.1f,"wrkP50Us":%d,"wrkP90Us":%d,"wrkP99Us":%d,"errorStatus":%d,"errorSocket":%d,"ranOut":%d}\n',
    n, summary.duration, p50, p90, p99, latency.max, over,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    status_errors, e.connect + e.read + e.write + e.timeout, ran_out_total))
end
"#;
