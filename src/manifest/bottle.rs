//! One bottle file: its frontmatter read and validated on its own, before
//! `extends:` merges it with its parents.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::egress::{self, EgressDoc};
use super::git::{self, GitDoc, LegacyGitGateDoc};
use super::issue::{is_env_name, key, Issue};
use super::model::{Egress, EnvValue, GitUser, Limits, Provider, Remote, Template};
use super::yaml::{from_node, Node, NodeKind, Seg};

pub const BOTTLE_KEYS: &[&str] = &[
    "agent_provider",
    "egress",
    "engine",
    "env",
    "extends",
    "git",
    "limits",
    "supervise",
];

/// Keys an older bot-bottle accepted, with what to write instead.
const REMOVED_KEYS: &[(&str, &str)] = &[
    ("runtime", "is no longer supported: bb runs bottles under gVisor (runsc) by itself when Docker has it; remove the key"),
    ("ssh", "was removed: declare upstreams under git.remotes (Upstream, IdentityFile, KnownHostKey); the git gate holds the key"),
    ("git_user", "was removed: move it to git.user"),
    ("cred_proxy", "was removed: declare each route under egress.routes with auth: {scheme, token_ref}"),
];

/// Variables bb sets in every agent so its traffic goes through the proxy
/// and trusts the bottle CA; a manifest must not override them.
const RESERVED_ENV: &[&str] = &[
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BottleDoc {
    extends: Option<String>,
    env: Option<BTreeMap<String, String>>,
    agent_provider: Option<ProviderDoc>,
    git: Option<GitDoc>,
    #[serde(rename = "git-gate")]
    git_gate: Option<LegacyGitGateDoc>,
    egress: Option<EgressDoc>,
    supervise: Option<bool>,
    limits: Option<LimitsDoc>,
    engine: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsDoc {
    memory_mb: Option<u64>,
    pids: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderDoc {
    template: Option<Template>,
    dockerfile: Option<String>,
    auth_token: Option<String>,
    forward_host_credentials: Option<bool>,
}

/// What one file declares. `None` means "not declared here", which matters
/// for `extends:`: a declared field replaces or merges with the parent's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BottleParts {
    pub extends: Option<String>,
    pub env: Option<BTreeMap<String, EnvValue>>,
    pub provider: Option<(Provider, Option<String>)>,
    pub git_user: Option<GitUser>,
    pub remotes: Option<BTreeMap<String, Remote>>,
    pub egress: Option<Egress>,
    pub supervise: Option<bool>,
    pub limits: Option<Limits>,
    pub engine: Option<String>,
}

/// Read one bottle's frontmatter. Warnings are for old forms still read.
pub fn parse(node: &Node) -> Result<(BottleParts, Vec<String>), Issue> {
    let mut warnings = Vec::new();
    if let NodeKind::Map(pairs) = &node.kind {
        for (k, _) in pairs {
            if let NodeKind::Scalar { value, .. } = &k.kind {
                if let Some((_, why)) = REMOVED_KEYS.iter().find(|(name, _)| name == value) {
                    return Err(Issue::at(&[Seg::Key(value.clone())], *why));
                }
            }
        }
    }
    let doc: BottleDoc = from_node(node).map_err(|e| {
        let mut issue = Issue::from(e);
        if issue.message.starts_with("unknown key") && issue.path.len() == 1 {
            // git-gate is still read, but only to point at its new form.
            if let Some(start) = issue.message.find(" (allowed:") {
                issue.message.truncate(start);
                issue
                    .message
                    .push_str(&format!(" (allowed: {})", BOTTLE_KEYS.join(", ")));
            }
        }
        issue
    })?;

    if let Some(e) = &doc.engine {
        let ok = !e.is_empty()
            && e.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            return Err(Issue::at(
                &[Seg::Key("engine".into())],
                format!(
                    "{e:?} is not an engine name: name one of config.yaml `engines:` (or default)"
                ),
            ));
        }
    }
    let mut parts = BottleParts {
        extends: doc.extends,
        supervise: doc.supervise,
        engine: doc.engine,
        ..BottleParts::default()
    };
    if let Some(l) = doc.limits {
        let at = [Seg::Key("limits".into())];
        let d = Limits::default();
        let limits = Limits {
            memory_mb: l.memory_mb.unwrap_or(d.memory_mb),
            pids: l.pids.unwrap_or(d.pids),
        };
        if limits.memory_mb < 256 {
            return Err(Issue::at(
                &key(&at, "memory_mb"),
                format!(
                    "{} MiB is too little for an agent; give at least 256",
                    limits.memory_mb
                ),
            ));
        }
        if limits.pids < 64 {
            return Err(Issue::at(
                &key(&at, "pids"),
                format!(
                    "{} processes is too few for an agent; give at least 64",
                    limits.pids
                ),
            ));
        }
        parts.limits = Some(limits);
    }
    if let Some(env) = doc.env {
        parts.env = Some(parse_env(env, &[Seg::Key("env".into())])?);
    }
    if let Some(p) = doc.agent_provider {
        let at = [Seg::Key("agent_provider".into())];
        let template = p.template.unwrap_or_default();
        if p.forward_host_credentials == Some(true) && template != Template::Codex {
            return Err(Issue::at(
                &key(&at, "forward_host_credentials"),
                "works only with template: codex (Claude authenticates through a claude_code_oauth route)",
            ));
        }
        if let Some(token) = &p.auth_token {
            if template != Template::Claude {
                return Err(Issue::at(
                    &key(&at, "auth_token"),
                    "works only with template: claude",
                ));
            }
            if !is_env_name(token) {
                return Err(Issue::at(
                    &key(&at, "auth_token"),
                    format!("{token:?} is not an environment variable name"),
                ));
            }
            warnings.push(format!(
                "agent_provider.auth_token is deprecated; declare the route instead: egress: {{routes: [{{host: api.anthropic.com, role: claude_code_oauth, auth: {{scheme: Bearer, token_ref: {token}}}, pipelock: {{tls_passthrough: true}}}}]}}"
            ));
        }
        if let Some(d) = &p.dockerfile {
            if d.trim().is_empty() {
                return Err(Issue::at(
                    &key(&at, "dockerfile"),
                    "is empty; give a path to a Dockerfile or remove the key",
                ));
            }
        }
        parts.provider = Some((
            Provider {
                template,
                dockerfile: p.dockerfile,
                forward_host_credentials: p.forward_host_credentials.unwrap_or(false),
            },
            p.auth_token,
        ));
    }
    let git_doc = match (doc.git, doc.git_gate) {
        (Some(_), Some(_)) => {
            return Err(Issue::at(
                &[Seg::Key("git-gate".into())],
                "both git and the old git-gate are set; keep only git",
            ))
        }
        (Some(g), None) => Some((g, "git")),
        (None, Some(legacy)) => {
            let current = legacy.into_current();
            warnings.push(format!(
                "git-gate is deprecated; write it as {}",
                render_git_doc(&current)
            ));
            Some((current, "git-gate"))
        }
        (None, None) => None,
    };
    if let Some((g, top)) = git_doc {
        let at = [Seg::Key(top.into())];
        if let Some(u) = g.user {
            parts.git_user = Some(git::validate_user(u, &key(&at, "user"))?);
        }
        if let Some(r) = g.remotes {
            let sub = if top == "git" { "remotes" } else { "repos" };
            parts.remotes = Some(git::validate_remotes(r, &key(&at, sub))?);
        }
    }
    if let Some(e) = doc.egress {
        parts.egress = Some(egress::validate(e, &[Seg::Key("egress".into())])?);
    }
    Ok((parts, warnings))
}

fn render_git_doc(doc: &GitDoc) -> String {
    let remotes: Vec<String> = doc
        .remotes
        .iter()
        .flatten()
        .map(|(host, r)| format!("{host}: {}", r.describe()))
        .collect();
    format!("git: {{user: ..., remotes: {{{}}}}}", remotes.join(", "))
}

pub fn parse_env(
    env: BTreeMap<String, String>,
    at: &[Seg],
) -> Result<BTreeMap<String, EnvValue>, Issue> {
    let mut out = BTreeMap::new();
    for (name, value) in env {
        let here = key(at, &name);
        if !is_env_name(&name) {
            return Err(Issue::at(
                &here,
                format!("{name:?} is not an environment variable name (letters, digits and _; not starting with a digit)"),
            ));
        }
        if RESERVED_ENV.contains(&name.as_str()) {
            return Err(Issue::at(
                &here,
                "is set by bb so the agent's traffic goes through the bottle's proxy; remove it",
            ));
        }
        out.insert(
            name,
            parse_env_value(&value).map_err(|m| Issue::at(&here, m))?,
        );
    }
    Ok(out)
}

/// `?question` asks at launch; `${VAR}` takes the host's value at launch.
pub fn parse_env_value(value: &str) -> Result<EnvValue, String> {
    if let Some(q) = value.strip_prefix('?') {
        return Ok(EnvValue::Ask(q.trim().to_string()));
    }
    let mut refs = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("{value:?} opens `${{` without a closing `}}`"))?;
        let name = &after[..end];
        if !is_env_name(name) {
            return Err(format!(
                "`${{{name}}}` in {value:?} does not name an environment variable"
            ));
        }
        if !refs.iter().any(|r| r == name) {
            refs.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    Ok(if refs.is_empty() {
        EnvValue::Literal(value.to_string())
    } else {
        EnvValue::Interpolated {
            template: value.to_string(),
            refs,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse as parse_yaml;
    use super::*;

    fn bottle(yaml: &str) -> Result<BottleParts, Issue> {
        parse(&parse_yaml(yaml).unwrap()).map(|(p, _)| p)
    }

    #[test]
    fn env_values() {
        assert_eq!(
            parse_env_value("plain").unwrap(),
            EnvValue::Literal("plain".into())
        );
        assert_eq!(
            parse_env_value("?Your name").unwrap(),
            EnvValue::Ask("Your name".into())
        );
        assert_eq!(
            parse_env_value("${A}:${B}:${A}").unwrap(),
            EnvValue::Interpolated {
                template: "${A}:${B}:${A}".into(),
                refs: vec!["A".into(), "B".into()]
            }
        );
        assert!(parse_env_value("${A").is_err());
        assert!(parse_env_value("${1A}").is_err());
    }

    #[test]
    fn undeclared_fields_stay_none() {
        let p = bottle("env:\n  A: b\n").unwrap();
        assert!(p.env.is_some());
        assert!(p.egress.is_none() && p.provider.is_none() && p.remotes.is_none());
    }

    #[test]
    fn removed_keys_say_what_to_do() {
        let e = bottle("ssh: []\n").unwrap_err();
        assert!(e.message.contains("git.remotes"), "{e:?}");
    }

    #[test]
    fn reserved_env_is_refused() {
        let e = bottle("env:\n  HTTPS_PROXY: http://x\n").unwrap_err();
        assert!(e.message.contains("set by bb"));
    }

    #[test]
    fn provider_flags_check_the_template() {
        assert!(bottle("agent_provider:\n  forward_host_credentials: true\n").is_err());
        assert!(
            bottle("agent_provider:\n  template: codex\n  forward_host_credentials: true\n")
                .is_ok()
        );
        assert!(bottle("agent_provider:\n  template: codex\n  auth_token: TOKEN\n").is_err());
    }

    #[test]
    fn legacy_git_gate_is_read_with_a_warning() {
        let node = parse_yaml(
            "git-gate:\n  repos:\n    app:\n      url: ssh://git@h.example/me/app.git\n      identity: ~/.ssh/k\n",
        )
        .unwrap();
        let (p, warnings) = parse(&node).unwrap();
        let remotes = p.remotes.unwrap();
        assert_eq!(remotes["h.example"].name, "app");
        assert!(
            warnings[0].contains("git: {user: ..., remotes: {h.example:"),
            "{warnings:?}"
        );
    }
}
