//! `bb-sidecar egress`: the bottle's only way off its network.

pub mod audit;
pub mod certs;
pub mod config;
pub mod policy;
pub mod proxy;
pub mod scrub;
pub mod tokens;
mod tunnel;
mod upstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use config::Config;
pub use proxy::Shared;

/// Build the shared state for a config file.
pub fn shared(config: Config) -> anyhow::Result<Arc<Shared>> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    crate::dlp::set_bip39(config.dlp.bip39);
    let key = match (&config.ca_key_env, &config.ca_key) {
        (Some(var), _) => std::env::var(var)
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| anyhow::anyhow!("the bottle CA key ({var}) was not handed over"))?,
        (None, Some(path)) => read(path)?,
        (None, None) => anyhow::bail!("the config names no CA key (ca_key or ca_key_env)"),
    };
    let minter = certs::Minter::new(&read(&config.ca_cert)?, &key)?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(extra) = &config.upstream_ca {
        for cert in CertificateDer::pem_slice_iter(read(extra)?.as_bytes()).flatten() {
            roots.add(cert)?;
        }
    }
    let mut upstream = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    upstream.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(Shared {
        audit: audit::Audit::open(config.audit_log.as_deref(), config.limits.audit_bytes),
        permits: Arc::new(Semaphore::new(config.limits.max_connections)),
        config: RwLock::new(Arc::new(config)),
        minter,
        tokens: tokens::Tokens::default(),
        refreshing: tokio::sync::Mutex::new(()),
        upstream_tls: Arc::new(upstream),
    }))
}

/// Run until the process ends; SIGHUP reloads `path`, keeping open tunnels.
pub async fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = Config::load(&path)?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let shared = shared(config)?;
    eprintln!("bb-sidecar egress: listening on {}", listener.local_addr()?);
    let reload = shared.clone();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match Config::load(&path) {
                Ok(c) => {
                    eprintln!(
                        "bb-sidecar egress: reloaded {} ({} routes)",
                        path.display(),
                        c.routes.len()
                    );
                    reload.replace_config(c);
                }
                Err(e) => {
                    eprintln!("bb-sidecar egress: reload failed, keeping the old config: {e}")
                }
            }
        }
    });
    proxy::serve(listener, shared).await?;
    Ok(())
}
