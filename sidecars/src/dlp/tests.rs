//! The shared secret rules, read as each reader would read the text.

use super::encoded::MIN_RUN;
use super::*;

#[test]
fn named_shapes_are_found() {
    let cases = [
        ("aws-access-key-id", "key=AKIAIOSFODNN7EXAMPLE"),
        ("github-token", "token ghp_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ"),
        ("gitlab-token", "glpat-xxxxxxxxxxxxxxxxxxxx"),
        ("slack-token", "xoxb-1234567890-abcdefghij"),
        ("private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"),
        ("private-key", "-----BEGIN RSA PRIVATE KEY-----"),
        ("jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ];
    for (rule, text) in cases {
        assert_eq!(scan(text).map(|f| f.rule), Some(rule), "{text}");
    }
}

/// Runs the plain way: every byte read.
fn naive_runs(text: &str) -> Vec<(usize, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && ENCODED[b[i] as usize] {
            i += 1;
        }
        if i - start >= MIN_RUN {
            out.push((start, &text[start..i]));
        }
        i = i.max(start + 1);
    }
    out
}

#[test]
fn encoded_runs_skips_ahead_but_finds_every_run() {
    // Pseudo-random mixes of alphabet and other bytes, runs of every
    // length around the minimum, at every offset.
    let mut seed = 7u64;
    for _ in 0..500 {
        let mut text = String::new();
        for _ in 0..40 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 33) as usize % 40;
            text.push_str(&"aZ9+/-_".repeat(6)[..len]);
            text.push(if seed & 1 == 0 { ' ' } else { '.' });
        }
        assert_eq!(encoded_runs(&text), naive_runs(&text), "{text}");
    }
    assert_eq!(encoded_runs(&"a".repeat(24)), vec![(0, &*"a".repeat(24))]);
    assert!(encoded_runs(&"a".repeat(23)).is_empty());
}

#[test]
fn large_texts_are_scanned_in_parts_that_miss_nothing() {
    let filler = "ordinary words, and some more of them; ".repeat(100_000);
    let key = "AKIAIOSFODNN7EXAMPLE";
    let parts = parts(&filler);
    // One part per core (this machine may have one).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(parts.len(), cores);
    for w in parts.windows(2) {
        assert!(w[1].0 + PART_OVERLAP <= w[0].1, "{parts:?}");
    }
    // A secret at each part's edge, encoded or not, is still found,
    // at its own position.
    for &(_, end) in &parts {
        for at in [end.saturating_sub(10), end.saturating_sub(PART_OVERLAP / 2)] {
            let at = (at..).find(|&i| filler.is_char_boundary(i)).unwrap();
            let mut text = filler.clone();
            text.insert_str(at, &format!(" {key} "));
            assert_eq!(scan(&text).map(|f| f.at), Some(at + 1), "plain at {at}");
            let mut text = filler.clone();
            let hex: String = format!("key={key}")
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect();
            text.insert_str(at, &format!(" {hex} "));
            assert!(scan(&text).is_some(), "hex at {at}");
        }
    }
    assert_eq!(scan(&filler), None);
}

#[test]
fn high_entropy_strings_are_found_but_ordinary_text_is_not() {
    assert_eq!(
        scan("x=Zq8rT2mW9vKx4Lp7Yb3Nd6Hs1Jf5Gc0QeRtUvWx").map(|f| f.rule),
        Some("high-entropy-string")
    );
    for ok in [
        "GET /repos/owner/project/commits/4b825dc642cb6eb9a060e54bf8d69288fbee4904",
        "https://registry.npmjs.org/@types/node/-/node-20.11.5.tgz",
        "The quick brown fox jumps over the lazy dog, twice over.",
        "application/vnd.github.v3+json",
        "/simple/requests/",
    ] {
        assert_eq!(scan(ok), None, "{ok}");
    }
}

#[test]
fn hosts_smuggling_data_are_found() {
    assert_eq!(
        scan_host("akiaiosfodnn7example.example.com").map(|f| f.rule),
        Some("aws-access-key-id")
    );
    assert_eq!(
        scan_host("4f9a1c2e7b3d8a6f0e5c9b2a7d4e1f3c8b6a.example.com").map(|f| f.rule),
        Some("random-subdomain")
    );
    for ok in [
        "api.github.com",
        "my-loadbalancer-1234567890.us-west-2.elb.amazonaws.com",
        "registry.npmjs.org",
    ] {
        assert_eq!(scan_host(ok), None, "{ok}");
    }
}

