//! Can smolvm run bottles here? Finding the program (`BB_SMOLVM`, `smolvm`
//! on PATH, or the `smol-vmm` the `smolmachines` PyPI package installs)
//! and the KVM a micro-VM needs, each reason it cannot in one line.

use std::path::{Path, PathBuf};

/// Why smolvm cannot run a VM here, for `bb doctor` and the backend picker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("smolvm is not installed: `pip install smolmachines` (or its release), or name the program with BB_SMOLVM")]
    NotInstalled,
    #[error("{program} does not run ({why}); reinstall smolmachines or fix BB_SMOLVM")]
    Broken { program: String, why: String },
    #[error("no /dev/kvm: smolvm needs KVM (bare metal, or a VM with nested virtualization)")]
    NoKvm,
    #[error("/dev/kvm is not readable and writable by this user: add it to group kvm (or run with access to /dev/kvm)")]
    KvmDenied,
    #[error("/dev/kvm is kvm-pvm (software nested virtualization), which cannot boot smolvm's guest kernel: smolvm needs hardware KVM (kvm_intel or kvm_amd)")]
    NestedPvm,
    #[error(
        "/dev/kvm is there but neither kvm_intel nor kvm_amd is loaded: smolvm needs hardware KVM"
    )]
    UnknownKvm,
}

/// The smolvm program to run: `BB_SMOLVM`, else `smolvm` on PATH, else
/// the `smol-vmm` of an installed `smolmachines` package.
pub fn locate(env_program: Option<&str>, path: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = env_program.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(found) = path.and_then(|p| on_path(p, "smolvm")) {
        return Some(found);
    }
    python_package()
}

fn on_path(path: &str, name: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `smol/smol-vmm` beside the `smolmachines` package python3 imports.
fn python_package() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import os, smol; print(os.path.dirname(smol.__file__))",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let program = Path::new(dir.trim()).join("smol-vmm");
    (out.status.success() && is_executable(&program)).then_some(program)
}

/// The version line the program prints (`smolvm 1.32.2`).
pub fn version(program: &Path) -> Result<String, Unusable> {
    let broken = |why: String| Unusable::Broken {
        program: program.display().to_string(),
        why,
    };
    // A program just written (installed, or a test's stand-in) can be
    // busy for a moment while another thread's fork still holds it open.
    let mut tries = 0;
    let out = loop {
        match std::process::Command::new(program)
            .arg("--version")
            .output()
        {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => break other.map_err(|e| broken(e.to_string()))?,
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find(|l| l.starts_with("smolvm ")) {
        Some(v) if out.status.success() => Ok(v.trim().to_string()),
        _ => Err(broken(format!(
            "--version said {:?}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("nothing")
        ))),
    }
}

/// What the host's KVM is, read from the files under `root` (`/` in use;
/// a test's tree in tests).
pub fn kvm(root: &Path) -> Result<&'static str, Unusable> {
    let dev = root.join("dev/kvm");
    if !dev.exists() {
        return Err(Unusable::NoKvm);
    }
    let open = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&dev)
        .is_ok();
    if !open {
        return Err(Unusable::KvmDenied);
    }
    let module = |m: &str| root.join("sys/module").join(m).is_dir();
    if module("kvm_pvm") {
        return Err(Unusable::NestedPvm);
    }
    ["kvm_intel", "kvm_amd"]
        .into_iter()
        .find(|m| module(m))
        .ok_or(Unusable::UnknownKvm)
}

/// The program, if smolvm can boot VMs here; else the first reason not.
pub fn usable() -> Result<PathBuf, Unusable> {
    let program = locate(
        std::env::var("BB_SMOLVM").ok().as_deref(),
        std::env::var("PATH").ok().as_deref(),
    )
    .ok_or(Unusable::NotInstalled)?;
    version(&program)?;
    kvm(Path::new("/"))?;
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_kvm_is_told_apart() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        assert_eq!(kvm(r), Err(Unusable::NoKvm));
        std::fs::create_dir_all(r.join("dev")).unwrap();
        std::fs::write(r.join("dev/kvm"), "").unwrap();
        std::fs::create_dir_all(r.join("sys/module/kvm_pvm")).unwrap();
        assert_eq!(kvm(r), Err(Unusable::NestedPvm));
        std::fs::remove_dir(r.join("sys/module/kvm_pvm")).unwrap();
        assert_eq!(kvm(r), Err(Unusable::UnknownKvm));
        std::fs::create_dir_all(r.join("sys/module/kvm_amd")).unwrap();
        assert_eq!(kvm(r), Ok("kvm_amd"));
        // Every reason is one line that says what to do.
        for u in [
            Unusable::NotInstalled,
            Unusable::NoKvm,
            Unusable::KvmDenied,
            Unusable::NestedPvm,
            Unusable::UnknownKvm,
        ] {
            assert!(!u.to_string().contains('\n'), "{u}");
        }
    }

    #[test]
    fn the_program_is_found_by_variable_then_path() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("smolvm");
        std::fs::write(&p, "#!/bin/sh\necho 'smolvm 9.9.9'\n").unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(locate(Some("/opt/x"), None), Some(PathBuf::from("/opt/x")));
        let path = format!("/nonexistent:{}", d.path().display());
        assert_eq!(locate(None, Some(&path)), Some(p.clone()));
        assert_eq!(version(&p), Ok("smolvm 9.9.9".to_string()));
        let broken = version(Path::new("/nonexistent/smolvm")).unwrap_err();
        assert!(broken.to_string().contains("does not run"), "{broken}");
    }
}
