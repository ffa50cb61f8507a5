//! The kit every end-to-end test shares: fresh databases, a devhost serving
//! the compiled components, and paths to the build outputs.

pub mod db;
pub mod host;
pub mod paths;
pub mod load;
pub mod manifests;
