//! The smolvm command lines bb runs, one function per verb, and what it
//! reads back (`machine ls --json`). Pure: what runs them is elsewhere, so
//! the argv is tested here and the flags are checked against the real CLI
//! (tests/smolvm_contract.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The smolvm program, and the state dir it keeps machines in (None: the
/// user's default; tests give each run its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Smolvm {
    pub program: PathBuf,
    pub state_dir: Option<PathBuf>,
}

/// A machine to create: the agent's VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    pub name: String,
    /// A `docker save` archive of the agent image (smolvm wants an absolute
    /// path: a relative one is taken for a registry reference).
    pub image: PathBuf,
    /// What bb finds the machine by after a restart (`bb.home`, `bb.slug`,
    /// ...), as on its containers.
    pub labels: BTreeMap<String, String>,
    /// The only addresses the guest may reach: its bundle's published
    /// address, as `A.B.C.D/32`.
    pub allow_cidrs: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host directories, `(host, guest, read_only)`.
    pub volumes: Vec<(PathBuf, String, bool)>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub cpus: Option<u32>,
    pub memory_mib: Option<u64>,
}

/// Flags every verb takes before the verb.
fn global(s: &Smolvm) -> Vec<String> {
    match &s.state_dir {
        Some(dir) => vec!["--state-dir".into(), dir.display().to_string()],
        None => Vec::new(),
    }
}

fn machine(s: &Smolvm, verb: &str) -> Vec<String> {
    let mut out = global(s);
    out.extend(["machine".to_string(), verb.to_string()]);
    out
}

pub fn create(s: &Smolvm, spec: &CreateSpec) -> Vec<String> {
    let mut a = machine(s, "create");
    a.extend(["--name".into(), spec.name.clone()]);
    a.extend(["--image".into(), spec.image.display().to_string()]);
    for (k, v) in &spec.labels {
        a.extend(["--label".into(), format!("{k}={v}")]);
    }
    // --allow-cidr turns the network on and limits it to what it names.
    for cidr in &spec.allow_cidrs {
        a.extend(["--allow-cidr".into(), cidr.clone()]);
    }
    for (k, v) in &spec.env {
        a.extend(["--env".into(), format!("{k}={v}")]);
    }
    for (host, guest, ro) in &spec.volumes {
        let mode = if *ro { ":ro" } else { "" };
        a.extend([
            "--volume".into(),
            format!("{}:{guest}{mode}", host.display()),
        ]);
    }
    if let Some(w) = &spec.workdir {
        a.extend(["--workdir".into(), w.clone()]);
    }
    if let Some(u) = &spec.user {
        a.extend(["--user".into(), u.clone()]);
    }
    if let Some(n) = spec.cpus {
        a.extend(["--cpus".into(), n.to_string()]);
    }
    if let Some(m) = spec.memory_mib {
        a.extend(["--mem".into(), m.to_string()]);
    }
    a
}

pub fn start(s: &Smolvm, name: &str) -> Vec<String> {
    let mut a = machine(s, "start");
    a.extend(["--name".into(), name.into()]);
    a
}

/// A session: `argv` in the machine with a terminal. smolvm sends the
/// size of the terminal it runs in at the start and on each SIGWINCH, so
/// bb runs this in a PTY of the pane's size and resizing the PTY is the
/// whole of the size bridge.
pub fn exec_tty(s: &Smolvm, name: &str, user: Option<&str>, argv: &[String]) -> Vec<String> {
    exec_with(s, name, &["--interactive", "--tty"], user, argv)
}

/// A command with no terminal (installing the CA, copying in the work).
pub fn exec(s: &Smolvm, name: &str, user: Option<&str>, argv: &[String]) -> Vec<String> {
    exec_with(s, name, &[], user, argv)
}

/// A command whose stdin is given (an archive for `tar -x`), no terminal.
pub fn exec_input(s: &Smolvm, name: &str, user: Option<&str>, argv: &[String]) -> Vec<String> {
    exec_with(s, name, &["--interactive"], user, argv)
}

/// A command left running in the machine (the console holder), which
/// outlives this exec.
pub fn exec_detached(s: &Smolvm, name: &str, user: Option<&str>, argv: &[String]) -> Vec<String> {
    exec_with(s, name, &["--detach"], user, argv)
}

