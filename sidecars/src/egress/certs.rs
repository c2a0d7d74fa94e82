//! Leaf certificates for intercepted hosts, minted on demand from the
//! bottle CA and cached per host: a bounded cache, least recently used out
//! first, so names under a wildcard route cannot grow it without end; a
//! certificate is minted anew before it nears its expiry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Hosts whose certificates are kept.
const CACHE_HOSTS: usize = 1024;
/// Leaves live 30 days; one older than this is minted again.
const REMINT_AFTER: std::time::Duration = std::time::Duration::from_secs(7 * 86_400);

struct Cached {
    config: Arc<ServerConfig>,
    minted: std::time::Instant,
    used: u64,
}

struct Cache {
    hosts: HashMap<String, Cached>,
    clock: u64,
    capacity: usize,
}

pub struct Minter {
    issuer: Issuer<'static, KeyPair>,
    ca_der: CertificateDer<'static>,
    cache: Mutex<Cache>,
}

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("the bottle CA cannot be read: {0}")]
    Ca(String),
    #[error("cannot mint a certificate for {host}: {why}")]
    Mint { host: String, why: String },
}

impl Minter {
    pub fn new(ca_cert_pem: &str, ca_key_pem: &str) -> Result<Minter, CertError> {
        let key = KeyPair::from_pem(ca_key_pem).map_err(|e| CertError::Ca(e.to_string()))?;
        let issuer =
            Issuer::from_ca_cert_pem(ca_cert_pem, key).map_err(|e| CertError::Ca(e.to_string()))?;
        let ca_der = CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())
            .map_err(|e| CertError::Ca(e.to_string()))?;
        Ok(Minter {
            issuer,
            ca_der,
            cache: Mutex::new(Cache {
                hosts: HashMap::new(),
                clock: 0,
                capacity: CACHE_HOSTS,
            }),
        })
    }

    /// The same, keeping at most `capacity` hosts' certificates.
    pub fn with_capacity(mut self, capacity: usize) -> Minter {
        self.cache
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .capacity = capacity.max(1);
        self
    }

    /// How many hosts' certificates are cached.
    pub fn cached(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .hosts
            .len()
    }

    /// A TLS server config presenting a certificate for `host`.
    pub fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, CertError> {
        let host = host.to_ascii_lowercase();
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.clock += 1;
            let now = cache.clock;
            if let Some(c) = cache.hosts.get_mut(&host) {
                if c.minted.elapsed() < REMINT_AFTER {
                    c.used = now;
                    return Ok(c.config.clone());
                }
            }
        }
        let err = |why: String| CertError::Mint {
            host: host.clone(),
            why,
        };
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| err(e.to_string()))?;
        params.subject_alt_names = vec![match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.clone()
                    .try_into()
                    .map_err(|e: rcgen::Error| err(e.to_string()))?,
            ),
        }];
        params
            .distinguished_name
            .push(DnType::CommonName, host.clone());
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = std::time::SystemTime::now();
        params.not_before = (now - std::time::Duration::from_secs(86_400)).into();
        params.not_after = (now + std::time::Duration::from_secs(30 * 86_400)).into();
        let key = KeyPair::generate().map_err(|e| err(e.to_string()))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| err(e.to_string()))?;
        let chain = vec![cert.der().clone(), self.ca_der.clone()];
        let key_der =
            PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| err(e.to_string()))?;
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| err(e.to_string()))?
                .with_no_client_auth()
                .with_single_cert(chain, key_der)
                .map_err(|e| err(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.hosts.len() >= cache.capacity && !cache.hosts.contains_key(&host) {
            let oldest = cache
                .hosts
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(h, _)| h.clone());
            if let Some(h) = oldest {
                cache.hosts.remove(&h);
            }
        }
        cache.clock += 1;
        let used = cache.clock;
        cache.hosts.insert(
            host,
            Cached {
                config: config.clone(),
                minted: std::time::Instant::now(),
                used,
            },
        );
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> (String, String) {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let (cert, key) = ca();
        let m = Minter::new(&cert, &key).unwrap().with_capacity(4);
        let hot = m.server_config("hot.example.com").unwrap();
        for i in 0..20 {
            m.server_config(&format!("n{i}.example.com")).unwrap();
            // The host in use stays cached (the same config comes back).
            assert!(Arc::ptr_eq(
                &hot,
                &m.server_config("hot.example.com").unwrap()
            ));
        }
        assert_eq!(m.cached(), 4);
    }
}
