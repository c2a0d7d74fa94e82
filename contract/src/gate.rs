//! The git gate's config, rendered by bb (`/etc/bb/gate.json`). Keys are
//! never in it: a remote names the environment variable holding its key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    pub listen: String,
    /// Where the bare mirrors live.
    pub repos_dir: PathBuf,
    pub remotes: Vec<RemoteConfig>,
    /// The program git runs as the pre-receive hook (this binary).
    #[serde(default)]
    pub hook_binary: Option<PathBuf>,
    /// Largest push accepted, in bytes.
    #[serde(default = "default_push_cap")]
    pub push_bytes: usize,
    /// Also look for BIP-39 seed phrases in pushes.
    #[serde(default)]
    pub bip39: bool,
    /// The proposal queue shared with bb, where held pushes wait for the
    /// operator (remotes with `review_pushes`).
    #[serde(default)]
    pub queue: Option<PathBuf>,
}

fn default_push_cap() -> usize {
    GateConfig::DEFAULT_PUSH_BYTES
}

impl GateConfig {
    /// Largest push accepted unless the config says otherwise.
    pub const DEFAULT_PUSH_BYTES: usize = 512 * 1024 * 1024;
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteConfig {
    pub name: String,
    pub upstream: String,
    /// The env var holding the SSH private key the gate pushes with.
    #[serde(default)]
    pub identity_env: Option<String>,
    /// A known_hosts line pinning the upstream's host key.
    #[serde(default)]
    pub known_host: Option<String>,
    /// Forward branch deletions and non-fast-forward updates.
    #[serde(default)]
    pub allow_force_push: bool,
    /// Hold each push, after its checks, for the operator to approve
    /// before it goes upstream (`ReviewPushes: true`).
    #[serde(default)]
    pub review_pushes: bool,
}
