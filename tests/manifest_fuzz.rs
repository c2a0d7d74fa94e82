//! Whatever a manifest file holds, loading it never panics: it either loads
//! or reports an error that names the file.

use std::fs;

use bb::manifest::{load, Layout};
use proptest::prelude::*;

/// YAML-ish text: keys bb knows, nesting, lists, quotes and stray symbols.
fn yamlish() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("env".to_string()),
        Just("egress".to_string()),
        Just("routes".to_string()),
        Just("host".to_string()),
        Just("auth".to_string()),
        Just("git".to_string()),
        Just("remotes".to_string()),
        Just("extends".to_string()),
        Just("bottle".to_string()),
        Just("yes".to_string()),
        Just("0x1F".to_string()),
        Just("2026-01-01".to_string()),
        Just("\"quoted\"".to_string()),
        Just("[a, b]".to_string()),
        Just("{}".to_string()),
        Just("&a".to_string()),
        Just("*a".to_string()),
        Just("!!str".to_string()),
        Just("|".to_string()),
        "[a-zA-Z0-9_.:/${}@-]{0,12}",
    ];
    let line = (
        0usize..6,
        prop::collection::vec(atom, 0..4),
        prop_oneof![Just(": "), Just("- "), Just(""), Just(":")],
    )
        .prop_map(|(indent, words, sep)| format!("{}{}", " ".repeat(indent), words.join(sep)));
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_frontmatter_never_panics(bottle in yamlish(), agent in yamlish(), raw in any::<Vec<u8>>()) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("bottles")).unwrap();
        fs::create_dir_all(dir.path().join("agents")).unwrap();
        fs::write(dir.path().join("bottles/b.md"), format!("---\n{bottle}\n---\n")).unwrap();
        fs::write(dir.path().join("agents/a.md"), format!("---\nbottle: b\n{agent}\n---\nbody")).unwrap();
        fs::write(dir.path().join("bottles/raw.md"), &raw).unwrap();
        let m = load(&Layout { home: dir.path().to_path_buf(), repo: None });
        for e in &m.errors {
            let text = e.to_string();
            prop_assert!(text.contains(".md") || text.contains("bottles") || text.contains("agents"), "{}", text);
            prop_assert!(!text.contains('\n'), "{}", text);
        }
    }
}
