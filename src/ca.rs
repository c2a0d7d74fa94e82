//! The per-bottle certificate authority the egress proxy intercepts TLS
//! with. Minted at launch, kept in the bottle's state dir (key 0600), never
//! inside the agent: the agent gets only the certificate to trust.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

pub struct BottleCa {
    pub cert_pem: String,
    pub key_pem: String,
    /// SHA-256 of the DER certificate, as colon-separated hex.
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot mint the bottle CA: {0}")]
    Mint(#[from] rcgen::Error),
    #[error("cannot write the bottle CA to {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// Mint a CA for one bottle.
pub fn mint(slug: &str) -> Result<BottleCa, CaError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("bb bottle {slug}"));
    dn.push(
        DnType::OrganizationName,
        "bb egress (per-bottle, ephemeral)",
    );
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(BottleCa {
        fingerprint: fingerprint(cert.der()),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl BottleCa {
    /// Write `ca.crt` (0644) and `ca.key` (0600) into `dir`.
    /// Keep the certificate in the state dir. The key is never written to
    /// disk: it goes to the bundle's egress in memory, and a new bottle
    /// gets a new CA.
    pub fn write(&self, dir: &Path) -> Result<(), CaError> {
        write_file(&dir.join("ca.crt"), self.cert_pem.as_bytes(), 0o644)
    }
}

/// Write a file with `mode` from the start (no window where it is wider).
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |source| CaError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mints_a_ca_and_keeps_its_key_private() {
        let ca = mint("alpha-abc123").unwrap();
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(ca.key_pem.contains("PRIVATE KEY"));
        assert_eq!(ca.fingerprint.split(':').count(), 32);
        let d = tempfile::tempdir().unwrap();
        ca.write(d.path()).unwrap();
        let mode = |f: &str| fs::metadata(d.path().join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("ca.crt"), 0o644);
        assert!(
            !d.path().join("ca.key").exists(),
            "the key never touches a disk"
        );
        assert_ne!(
            mint("alpha-abc123").unwrap().fingerprint,
            ca.fingerprint,
            "every bottle gets its own"
        );
    }
}