#[test]
fn encodings_and_case_do_not_hide_secrets() {
    use base64::Engine;
    let key = "AKIAIOSFODNN7EXAMPLE";
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("id={key}"));
    let b64_of_hex = base64::engine::general_purpose::STANDARD.encode(&hex);
    for hidden in [
        format!("k={}", key.to_ascii_lowercase()),
        format!("data={hex}"),
        format!("data={}", hex.to_ascii_uppercase()),
        format!("blob {b64} end"),
        format!("blob {b64_of_hex}"),
        format!("x=%{}", &hex[..2]) + &key[1..],
    ] {
        assert_eq!(
            scan(&hidden).map(|f| f.rule),
            Some("aws-access-key-id"),
            "{hidden}"
        );
    }
    let utf16: Vec<u8> = format!("note {key}")
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    assert!(scan_bytes(&utf16).is_some());
    assert_eq!(
        scan_joined(["AKIAIOSFOD", "NN7EXAMPLE"].into_iter()).map(|f| f.rule),
        Some("aws-access-key-id")
    );
    // Long values are read near the seam only, and still joined there,
    // percent-encoded too.
    let (a, b) = (
        format!("{} AKIAIOSFOD", "word ".repeat(2000)),
        format!("NN7EX%41MPLE {}", "word ".repeat(2000)),
    );
    assert_eq!(
        scan_joined([a.as_str(), b.as_str()].into_iter()).map(|f| f.rule),
        Some("aws-access-key-id")
    );
    // Two hex labels of a wildcard host spell the key.
    assert!(scan_host(&format!("{}.{}.example.com", &hex[..20], &hex[20..])).is_some());
    // Ordinary hex and base64 stay quiet.
    for ok in [
        "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904 sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        // A README sent through the GitHub contents API.
        "{\"content\": \"IyBNeSBwcm9qZWN0CgpBIHNtYWxsIHRvb2wgdGhhdCBkb2VzIG9uZSB0aGluZyB3ZWxsLiBSdW4gaXQgd2l0aCBgbWFrZWAsIHRoZW4gcmVhZCB0aGUgb3V0cHV0Lgo=\"}",
    ] {
        assert_eq!(scan(ok), None, "{ok}");
    }
}

#[test]
fn what_a_server_decodes_does_not_hide_secrets() {
    let key = "AKIAIOSFODNN7EXAMPLE";
    let escaped: String = key
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let base32 = data_encoding::BASE32.encode(format!("id={key}").as_bytes());
    for hidden in [
        // JSON string escapes, wholly or in part.
        format!("{{\"k\": \"{escaped}\"}}"),
        r#"{"k": "AKIA\u0049OSFODNN7EXAMPLE"}"#.to_string(),
        // HTML character references.
        "<v>&#65;KIA&#x49;OSFODNN7EXAMPLE</v>".to_string(),
        // base32, padded or not, either case.
        format!("X-Data: {base32}"),
        format!("x {}", base32.trim_end_matches('=').to_ascii_lowercase()),
    ] {
        assert_eq!(
            scan(&hidden).map(|f| f.rule),
            Some("aws-access-key-id"),
            "{hidden}"
        );
    }
    // Ordinary upper-case words and base32-looking names stay quiet.
    for ok in [
        "CONTENT-TYPE APPLICATION JSON WITH SOME UPPERCASE WORDS",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        r#"{"path": "C:\\Users\\me", "nl": "a\nb"}"#,
    ] {
        assert_eq!(scan(ok), None, "{ok}");
    }
}

#[test]
fn whole_bodies_are_read_through_compressed_files_and_archives() {
    use std::io::Write;
    let limits = inflate::Limits::sent(16 << 20);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n")
        .unwrap();
    let gz = gz.finish().unwrap();
    let (f, place) = scan_whole(&gz, "the body", limits).unwrap().unwrap();
    assert_eq!((f.rule, place.as_str()), ("aws-access-key-id", "the body"));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("a/b.txt", deflated).unwrap();
    w.write_all(&b"ordinary text, ".repeat(40)).unwrap();
    w.write_all(b"token ghp_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4yZ")
        .unwrap();
    let zip = w.finish().unwrap().into_inner();
    let (f, place) = scan_whole(&zip, "the body", limits).unwrap().unwrap();
    assert_eq!(
        (f.rule, place.as_str()),
        ("github-token", "the body: a/b.txt")
    );
    assert_eq!(scan_whole(b"hello", "x", limits), Ok(None));
}

#[test]
fn seed_phrases_are_found_when_asked_for() {
    // The BIP-39 test vector for all-zero entropy: a valid checksum.
    let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let text = format!("my wallet: {phrase}.");
    assert_eq!(bip39_phrase(&text), Some("my wallet: ".len()));
    // Twelve list words with a wrong checksum are prose, not a seed.
    assert_eq!(bip39_phrase("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon"), None);
    assert_eq!(bip39_phrase("the quick brown fox"), None);
    assert_eq!(scan(&text).map(|f| f.rule), None, "off by default");
    set_bip39(true);
    assert_eq!(scan(&text).map(|f| f.rule), Some("bip39-seed-phrase"));
    set_bip39(false);
}

#[test]
fn percent_encoding_does_not_hide_secrets() {
    assert_eq!(
        percent_decode("%41KIA%49OSFODNN7EXAMPLE"),
        "AKIAIOSFODNN7EXAMPLE"
    );
    assert!(scan(&percent_decode("/x?k=%41KIAIOSFODNN7EXAMPLE")).is_some());
    assert_eq!(percent_decode("a%2"), "a%2");
}
