//! Where the repository and its build outputs are.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_path_buf()
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => repo_root().join("target"),
    }
}

/// A component built by `cargo xtask build` (release, wasm32-wasip2).
pub fn wasm(package: &str) -> PathBuf {
    target_dir()
        .join("wasm32-wasip2/release")
        .join(format!("{}.wasm", package.replace('-', "_")))
}

/// Where the devhost caches compiled components between runs.
pub fn compile_cache() -> PathBuf {
    target_dir().join("devhost-cache")
}

/// The application manifest.
pub fn spin_toml() -> PathBuf {
    repo_root().join("spin.toml")
}
