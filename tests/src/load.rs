//! A small closed-loop load generator: N requests over C keep-alive
//! connections, with latency percentiles. Used by `cargo xtask bench` and by
//! concurrency tests (which assert outcomes, never timings).

use std::time::{Duration, Instant};

/// One request to send; built fresh for each send.
pub type MakeRequest = std::sync::Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub requests: usize,
    pub concurrency: usize,
    pub elapsed: Duration,
    pub statuses: std::collections::BTreeMap<u16, usize>,
    pub errors: usize,
    latencies: Vec<Duration>,
}

impl Report {
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q`-quantile latency (0.5 = median).
    pub fn quantile(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[index]
    }
}

/// Sends `requests` requests with `concurrency` workers, each on its own
/// keep-alive connection.
pub async fn run(requests: usize, concurrency: usize, make: MakeRequest) -> Report {
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let make = make.clone();
        workers.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client");
            let mut seen = Vec::new();
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if index >= requests {
                    break;
                }
                let sent = Instant::now();
                let outcome = make(&client, index).send().await;
                let status = match outcome {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        Some(status)
                    }
                    Err(_) => None,
                };
                seen.push((sent.elapsed(), status));
            }
            seen
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    let mut statuses = std::collections::BTreeMap::new();
    let mut errors = 0;
    for worker in workers {
        for (latency, status) in worker.await.unwrap_or_default() {
            latencies.push(latency);
            match status {
                Some(status) => *statuses.entry(status).or_insert(0) += 1,
                None => errors += 1,
            }
        }
    }
    latencies.sort();
    Report {
        requests,
        concurrency,
        elapsed: started.elapsed(),
        statuses,
        errors,
        latencies,
    }
}
