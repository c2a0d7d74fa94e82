//! bb's smolvm command lines against the real smolvm CLI (the `smol-vmm`
//! of the `smolmachines` PyPI package, which CI installs and names with
//! BB_SMOLVM): every verb and flag bb uses is one the CLI takes, and
//! `machine create` / `ls --json` / `delete` work on a `docker save`
//! archive without booting anything. Booting needs hardware KVM: that test
//! runs where `probe::kvm` finds it and says why it is skipped elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bb::backend::smolmachines::cli::{self, CreateSpec, Smolvm};
use bb::backend::smolmachines::probe;
use sha2::{Digest, Sha256};

/// The real CLI, or None (and why) where it is not installed. Under CI it
/// must be.
fn smolvm(state_dir: Option<PathBuf>) -> Option<Smolvm> {
    let found = probe::locate(
        std::env::var("BB_SMOLVM").ok().as_deref(),
        std::env::var("PATH").ok().as_deref(),
    );
    match found {
        Some(program) => Some(Smolvm { program, state_dir }),
        None if std::env::var_os("CI").is_some() => {
            panic!("CI installs smolvm (BB_SMOLVM); it is not there")
        }
        None => {
            eprintln!("skipped: smolvm is not installed (pip install smolmachines, or BB_SMOLVM)");
            None
        }
    }
}

fn run(s: &Smolvm, args: &[String]) -> (bool, String, String) {
    let out = Command::new(&s.program).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_verb_and_flag_bb_uses_is_one_smolvm_takes() {
    let Some(s) = smolvm(None) else { return };
    let version = probe::version(&s.program).unwrap();
    for (verb, flags) in cli::USED {
        let args: Vec<String> = ["machine", verb, "--help"].map(String::from).to_vec();
        let (ok, help, err) = run(&s, &args);
        assert!(ok, "{version}: machine {verb} --help failed: {err}");
        let words: Vec<&str> = help
            .split(|c: char| c.is_whitespace() || c == ',')
            .collect();
        for flag in *flags {
            assert!(
                words.contains(flag),
                "{version}: machine {verb} has no {flag}:\n{help}"
            );
        }
    }
}

/// A `docker save` archive of a one-file image, made here: smolvm reads
/// it at create without Docker or a registry.
fn docker_save(dir: &Path) -> PathBuf {
    let mut layer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_cksum();
    layer.append_data(&mut h, "hello", &b"hi\n"[..]).unwrap();
    let layer = layer.into_inner().unwrap();
    let hex = |b: &[u8]| format!("{:x}", Sha256::digest(b));
    let layer_id = hex(&layer);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["/bin/sh"]}},"rootfs":{{"type":"layers","diff_ids":["sha256:{layer_id}"]}}}}"#
    );
    let config_name = format!("{}.json", hex(config.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["bb-contract:tiny"],"Layers":["{layer_id}/layer.tar"]}}]"#
    );
    let mut image = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        ("manifest.json".to_string(), manifest.into_bytes()),
        (config_name, config.into_bytes()),
        (format!("{layer_id}/layer.tar"), layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        image.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    let path = dir.join("image.tar");
    std::fs::write(&path, image.into_inner().unwrap()).unwrap();
    path
}

#[test]
fn a_machine_is_created_listed_with_its_labels_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = smolvm(Some(dir.path().join("state"))) else {
        return;
    };
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let spec = CreateSpec {
        name: "bb-contract-1a2b3c".into(),
        image: docker_save(dir.path()),
        labels: BTreeMap::from([
            ("bb.home".into(), "/home/u/.bot-bottle".into()),
            ("bb.slug".into(), "contract-1a2b3c".into()),
        ]),
        allow_cidrs: vec!["127.77.0.9/32".into()],
        env: vec![("HTTPS_PROXY".into(), "http://127.77.0.9:3128".into())],
        volumes: vec![(work, "/work".into(), true)],
        workdir: Some("/work".into()),
        user: Some("node".into()),
        cpus: Some(2),
        memory_mib: Some(2048),
    };
    let (ok, out, err) = run(&s, &cli::create(&s, &spec));
    assert!(ok, "machine create: {out}{err}");
    let (ok, json, err) = run(&s, &cli::list(&s));
    assert!(ok, "machine ls --json: {err}");
    let listed = cli::parse_list(&json).unwrap();
    let m = listed
        .iter()
        .find(|m| m.name == spec.name)
        .unwrap_or_else(|| panic!("not listed: {json}"));
    assert_eq!(m.labels, spec.labels);
    assert_eq!(m.allowed_cidrs, ["127.77.0.9/32"]);
    assert_eq!(m.state, "created");
    let (ok, out, err) = run(&s, &cli::delete(&s, &spec.name));
    assert!(ok, "machine delete: {out}{err}");
    let (_, json, _) = run(&s, &cli::list(&s));
    assert!(
        !cli::parse_list(&json)
            .unwrap()
            .iter()
            .any(|m| m.name == spec.name),
        "still listed after delete: {json}"
    );
}

#[test]
fn a_machine_boots_where_the_host_has_hardware_kvm() {
    let dir = tempfile::tempdir().unwrap();
    let Some(s) = smolvm(Some(dir.path().join("state"))) else {
        return;
    };
    if let Err(why) = probe::kvm(Path::new("/")) {
        eprintln!("skipped: no micro-VM can boot here: {why}");
        return;
    }
    let spec = CreateSpec {
        name: "bb-boot-1a2b3c".into(),
        image: docker_save(dir.path()),
        labels: BTreeMap::new(),
        allow_cidrs: Vec::new(),
        env: Vec::new(),
        volumes: Vec::new(),
        workdir: None,
        user: None,
        cpus: Some(1),
        memory_mib: Some(512),
    };
    let (ok, out, err) = run(&s, &cli::create(&s, &spec));
    assert!(ok, "machine create: {out}{err}");
    let (ok, out, err) = run(&s, &cli::start(&s, &spec.name));
    let started = ok;
    let cat = run(
        &s,
        &cli::exec(&s, &spec.name, None, &["cat".into(), "/hello".into()]),
    );
    run(&s, &cli::stop(&s, &spec.name));
    run(&s, &cli::delete(&s, &spec.name));
    assert!(started, "machine start: {out}{err}");
    assert_eq!(cat.1, "hi\n", "{}", cat.2);
}
