//! Where the Docker engines are. The default one is found the way the
//! Docker CLI finds it: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH`), else the context `DOCKER_CONTEXT` or the CLI's
//! config names (`docker context use`), else the local socket. Others are
//! named in `config.yaml` (`engines:`), by address or by Docker context.
//! Any engine that speaks Docker's API will do: Docker, local or over
//! `ssh://` or `tcp://` (TLS), and Podman's socket.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The name of the engine found without configuration.
pub const DEFAULT: &str = "default";
/// Where the Docker engine listens when nothing says otherwise.
pub const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

/// One engine: its name in bb and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineSpec {
    pub name: String,
    /// `unix://PATH`, `tcp://HOST:PORT`, `ssh://[USER@]HOST[:PORT]`.
    pub host: String,
    /// Client certificates for `tcp://` with TLS.
    pub tls: Option<Tls>,
    /// Where the address came from, for messages.
    pub from: String,
}

/// The files of a TLS connection, as the Docker CLI keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Tls {
    /// `ca.pem`, `cert.pem` and `key.pem` in `dir`.
    pub fn in_dir(dir: &Path) -> Tls {
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        }
    }
}

/// How `config.yaml` names an engine: by address, or by Docker context.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// `unix://`, `tcp://` or `ssh://`.
    pub host: Option<String>,
    /// A Docker context (`docker context ls`).
    pub context: Option<String>,
    /// A directory with `ca.pem`, `cert.pem`, `key.pem` (tcp:// with TLS).
    pub tls: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EngineError {
    #[error("engine {name} in config.yaml: give `host:` or `context:`, not both or neither")]
    HostOrContext { name: String },
    #[error("engine {name}: {host:?} is not an address bb can use; write unix://PATH, tcp://HOST:PORT or ssh://USER@HOST")]
    Address { name: String, host: String },
    #[error(
        "Docker context {name} not found in {dir}: `docker context ls` lists the ones there are"
    )]
    NoContext { name: String, dir: String },
    #[error("Docker context {name} ({file}) cannot be read: {why}")]
    BadContext {
        name: String,
        file: String,
        why: String,
    },
    #[error("no engine is named {name}; bb knows {known} (config.yaml `engines:` names more)")]
    Unknown { name: String, known: String },
}