/// `machine exec --name NAME FLAGS [--user U] -- ARGV`: every exec verb.
fn exec_with(
    s: &Smolvm,
    name: &str,
    flags: &[&str],
    user: Option<&str>,
    argv: &[String],
) -> Vec<String> {
    let mut a = machine(s, "exec");
    a.extend(["--name".into(), name.into()]);
    a.extend(flags.iter().map(|f| f.to_string()));
    if let Some(u) = user {
        a.extend(["--user".into(), u.into()]);
    }
    a.push("--".into());
    a.extend(argv.iter().cloned());
    a
}

/// Copy a host file into the machine (`machine cp SRC NAME:DST`).
pub fn copy_in(s: &Smolvm, name: &str, src: &Path, dst: &str, mode: u32) -> Vec<String> {
    let mut a = machine(s, "cp");
    a.extend([
        "--mode".into(),
        format!("{mode:o}"),
        src.display().to_string(),
        format!("{name}:{dst}"),
    ]);
    a
}

pub fn stop(s: &Smolvm, name: &str) -> Vec<String> {
    let mut a = machine(s, "stop");
    a.extend(["--name".into(), name.into()]);
    a
}

pub fn delete(s: &Smolvm, name: &str) -> Vec<String> {
    let mut a = machine(s, "delete");
    a.extend(["--name".into(), name.into(), "--force".into()]);
    a
}

pub fn list(s: &Smolvm) -> Vec<String> {
    let mut a = machine(s, "ls");
    a.push("--json".into());
    a
}

/// Every verb and flag bb uses, for the contract test against the real
/// CLI: `(verb, flags)`, the verb under `machine`.
pub const USED: &[(&str, &[&str])] = &[
    (
        "create",
        &[
            "--name",
            "--image",
            "--label",
            "--allow-cidr",
            "--env",
            "--volume",
            "--workdir",
            "--user",
            "--cpus",
            "--mem",
        ],
    ),
    ("start", &["--name"]),
    (
        "exec",
        &["--name", "--interactive", "--tty", "--user", "--detach"],
    ),
    ("cp", &["--mode"]),
    ("stop", &["--name"]),
    ("delete", &["--name", "--force"]),
    ("ls", &["--json"]),
];

/// A machine as `machine ls --json` describes it (the fields bb reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Listed {
    pub name: String,
    /// `created`, `running`, `stopped`, ...
    pub state: String,
    #[serde(default)]
    pub state_reason: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_cidrs: Vec<String>,
}

