//! `devhost build | up`: the Spin verbs this host mirrors.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context as _};

const USAGE: &str = "usage:
  devhost build [--manifest spin.toml]
  devhost up [--manifest spin.toml] [--listen 127.0.0.1:3000] [--cache-dir DIR]
             [--runtime-config-file FILE] [--max-body-bytes N] [--max-instances N]
             [--statement-cache] [--no-tcp-nodelay]

  --runtime-config-file  Spin's runtime config file ([[client_tls]], [outbound_http];
                         the other tables Spin reads are ignored with a warning);
                         RUNTIME_CONFIG_FILE in the environment when not given

  --statement-cache  prepare each Postgres statement once per connection and
                     reuse it (Spin prepares on every call, as without it)
  --no-tcp-nodelay   leave Nagle on for accepted sockets, as Spin 4.0.2 does";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let verb = args.next().unwrap_or_default();
    let mut manifest = PathBuf::from("spin.toml");
    let mut listen: SocketAddr = "127.0.0.1:3000".parse()?;
    let mut cache_dir: Option<PathBuf> = None;
    let mut max_body_bytes: Option<usize> = None;
    let mut max_instances: Option<u32> = None;
    let mut tcp_nodelay = true;
    let mut statement_cache = false;
    // As `spin up`, which also reads it from the environment.
    let mut runtime_config_file = std::env::var_os("RUNTIME_CONFIG_FILE").map(PathBuf::from);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--manifest" | "-f" => manifest = PathBuf::from(value()?),
            "--listen" => listen = value()?.parse().context("--listen takes HOST:PORT")?,
            "--cache-dir" => cache_dir = Some(PathBuf::from(value()?)),
            "--runtime-config-file" => runtime_config_file = Some(PathBuf::from(value()?)),
            "--max-body-bytes" => max_body_bytes = Some(value()?.parse()?),
            "--max-instances" => max_instances = Some(value()?.parse()?),
            "--no-tcp-nodelay" => tcp_nodelay = false,
            "--statement-cache" => statement_cache = true,
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    match verb.as_str() {
        "build" => devhost::build::build_all(&manifest),
        "up" => {
            let mut options = devhost::HostOptions::new(manifest, listen);
            options.cache_dir = cache_dir;
            options.runtime_config_file = runtime_config_file;
            options.postgres.statement_cache = statement_cache;
            if let Some(bytes) = max_body_bytes {
                options.http.max_body_bytes = bytes;
            }
            options.http.tcp_nodelay = tcp_nodelay;
            if let Some(count) = max_instances {
                options.runtime.max_instances = count;
            }
            let host = devhost::RunningHost::start(options).await?;
            eprintln!("Serving http://{}", host.addr());
            host.wait().await;
            Ok(())
        }
        _ => bail!("{USAGE}"),
    }
}
