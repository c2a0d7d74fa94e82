//! `bb-sidecar egress`: the bottle's only way off its network.

mod answer;
pub mod audit;
mod body;
pub mod certs;
mod checks;
pub mod config;
pub mod conn;
pub mod policy;
pub mod proxy;
mod returned;
pub mod scrub;
mod shared;
pub mod slots;
pub mod tokens;
mod tunnel;
mod upstream;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;

pub use config::Config;
pub use shared::Shared;

/// Build the shared state for a config file.
pub fn shared(config: Config) -> anyhow::Result<Arc<Shared>> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    crate::dlp::set_bip39(config.dlp.bip39);
    let key = match (&config.ca_key_env, &config.ca_key) {
        (Some(var), _) => crate::secrets::get(var)
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
    let upstream = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    // ALPN (http/1.1) is set by the pool's connector.
    let config = Arc::new(config);
    Ok(Arc::new(Shared {
        audit: audit::Audit::open(config.audit_log.as_deref(), config.limits.audit_bytes),
        slots: slots::Slots::new(config.limits.max_connections.min(fd_budget())),
        upstream: RwLock::new(Arc::new(upstream::Upstream::new(
            config.clone(),
            upstream.clone(),
        ))),
        upstream_tls: upstream,
        config: RwLock::new(config),
        minter,
        tokens: tokens::Tokens::default(),
        refreshing: tokio::sync::Mutex::new(()),
    }))
}

/// Connections the file limit allows: each may take two descriptors
/// (the agent's side and upstream's), with some kept for the rest.
fn fd_budget() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return usize::MAX;
    }
    (lim.rlim_cur as usize).saturating_sub(64) / 2
}

/// Raise the soft file limit to the hard one: a busy agent opens many
/// connections, and each is two descriptors here.
fn raise_file_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Run until the process ends; SIGHUP reloads `path`, keeping open tunnels.
pub async fn run(path: PathBuf) -> anyhow::Result<()> {
    raise_file_limit();
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
    // Stopping (the bundle's init sends TERM): the audit lines held back
    // reach the file first.
    let closing = shared.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        closing.audit.flush();
        std::process::exit(0);
    });
    conn::serve(listener, shared).await?;
    Ok(())
}
