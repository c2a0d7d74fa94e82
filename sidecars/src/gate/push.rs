//! The gate's pre-receive hook: what a push may do (no deletions or
//! rewrites unless the remote allows them) and what it may carry (every
//! new object scanned with the shared DLP rules), then the push upstream
//! with the gate's credential before the gate accepts it.

use std::process::Stdio;

/// A secret found in what a push brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub rule: &'static str,
    pub file: String,
    pub line: usize,
    pub commit: String,
}

pub(super) const ZERO: &str = "0000000000000000000000000000000000000000";

/// What a compressed file in a push may unpack to, in all.
const ARCHIVE_LIMITS: crate::dlp::inflate::Limits = crate::dlp::inflate::Limits::sent(64 << 20);

pub(super) fn sh_git(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new("git")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Every object `new` brings that the gate does not have yet, with the
/// path rev-list names it by (blobs and trees).
fn new_objects(new: &str) -> Result<Vec<(String, Option<String>)>, String> {
    Ok(sh_git(&["rev-list", "--objects", new, "--not", "--all"])?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once(' ') {
            Some((oid, path)) => (oid.to_string(), Some(path.to_string())),
            None => (l.to_string(), None),
        })
        .collect())
}

/// The objects' types and contents, read in one `git cat-file --batch`.
fn read_objects(oids: &[&str]) -> Result<Vec<(String, Vec<u8>)>, String> {
    use std::io::Write;
    let mut child = std::process::Command::new("git")
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let list: String = oids.iter().map(|o| format!("{o}\n")).collect();
    let writer = std::thread::spawn(move || stdin.write_all(list.as_bytes()));
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let _ = writer.join();
    let mut rest = &out.stdout[..];
    let mut objects = Vec::new();
    while !rest.is_empty() {
        let nl = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or("truncated cat-file output")?;
        let head = String::from_utf8_lossy(&rest[..nl]).into_owned();
        let mut f = head.split_whitespace();
        let (_oid, kind, size) = (f.next(), f.next().unwrap_or(""), f.next());
        let size: usize = size
            .and_then(|s| s.parse().ok())
            .ok_or(format!("cat-file: {head}"))?;
        let body = rest
            .get(nl + 1..nl + 1 + size)
            .ok_or("truncated cat-file output")?;
        objects.push((kind.to_string(), body.to_vec()));
        rest = rest.get(nl + 2 + size..).unwrap_or(&[]);
    }
    Ok(objects)
}

/// Printable runs of a binary file, one per line, as `strings` finds them.
fn strings(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for b in bytes {
        if b.is_ascii_graphic() || *b == b' ' {
            run.push(*b as char);
        } else {
            if run.len() >= 8 {
                out.push_str(&run);
                out.push('\n');
            }
            run.clear();
        }
    }
    if run.len() >= 8 {
        out.push_str(&run);
    }
    out
}

/// A secret in a file's text: its line, also when split over two lines.
fn scan_text(text: &str) -> Option<(&'static str, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if let Some(f) = crate::dlp::scan(l) {
            return Some((f.rule, i + 1));
        }
    }
    lines.windows(2).enumerate().find_map(|(i, pair)| {
        crate::dlp::scan_joined(pair.iter().copied()).map(|f| (f.rule, i + 1))
    })
}

