//! Compressed files and archives sent as they are (an ordinary request
//! body, a file in a push), known by their magic bytes and read as the
//! program receiving them would unpack them: gzip and zstd streams, zip
//! archives (every entry, its name too), nested up to `MAX_LAYERS` deep.
//! What they hold is bounded as content codings are.

use std::io::Read;

use super::inflate::{self, Coding, Limits, Unreadable, MAX_LAYERS};

/// What a byte string is, by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Compressed(Coding),
    Zip,
}

/// The kind of compressed file `bytes` starts as, if any.
pub fn sniff(bytes: &[u8]) -> Option<Kind> {
    match bytes {
        [0x1f, 0x8b, 0x08, ..] => Some(Kind::Compressed(Coding::Gzip)),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Kind::Compressed(Coding::Zstd)),
        // A local file header, or an empty archive's end record.
        [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Some(Kind::Zip),
        _ => None,
    }
}

/// One thing an archive held, to scan: a name or a file's contents.
pub struct Part {
    /// Where it was found (`body.zip: src/key.txt`), never its contents.
    pub place: String,
    pub bytes: Vec<u8>,
}

/// Everything `bytes` holds once unpacked (not `bytes` itself), deepest
/// layers included, within `limits` in all. Empty when it is no
/// compressed file.
pub fn unpack(bytes: &[u8], place: &str, limits: Limits) -> Result<Vec<Part>, Unreadable> {
    let mut out = Vec::new();
    let mut budget = limits.cap;
    unpack_into(bytes, place, limits, &mut budget, 0, &mut out)?;
    Ok(out)
}

fn unpack_into(
    bytes: &[u8],
    place: &str,
    limits: Limits,
    budget: &mut usize,
    depth: usize,
    out: &mut Vec<Part>,
) -> Result<(), Unreadable> {
    let Some(kind) = sniff(bytes) else {
        return Ok(());
    };
    if depth >= MAX_LAYERS {
        return Err(Unreadable::TooDeep(depth + 1));
    }
    let found: Vec<Part> = match kind {
        Kind::Compressed(c) => {
            let what = format!("{} file {place}", c.name());
            let plain = inflate::decode_all(
                &[c],
                bytes,
                Limits {
                    cap: *budget,
                    ..limits
                },
                &what,
            )?;
            vec![Part {
                place: place.to_string(),
                bytes: plain,
            }]
        }
        Kind::Zip => zip_entries(bytes, place, *budget, limits.ratio)?,
    };
    for part in found {
        *budget = budget.saturating_sub(part.bytes.len());
        unpack_into(&part.bytes, &part.place, limits, budget, depth + 1, out)?;
        out.push(part);
    }
    Ok(())
}

/// Each entry of a zip archive as unzip reads it (by its central
/// directory): its name, and its contents within `budget` in all and the
/// bomb ratio each.
fn zip_entries(
    bytes: &[u8],
    place: &str,
    budget: usize,
    ratio: u64,
) -> Result<Vec<Part>, Unreadable> {
    let corrupt = |why: String| Unreadable::Corrupt {
        what: format!("zip file {place}"),
        why,
    };
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| corrupt(e.to_string()))?;
    let mut out = Vec::new();
    let mut left = budget;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(why) => Unreadable::Corrupt {
                what: format!("zip file {place}"),
                why: format!("{why}; the egress scan reads stored and deflated entries"),
            },
            e => corrupt(e.to_string()),
        })?;
        let name = String::from_utf8_lossy(entry.name_raw()).into_owned();
        let inner = format!("{place}: {name}");
        out.push(Part {
            place: format!("{place} (an entry's name)"),
            bytes: name.into_bytes(),
        });
        if entry.is_dir() {
            continue;
        }
        let packed = entry.compressed_size().max(1);
        let mut contents = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = entry.read(&mut chunk).map_err(|e| corrupt(e.to_string()))?;
            if n == 0 {
                break;
            }
            contents.extend_from_slice(&chunk[..n]);
            if contents.len() > left {
                return Err(Unreadable::TooLarge {
                    what: format!("zip file {place}"),
                    cap: budget,
                });
            }
            let unpacked = contents.len() as u64;
            if unpacked > inflate::RATIO_FLOOR && unpacked > packed.saturating_mul(ratio) {
                return Err(Unreadable::Bomb { what: inner });
            }
        }
        left -= contents.len();
        out.push(Part {
            place: inner,
            bytes: contents,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, bytes) in files {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    const LIMITS: Limits = Limits::sent(16 << 20);

    #[test]
    fn nested_archives_are_unpacked_with_their_names() {
        let inner = zip_of(&[("notes/key.txt", b"id = AKIAIOSFODNN7EXAMPLE")]);
        let outer = gzip(&inner);
        let parts = unpack(&outer, "the body", LIMITS).unwrap();
        let places: Vec<&str> = parts.iter().map(|p| p.place.as_str()).collect();
        assert!(places.contains(&"the body: notes/key.txt"), "{places:?}");
        assert!(parts
            .iter()
            .any(|p| p.bytes == b"id = AKIAIOSFODNN7EXAMPLE"));
        assert!(unpack(b"plain text", "x", LIMITS).unwrap().is_empty());
    }

    #[test]
    fn zip_bombs_and_deep_nesting_are_refused() {
        let zeros = vec![0u8; 32 << 20];
        let bomb = zip_of(&[("zeros", &zeros)]);
        assert!(matches!(
            unpack(&bomb, "b", LIMITS),
            Err(Unreadable::TooLarge { .. } | Unreadable::Bomb { .. })
        ));
        let mut deep = b"AKIAIOSFODNN7EXAMPLE".to_vec();
        for _ in 0..6 {
            deep = gzip(&deep);
        }
        assert!(matches!(
            unpack(&deep, "d", LIMITS),
            Err(Unreadable::TooDeep(_))
        ));
    }
}
