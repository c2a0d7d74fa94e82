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

/// The name OpenSSL finds a CA by in a hashed certificate directory
/// (`openssl x509 -hash`; the `HASH.N` links of /etc/ssl/certs): SHA-1 of
/// the subject in OpenSSL's canonical form, where each string is UTF-8,
/// trimmed, its runs of spaces one space, its ASCII lower case. None for a
/// subject whose strings would need converting first (BMP, T61 and
/// Universal strings, which bb's CAs never have) or a certificate that
/// does not parse.
pub fn subject_hash(cert_pem: &str) -> Option<String> {
    use sha1::Digest as _;
    use x509_parser::der_parser::asn1_rs::Tag;
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let mut canonical = Vec::new();
    for rdn in cert.subject().iter() {
        let mut attributes = Vec::new();
        for attribute in rdn.iter() {
            let value = attribute.attr_value();
            let text = match value.tag() {
                Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
                    std::str::from_utf8(value.data).ok()?
                }
                _ => return None,
            };
            let oid: Vec<u64> = attribute.attr_type().iter()?.collect();
            attributes.push(yasna::construct_der(|w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&yasna::models::ObjectIdentifier::from_slice(&oid));
                    w.next().write_utf8_string(&canonical_text(text));
                })
            }));
        }
        // Each set, without the sequence around them all.
        canonical.extend(yasna::construct_der(|w| {
            w.write_set_of(|w| {
                for a in &attributes {
                    w.next().write_der(a);
                }
            })
        }));
    }
    let d = sha1::Sha1::digest(&canonical);
    Some(format!(
        "{:08x}",
        u32::from_le_bytes([d[0], d[1], d[2], d[3]])
    ))
}

/// OpenSSL's canonical string: trimmed, inner runs of ASCII whitespace one
/// space, ASCII lower-cased, anything else kept.
fn canonical_text(text: &str) -> String {
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.trim_matches(space).chars() {
        if space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_space = false;
        }
    }
    out
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

    /// What the real `openssl x509 -hash` says, for bb's CAs and for names
    /// that need the canonical form (case, spaces, several attributes).
    #[test]
    fn the_subject_hash_is_openssls() {
        let openssl = |pem: &str| {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("ca.pem");
            fs::write(&f, pem).unwrap();
            let o = std::process::Command::new("openssl")
                .args(["x509", "-hash", "-noout", "-in"])
                .arg(&f)
                .output()
                .expect("openssl (Debian's openssl package) is the reference");
            assert!(o.status.success());
            String::from_utf8(o.stdout).unwrap().trim().to_string()
        };
        for slug in ["alpha-abc123", "faker-zz9x00"] {
            let pem = mint(slug).unwrap().cert_pem;
            assert_eq!(subject_hash(&pem).unwrap(), openssl(&pem), "{slug}");
        }
        let named = |entries: &[(DnType, &str)]| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            let mut dn = DistinguishedName::new();
            for (t, v) in entries {
                dn.push(t.clone(), *v);
            }
            params.distinguished_name = dn;
            params
                .self_signed(&KeyPair::generate().unwrap())
                .unwrap()
                .pem()
        };
        for pem in [
            named(&[(DnType::CommonName, "  Mixed   CASE\tName  ")]),
            named(&[
                (DnType::CountryName, "DE"),
                (DnType::OrganizationName, "Ünïcode  Org"),
                (DnType::CommonName, "x"),
            ]),
        ] {
            assert_eq!(subject_hash(&pem).unwrap(), openssl(&pem));
        }
        assert_eq!(subject_hash("not a certificate"), None);
    }

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
