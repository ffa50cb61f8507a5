//! A devhost serving a manifest on an ephemeral port, for one test.

use std::collections::BTreeMap;
use std::path::Path;

/// A running host and a client for it.
pub struct TestHost {
    host: Option<devhost::RunningHost>,
    pub base_url: String,
    pub client: reqwest::Client,
}

impl TestHost {
    /// Serves `manifest` with `variables` as the only overrides (the process
    /// environment is not consulted), cron schedules off.
    pub async fn start(manifest: &Path, variables: BTreeMap<String, String>) -> anyhow::Result<Self> {
        let options = options(manifest, variables);
        Self::start_with(options).await
    }

    /// Serves with fully custom options.
    pub async fn start_with(options: devhost::HostOptions) -> anyhow::Result<Self> {
        let host = devhost::RunningHost::start(options).await?;
        let base_url = format!("http://{}", host.addr());
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self {
            host: Some(host),
            base_url,
            client,
        })
    }

    /// The absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The running host, to fire cron triggers or read counters.
    pub fn host(&self) -> &devhost::RunningHost {
        self.host.as_ref().expect("host is running until stop")
    }

    /// Stops serving.
    pub async fn stop(mut self) {
        if let Some(host) = self.host.take() {
            host.stop().await;
        }
    }
}

/// Test defaults: ephemeral port, shared compile cache, no cron schedules.
pub fn options(manifest: &Path, variables: BTreeMap<String, String>) -> devhost::HostOptions {
    let mut options = devhost::HostOptions::new(manifest.to_path_buf(), "127.0.0.1:0".parse().expect("literal address"))
        .with_variables(variables);
    options.cache_dir = Some(crate::paths::compile_cache());
    options.run_cron_schedules = false;
    options.runtime.max_instances = 64;
    // Component logs would drown the test output; E2E_GUEST_LOGS=1 shows them.
    options.runtime.guest_output = if std::env::var_os("E2E_GUEST_LOGS").is_some() {
        devhost::runtime::GuestOutput::Inherit
    } else {
        devhost::runtime::GuestOutput::Discard
    };
    options.http.log_requests = false;
    options
}

/// `BTreeMap` from pairs, for variable overrides.
pub fn vars<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