/// What `machine ls --json` printed.
pub fn parse_list(json: &str) -> Result<Vec<Listed>, String> {
    serde_json::from_str(json).map_err(|e| format!("smolvm machine ls --json: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smolvm() -> Smolvm {
        Smolvm {
            program: "/opt/smol/smol-vmm".into(),
            state_dir: Some("/tmp/st".into()),
        }
    }

    #[test]
    fn each_verb_is_the_command_line_bb_means() {
        let s = smolvm();
        let spec = CreateSpec {
            name: "bb-alpha-1a2b3c".into(),
            image: "/home/u/.bot-bottle/state/alpha-1a2b3c/agent.tar".into(),
            labels: BTreeMap::from([
                ("bb.home".into(), "/home/u/.bot-bottle".into()),
                ("bb.slug".into(), "alpha-1a2b3c".into()),
            ]),
            allow_cidrs: vec!["127.77.0.9/32".into()],
            env: vec![("HTTPS_PROXY".into(), "http://127.77.0.9:3128".into())],
            volumes: vec![("/home/u/ca".into(), "/opt/bb/ca".into(), true)],
            workdir: Some("/work".into()),
            user: Some("node".into()),
            cpus: Some(2),
            memory_mib: Some(4096),
        };
        assert_eq!(
            create(&s, &spec).join(" "),
            "--state-dir /tmp/st machine create --name bb-alpha-1a2b3c \
             --image /home/u/.bot-bottle/state/alpha-1a2b3c/agent.tar \
             --label bb.home=/home/u/.bot-bottle --label bb.slug=alpha-1a2b3c \
             --allow-cidr 127.77.0.9/32 --env HTTPS_PROXY=http://127.77.0.9:3128 \
             --volume /home/u/ca:/opt/bb/ca:ro --workdir /work --user node --cpus 2 --mem 4096"
        );
        let argv = vec!["claude".to_string(), "--continue".to_string()];
        assert_eq!(
            exec_tty(&s, "m", Some("node"), &argv).join(" "),
            "--state-dir /tmp/st machine exec --name m --interactive --tty --user node -- claude --continue"
        );
        assert_eq!(
            exec_input(&s, "m", Some("root"), &["tar".to_string()]).join(" "),
            "--state-dir /tmp/st machine exec --name m --interactive --user root -- tar"
        );
        assert_eq!(
            exec_detached(&s, "m", Some("node"), &["true".to_string()]).join(" "),
            "--state-dir /tmp/st machine exec --name m --detach --user node -- true"
        );
        assert_eq!(
            exec(&s, "m", None, &["true".to_string()]).join(" "),
            "--state-dir /tmp/st machine exec --name m -- true"
        );
        assert_eq!(
            copy_in(&s, "m", Path::new("/tmp/ca.pem"), "/usr/local/share/ca-certificates/bb.crt", 0o644)
                .join(" "),
            "--state-dir /tmp/st machine cp --mode 644 /tmp/ca.pem m:/usr/local/share/ca-certificates/bb.crt"
        );
        let plain = Smolvm {
            program: "smolvm".into(),
            state_dir: None,
        };
        assert_eq!(start(&plain, "m").join(" "), "machine start --name m");
        assert_eq!(stop(&plain, "m").join(" "), "machine stop --name m");
        assert_eq!(
            delete(&plain, "m").join(" "),
            "machine delete --name m --force"
        );
        assert_eq!(list(&plain).join(" "), "machine ls --json");
    }

    #[test]
    fn every_flag_bb_passes_is_one_the_contract_checks() {
        let s = smolvm();
        let spec = CreateSpec {
            name: "m".into(),
            image: "/i.tar".into(),
            labels: BTreeMap::from([("k".into(), "v".into())]),
            allow_cidrs: vec!["10.0.0.1/32".into()],
            env: vec![("A".into(), "B".into())],
            volumes: vec![("/a".into(), "/b".into(), false)],
            workdir: Some("/w".into()),
            user: Some("u".into()),
            cpus: Some(1),
            memory_mib: Some(512),
        };
        let argvs = [
            ("create", create(&s, &spec)),
            ("start", start(&s, "m")),
            ("exec", exec_tty(&s, "m", Some("u"), &[])),
            ("exec", exec_detached(&s, "m", Some("u"), &[])),
            ("exec", exec_input(&s, "m", Some("u"), &[])),
            ("cp", copy_in(&s, "m", Path::new("/a"), "/b", 0o600)),
            ("stop", stop(&s, "m")),
            ("delete", delete(&s, "m")),
            ("ls", list(&s)),
        ];
        for (verb, argv) in argvs {
            let (_, flags) = USED.iter().find(|(v, _)| *v == verb).unwrap();
            for flag in argv
                .iter()
                .skip(4)
                .filter(|a| a.starts_with("--") && *a != "--")
            {
                assert!(flags.contains(&flag.as_str()), "{verb} {flag}");
            }
        }
    }

    #[test]
    fn the_listing_is_read_as_smolvm_writes_it() {
        // As smolvm 1.32.2 printed it for a created machine.
        let json = r#"[{"allowed_cidrs":["127.0.0.1/32"],"block_io":"sync","cpus":4,
            "image":"local:de9b","labels":{"bb.slug":"x-1"},"memory_mib":8192,"name":"bbtest",
            "network":true,"pid":null,"state":"created","state_reason":null}]"#;
        let l = parse_list(json).unwrap();
        assert_eq!(l[0].name, "bbtest");
        assert_eq!(l[0].state, "created");
        assert_eq!(l[0].labels["bb.slug"], "x-1");
        assert!(parse_list("nope")
            .unwrap_err()
            .contains("machine ls --json"));
    }
}