/// Scan everything a push brings: file names, whole files (binary ones
/// as their printable strings), commit and tag messages, authors and
/// committers. The leak names where, never what.
pub fn scan_push(new: &str) -> Result<Option<Leak>, String> {
    let objects = new_objects(new)?;
    let leak = |rule, file: String, line, oid: &str| Leak {
        rule,
        file,
        line,
        commit: oid.chars().take(12).collect(),
    };
    for (oid, path) in &objects {
        if let Some(f) = path.as_deref().and_then(crate::dlp::scan) {
            return Ok(Some(leak(f.rule, "a file or folder name".into(), 0, oid)));
        }
    }
    let oids: Vec<&str> = objects.iter().map(|(o, _)| o.as_str()).collect();
    for ((oid, path), (kind, body)) in objects.iter().zip(read_objects(&oids)?) {
        let file = path.clone().unwrap_or_default();
        // A compressed file or archive, read as whoever unpacks it will.
        if kind == "blob" {
            let parts = crate::dlp::archive::unpack(&body, &file, ARCHIVE_LIMITS)
                .map_err(|u| format!("{file} cannot be read to be scanned: {u}"))?;
            for part in parts {
                let text = if part.bytes.contains(&0) {
                    strings(&part.bytes)
                } else {
                    String::from_utf8_lossy(&part.bytes).into_owned()
                };
                if let Some((rule, line)) = scan_text(&text) {
                    return Ok(Some(leak(rule, part.place, line, oid)));
                }
            }
        }
        match kind.as_str() {
            "blob" if body.contains(&0) => {
                if let Some((rule, line)) = scan_text(&strings(&body)) {
                    return Ok(Some(leak(rule, format!("{file} (binary)"), line, oid)));
                }
            }
            "blob" => {
                if let Some((rule, line)) = scan_text(&String::from_utf8_lossy(&body)) {
                    return Ok(Some(leak(rule, file, line, oid)));
                }
            }
            "commit" | "tag" => {
                if let Some((rule, _)) = scan_text(&String::from_utf8_lossy(&body)) {
                    return Ok(Some(leak(
                        rule,
                        format!("the {kind}'s message or author"),
                        0,
                        oid,
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// A secret in a ref's name (a branch or tag named after a key): the name
/// is read as a commit message is, and with its `/` parts joined, as a
/// host's labels are.
pub fn scan_ref_name(refname: &str) -> Option<&'static str> {
    let name = refname
        .strip_prefix("refs/heads/")
        .or_else(|| refname.strip_prefix("refs/tags/"))
        .unwrap_or(refname);
    let joined: String = name.split('/').collect();
    crate::dlp::scan(name)
        .or_else(|| crate::dlp::scan(&joined))
        .or_else(|| crate::dlp::scan_joined(name.split('/')))
        .map(|f| f.rule)
}

/// Run as git's pre-receive hook: check each ref update, scan what it
/// brings, then push upstream; exit non-zero to refuse. Messages reach the
/// agent as `remote:` lines.
pub fn pre_receive(stdin: &str) -> i32 {
    let updates: Vec<(&str, &str, &str)> = stdin
        .lines()
        .filter_map(|l| {
            let mut p = l.split_whitespace();
            Some((p.next()?, p.next()?, p.next()?))
        })
        .collect();
    let rewrite_ok = std::env::var("BB_GATE_ALLOW_FORCE_PUSH").as_deref() == Ok("1");
    let how = "the bottle's git.remotes entry must say AllowForcePush: true for that";
    // Every name goes upstream, even a deletion's: none may be a secret.
    // The refusal never repeats the name.
    for (_, _, refname) in &updates {
        if let Some(rule) = scan_ref_name(refname) {
            eprintln!(
                "bb git-gate: refusing a ref whose name looks like a secret ({rule}). Name the branch or tag something else and push again."
            );
            return 1;
        }
    }
    for (old, new, refname) in &updates {
        if *new == ZERO {
            if !rewrite_ok {
                eprintln!("bb git-gate: refusing to delete {refname} upstream: {how}.");
                return 1;
            }
            continue;
        }
        if *old != ZERO
            && !rewrite_ok
            && sh_git(&["merge-base", "--is-ancestor", old, new]).is_err()
        {
            eprintln!(
                "bb git-gate: refusing {refname}: not a fast-forward of what upstream has; {how}."
            );
            return 1;
        }
        match scan_push(new) {
            Err(e) => {
                eprintln!("bb git-gate: cannot read what the push brings: {e}");
                return 1;
            }
            Ok(Some(leak)) => {
                let at = if leak.line > 0 {
                    format!("{}:{}", leak.file, leak.line)
                } else {
                    leak.file.clone()
                };
                eprintln!(
                    "bb git-gate: refusing {refname}: {} in {at} (object {}). Remove the secret from the history and push again.",
                    leak.rule, leak.commit
                );
                return 1;
            }
            Ok(None) => {}
        }
    }
    // Clean. Held for the operator first, where the remote says so.
    if let Some(h) = super::hold::Holding::from_env() {
        if let Err(why) = h.hold(&updates) {
            eprintln!("bb git-gate: {why}");
            return 1;
        }
    }
    // Forward to upstream first, so the gate accepts only what upstream
    // took.
    // A local upstream's receive-pack would inherit this hook's quarantine
    // marker and refuse; remote ones (ssh, https) run elsewhere.
    let upstream = sh_git(&["remote", "get-url", "origin"]).unwrap_or_default();
    let local = upstream.starts_with('/') || upstream.starts_with("file://");
    for (_old, new, refname) in &updates {
        let spec = if *new == ZERO {
            format!(":{refname}")
        } else if rewrite_ok {
            // Allowed to rewrite: upstream takes the agent's history.
            format!("+{new}:{refname}")
        } else {
            format!("{new}:{refname}")
        };
        let mut args = vec!["push", "--quiet"];
        if local {
            args.push("--receive-pack=env -u GIT_QUARANTINE_PATH git-receive-pack");
        }
        args.extend(["origin", spec.as_str()]);
        if let Err(e) = sh_git(&args) {
            eprintln!("bb git-gate: upstream refused {refname}: {e}");
            return 1;
        }
    }
    0
}