/// What the environment tells: a variable's value, if set and not empty.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The Docker CLI's config dir: `DOCKER_CONFIG`, else `~/.docker`.
fn docker_config_dir(env: Env, user_home: &Path) -> PathBuf {
    env("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| user_home.join(".docker"))
}

/// The engine on this machine's socket.
pub fn local() -> EngineSpec {
    EngineSpec {
        name: "local".into(),
        host: LOCAL_SOCKET.into(),
        tls: None,
        from: "the local socket".into(),
    }
}

/// The engine the Docker CLI would use here.
pub fn default_engine(env: Env, user_home: &Path) -> Result<EngineSpec, EngineError> {
    let context = env("DOCKER_CONTEXT");
    if let (Some(host), None) = (env("DOCKER_HOST"), &context) {
        let tls = env("DOCKER_TLS_VERIFY").map(|_| {
            Tls::in_dir(
                &env("DOCKER_CERT_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| docker_config_dir(env, user_home)),
            )
        });
        return checked(EngineSpec {
            name: DEFAULT.into(),
            host,
            tls,
            from: "DOCKER_HOST".into(),
        });
    }
    let dir = docker_config_dir(env, user_home);
    let current = context.or_else(|| current_context(&dir));
    match current {
        Some(name) if name != DEFAULT => {
            let mut spec = docker_context(&name, &dir)?;
            spec.name = DEFAULT.into();
            Ok(spec)
        }
        _ => Ok(EngineSpec {
            name: DEFAULT.into(),
            host: LOCAL_SOCKET.into(),
            tls: None,
            from: "the local socket".into(),
        }),
    }
}

/// `currentContext` in the CLI's `config.json`.
fn current_context(dir: &Path) -> Option<String> {
    #[derive(Deserialize)]
    struct CliConfig {
        #[serde(rename = "currentContext")]
        current_context: Option<String>,
    }
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    serde_json::from_str::<CliConfig>(&text)
        .ok()?
        .current_context
        .filter(|c| !c.is_empty())
}

/// A Docker context, read where the CLI keeps it: `contexts/meta/<sha256
/// of its name>/meta.json`, its TLS files under `contexts/tls/`.
pub fn docker_context(name: &str, dir: &Path) -> Result<EngineSpec, EngineError> {
    #[derive(Deserialize)]
    struct Meta {
        #[serde(rename = "Endpoints")]
        endpoints: std::collections::HashMap<String, Endpoint>,
    }
    #[derive(Deserialize)]
    struct Endpoint {
        #[serde(rename = "Host")]
        host: Option<String>,
    }
    let id = hex(&Sha256::digest(name.as_bytes()));
    let file = dir.join("contexts/meta").join(&id).join("meta.json");
    let text = std::fs::read_to_string(&file).map_err(|_| EngineError::NoContext {
        name: name.into(),
        dir: dir.join("contexts").display().to_string(),
    })?;
    let bad = |why: String| EngineError::BadContext {
        name: name.into(),
        file: file.display().to_string(),
        why,
    };
    let meta: Meta = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let host = meta
        .endpoints
        .get("docker")
        .and_then(|e| e.host.clone())
        .ok_or_else(|| bad("it has no docker endpoint".into()))?;
    let tls_dir = dir.join("contexts/tls").join(&id).join("docker");
    let tls = tls_dir
        .join("ca.pem")
        .exists()
        .then(|| Tls::in_dir(&tls_dir));
    checked(EngineSpec {
        name: name.into(),
        host,
        tls,
        from: format!("Docker context {name}"),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An address bb can connect to, or why not.
fn checked(spec: EngineSpec) -> Result<EngineSpec, EngineError> {
    let ok = ["unix://", "tcp://", "ssh://", "http://", "https://"]
        .iter()
        .any(|s| spec.host.starts_with(s) && spec.host.len() > s.len());
    if ok {
        Ok(spec)
    } else {
        Err(EngineError::Address {
            name: spec.name,
            host: spec.host,
        })
    }
}

/// An engine `config.yaml` names.
pub fn configured(
    name: &str,
    c: &EngineConfig,
    env: Env,
    user_home: &Path,
) -> Result<EngineSpec, EngineError> {
    let expand = |p: &str| match p.strip_prefix("~/") {
        Some(rest) => user_home.join(rest),
        None => PathBuf::from(p),
    };
    let mut spec = match (&c.host, &c.context) {
        (Some(host), None) => checked(EngineSpec {
            name: name.into(),
            host: host.clone(),
            tls: None,
            from: "config.yaml".into(),
        })?,
        (None, Some(context)) => docker_context(context, &docker_config_dir(env, user_home))?,
        _ => {
            return Err(EngineError::HostOrContext { name: name.into() });
        }
    };
    spec.name = name.into();
    if let Some(dir) = &c.tls {
        spec.tls = Some(Tls::in_dir(&expand(dir)));
    }
    Ok(spec)
}

/// Every engine, the one bottles go to without a choice first (`default`,
/// a name config.yaml gives, else the default engine), then the rest.
pub fn all(
    config: &std::collections::BTreeMap<String, EngineConfig>,
    default: Option<&str>,
    env: Env,
    user_home: &Path,
) -> (Vec<EngineSpec>, Vec<EngineError>) {
    let (mut specs, errors) = every(config, env, user_home);
    if let Some(i) = default.and_then(|d| specs.iter().position(|s| s.name == d)) {
        let first = specs.remove(i);
        specs.insert(0, first);
    }
    (specs, errors)
}

/// The default engine, then those `config.yaml` names (one that is the
/// default engine again is left out). An engine that cannot be resolved
/// is an error, each in its own line.
fn every(
    config: &std::collections::BTreeMap<String, EngineConfig>,
    env: Env,
    user_home: &Path,
) -> (Vec<EngineSpec>, Vec<EngineError>) {
    let mut specs = Vec::new();
    let mut errors = Vec::new();
    match default_engine(env, user_home) {
        Ok(s) => specs.push(s),
        Err(e) => errors.push(e),
    }
    for (name, c) in config {
        match configured(name, c, env, user_home) {
            Ok(s) if specs.iter().any(|d: &EngineSpec| d.host == s.host) => {}
            Ok(s) => specs.push(s),
            Err(e) => errors.push(e),
        }
    }
    (specs, errors)
}

/// The engine named `name` among `specs`, or a Docker context of that
/// name.
pub fn find(
    name: &str,
    specs: &[EngineSpec],
    env: Env,
    user_home: &Path,
) -> Result<EngineSpec, EngineError> {
    if let Some(s) = specs.iter().find(|s| s.name == name) {
        return Ok(s.clone());
    }
    docker_context(name, &docker_config_dir(env, user_home)).map_err(|e| match e {
        EngineError::NoContext { .. } => EngineError::Unknown {
            name: name.into(),
            known: specs
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    /// A context as `docker context create NAME --docker host=HOST` writes it.
    fn write_context(dir: &Path, name: &str, host: &str, tls: bool) {
        let id = hex(&Sha256::digest(name.as_bytes()));
        let meta = dir.join("contexts/meta").join(&id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        )
        .unwrap();
        if tls {
            let t = dir.join("contexts/tls").join(&id).join("docker");
            std::fs::create_dir_all(&t).unwrap();
            for f in ["ca.pem", "cert.pem", "key.pem"] {
                std::fs::write(t.join(f), "x").unwrap();
            }
        }
    }

    #[test]
    fn the_default_engine_is_found_as_the_docker_cli_finds_it() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path();
        // Nothing set: the local socket.
        let e = default_engine(&env(&[]), home).unwrap();
        assert_eq!((e.name.as_str(), e.host.as_str()), (DEFAULT, LOCAL_SOCKET));
        // The CLI's current context.
        write_context(&home.join(".docker"), "big", "ssh://me@big.example", false);
        std::fs::write(
            home.join(".docker/config.json"),
            r#"{"auths":{},"currentContext":"big"}"#,
        )
        .unwrap();
        let e = default_engine(&env(&[]), home).unwrap();
        assert_eq!(e.host, "ssh://me@big.example");
        assert_eq!(e.from, "Docker context big");
        // DOCKER_HOST wins over the current context; with TLS, its files.
        let e = default_engine(
            &env(&[
                ("DOCKER_HOST", "tcp://10.0.0.5:2376"),
                ("DOCKER_TLS_VERIFY", "1"),
                ("DOCKER_CERT_PATH", "/certs"),
            ]),
            home,
        )
        .unwrap();
        assert_eq!(e.host, "tcp://10.0.0.5:2376");
        assert_eq!(e.tls, Some(Tls::in_dir(Path::new("/certs"))));
        // DOCKER_CONTEXT wins over DOCKER_HOST, as in the CLI.
        write_context(&home.join(".docker"), "tls", "tcp://10.0.0.6:2376", true);
        let e = default_engine(
            &env(&[("DOCKER_HOST", "tcp://x:1"), ("DOCKER_CONTEXT", "tls")]),
            home,
        )
        .unwrap();
        assert_eq!(e.host, "tcp://10.0.0.6:2376");
        assert!(e.tls.is_some(), "the context's TLS files");
        // A context that is not there says where bb looked.
        let err = default_engine(&env(&[("DOCKER_CONTEXT", "nope")]), home).unwrap_err();
        assert!(err.to_string().contains("docker context ls"), "{err}");
        // An address bb cannot use.
        let err = default_engine(&env(&[("DOCKER_HOST", "fd://")]), home).unwrap_err();
        assert!(err.to_string().contains("unix://PATH"), "{err}");
    }

    #[test]
    fn configured_engines_are_named_by_address_or_context_and_found_by_name() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path();
        write_context(&home.join(".docker"), "lab", "ssh://lab", false);
        let yaml = "big: {host: 'ssh://me@big:2222'}\npod: {host: 'unix:///run/user/1000/podman/podman.sock'}\nlab: {context: lab}\nsame: {host: 'unix:///var/run/docker.sock'}\nbad: {}\n";
        let node = crate::manifest::yaml::parse(yaml).unwrap();
        let config: std::collections::BTreeMap<String, EngineConfig> =
            crate::manifest::yaml::from_node(&node).unwrap();
        let (specs, errors) = all(&config, None, &env(&[]), home);
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [DEFAULT, "big", "lab", "pod"],
            "the default's twin left out"
        );
        let (first, _) = all(&config, Some("pod"), &env(&[]), home);
        assert_eq!(first[0].name, "pod", "default_engine goes first");
        assert_eq!(errors, [EngineError::HostOrContext { name: "bad".into() }]);
        assert_eq!(
            find("lab", &specs, &env(&[]), home).unwrap().host,
            "ssh://lab"
        );
        let err = find("nowhere", &specs, &env(&[]), home).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no engine is named nowhere; bb knows default, big, lab, pod (config.yaml `engines:` names more)"
        );
    }
}
