//! What every connection of the proxy shares: the config (swapped whole
//! on reload), the certificate minter, tokens, the audit log, the
//! upstream pool and the connection slots.

use std::sync::{Arc, RwLock};

use super::audit::Audit;
use super::certs::Minter;
use super::config::Config;
use super::slots::Slots;
use super::tokens::Tokens;
use super::upstream;

/// Everything the connections share. The config is swapped on reload;
/// connections already open keep the one they started with.
pub struct Shared {
    pub config: RwLock<Arc<Config>>,
    pub minter: Minter,
    pub tokens: Tokens,
    /// One refresh at a time: refresh tokens rotate, so a second grant
    /// must wait for the token the first one brings.
    pub refreshing: tokio::sync::Mutex<()>,
    pub audit: Audit,
    /// Rebuilt with the config: pooled connections follow the rules.
    pub upstream: RwLock<Arc<upstream::Upstream>>,
    pub upstream_tls: rustls::ClientConfig,
    pub slots: Arc<Slots>,
}

impl Shared {
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn upstream(&self) -> Arc<upstream::Upstream> {
        self.upstream
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn replace_config(&self, c: Config) {
        crate::dlp::set_bip39(c.dlp.bip39);
        let c = Arc::new(c);
        *self.upstream.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(
            upstream::Upstream::new(c.clone(), self.upstream_tls.clone()),
        );
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = c;
    }
}
