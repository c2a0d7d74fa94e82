//! The manifest corpus: every invalid case under tests/corpus/invalid gets
//! exactly the errors in its `expected-errors.txt` (one line each), and
//! every valid case loads cleanly and previews as its snapshots show.
//!
//! To record new expectations after a deliberate change, run with
//! `BB_BLESS=1` and review the diff of the `expected-errors.txt` files.

use std::fs;
use std::path::{Path, PathBuf};

use bb::manifest::{load, Layout, Manifest};
use bb::plan::{self, BackendKind, FixedHost};
use bb::preflight;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(kind);
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn load_case(case: &Path) -> Manifest {
    let repo = case.join("repo/.bot-bottle");
    load(&Layout {
        home: case.to_path_buf(),
        repo: repo.is_dir().then_some(repo),
    })
}

fn scrub(text: &str, case: &Path) -> String {
    text.replace(&case.display().to_string(), "<home>")
}

#[test]
fn every_invalid_case_gets_its_one_line_errors() {
    let cases = corpus("invalid");
    assert!(
        cases.len() >= 40,
        "the corpus has only {} invalid cases",
        cases.len()
    );
    let bless = std::env::var_os("BB_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let m = load_case(case);
        let got: Vec<String> = m
            .errors
            .iter()
            .map(|e| scrub(&e.to_string(), case))
            .collect();
        let name = case.file_name().unwrap().to_string_lossy();
        assert!(!got.is_empty(), "{name}: loaded without an error");
        for line in &got {
            assert!(!line.contains('\n'), "{name}: error spans lines: {line}");
        }
        let expected_path = case.join("expected-errors.txt");
        let actual = got.join("\n") + "\n";
        if bless {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with BB_BLESS=1 to record)",
                expected_path.display()
            )
        });
        if expected != actual {
            failures.push(format!(
                "{name}:\n  expected: {expected}  got:      {actual}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A host where some secrets are set and others are not, so previews show both.
fn host() -> FixedHost {
    let mut h = FixedHost {
        home: "/home/user".into(),
        cwd: "/home/user/src/project".into(),
        ..FixedHost::default()
    };
    h.env
        .insert("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN".into(), "set".into());
    h.files.insert("/home/user/.ssh/id_ed25519_gitea".into());
    h.files.insert("/home/user/.claude/skills/init-prd".into());
    h
}

#[test]
fn every_valid_case_loads_and_previews() {
    let cases = corpus("valid");
    assert!(!cases.is_empty());
    for case in &cases {
        let m = load_case(case);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        assert!(m.errors.is_empty(), "{name}: {:?}", m.errors);
        let warnings: Vec<String> = m
            .warnings
            .iter()
            .map(|w| scrub(&w.to_string(), case))
            .collect();
        insta::assert_snapshot!(format!("{name}-warnings"), warnings.join("\n"));
        assert!(!m.agents.is_empty(), "{name}: no agents");
        for agent in m.agents.keys() {
            let (a, b) = m.agent(agent).unwrap();
            let plan = plan::resolve(a, b, &host(), BackendKind::Docker, "snap01");
            let text = scrub(&preflight::to_text(&plan, Path::new("/home/user")), case);
            insta::assert_snapshot!(format!("{name}-{agent}-text"), text);
            let json = scrub(&preflight::to_json(&plan), case);
            assert_documented(&json);
            insta::assert_snapshot!(format!("{name}-{agent}-json"), json);
        }
    }
}

/// Every top-level field of the preflight JSON is in the README's table.
fn assert_documented(json: &str) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## Preflight JSON").unwrap();
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    for field in doc.as_object().unwrap().keys() {
        assert!(
            ["`", ".", "[]"]
                .iter()
                .any(|end| section.contains(&format!("`{field}{end}"))),
            "README's Preflight JSON lacks `{field}`"
        );
    }
}
