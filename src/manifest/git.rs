//! `git:` — the identity commits carry and the remotes the gate fronts.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::issue::{key, Issue};
use super::model::{GitUser, Remote, Upstream, UpstreamScheme};
use super::yaml::Seg;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitDoc {
    pub user: Option<GitUserDoc>,
    pub remotes: Option<BTreeMap<String, RemoteDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitUserDoc {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteDoc {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Upstream")]
    upstream: String,
    #[serde(rename = "IdentityFile")]
    identity_file: Option<String>,
    #[serde(rename = "KnownHostKey")]
    known_host_key: Option<String>,
    #[serde(rename = "ExtraHosts")]
    extra_hosts: Option<BTreeMap<String, String>>,
    #[serde(rename = "AllowForcePush")]
    allow_force_push: Option<bool>,
    #[serde(rename = "ReviewPushes")]
    review_pushes: Option<bool>,
}

/// The pre-0.1 shape: `git-gate: {user, repos: {NAME: {url, identity, host_key}}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegacyGitGateDoc {
    user: Option<GitUserDoc>,
    repos: Option<BTreeMap<String, LegacyRepoDoc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyRepoDoc {
    url: String,
    identity: String,
    host_key: Option<String>,
}

impl LegacyGitGateDoc {
    /// The same configuration in today's shape.
    pub fn into_current(self) -> GitDoc {
        GitDoc {
            user: self.user,
            remotes: self.repos.map(|repos| {
                repos
                    .into_iter()
                    .map(|(name, r)| {
                        let host = upstream_host_guess(&r.url);
                        (
                            host,
                            RemoteDoc {
                                name: Some(name),
                                upstream: r.url,
                                identity_file: Some(r.identity),
                                known_host_key: r.host_key,
                                extra_hosts: None,
                                allow_force_push: None,
                                review_pushes: None,
                            },
                        )
                    })
                    .collect()
            }),
        }
    }
}

fn upstream_host_guess(url: &str) -> String {
    parse_upstream(url)
        .map(|u| u.host)
        .unwrap_or_else(|_| url.to_string())
}

pub fn validate_user(doc: GitUserDoc, at: &[Seg]) -> Result<GitUser, Issue> {
    let name = doc.name.filter(|s| !s.trim().is_empty());
    let email = doc.email.filter(|s| !s.trim().is_empty());
    if name.is_none() && email.is_none() {
        return Err(Issue::at(
            at,
            "is set but has neither name nor email; fill one or remove the block",
        ));
    }
    if let Some(e) = &email {
        if !e.contains('@') {
            return Err(Issue::at(
                &key(at, "email"),
                format!("{e:?} is not an email address"),
            ));
        }
    }
    Ok(GitUser { name, email })
}

pub fn validate_remotes(
    remotes: BTreeMap<String, RemoteDoc>,
    at: &[Seg],
) -> Result<BTreeMap<String, Remote>, Issue> {
    let mut out = BTreeMap::new();
    let mut names = BTreeMap::new();
    for (host_key, doc) in remotes {
        let here = key(at, &host_key);
        let upstream =
            parse_upstream(&doc.upstream).map_err(|m| Issue::at(&key(&here, "Upstream"), m))?;
        let host = host_key.to_ascii_lowercase();
        if upstream.host != host {
            return Err(Issue::at(
                &key(&here, "Upstream"),
                format!(
                    "points at host {:?} but the remote is keyed by {host_key:?}; key each remote by its upstream's host",
                    upstream.host
                ),
            ));
        }
        let name = match doc.name {
            Some(n) => n,
            None => default_name(&upstream.path),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(Issue::at(
                &key(&here, "Name"),
                format!("{name:?} is not a valid repository name (letters, digits, . _ -)"),
            ));
        }
        if let Some(other) = names.insert(name.clone(), host_key.clone()) {
            return Err(Issue::at(
                &key(&here, "Name"),
                format!("{name:?} is also the name of the remote for {other:?}; give each remote its own Name"),
            ));
        }
        if upstream.scheme == UpstreamScheme::Ssh
            && doc.identity_file.as_deref().unwrap_or("").is_empty()
        {
            return Err(Issue::at(
                &here,
                "an ssh:// Upstream needs IdentityFile: the key the gate pushes with (the agent never sees it)",
            ));
        }
        let mut extra_hosts = BTreeMap::new();
        for (h, ip) in doc.extra_hosts.unwrap_or_default() {
            let addr: IpAddr = ip.parse().map_err(|_| {
                Issue::at(
                    &key(&key(&here, "ExtraHosts"), &h),
                    format!("{ip:?} is not an IP address"),
                )
            })?;
            extra_hosts.insert(h.to_ascii_lowercase(), addr);
        }
        out.insert(
            host,
            Remote {
                name,
                upstream,
                identity_file: doc.identity_file,
                known_host_key: doc.known_host_key.filter(|k| !k.trim().is_empty()),
                extra_hosts,
                allow_force_push: doc.allow_force_push.unwrap_or(false),
                review_pushes: doc.review_pushes.unwrap_or(false),
            },
        );
    }
    Ok(out)
}

fn default_name(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or(path);
    last.strip_suffix(".git").unwrap_or(last).to_string()
}

/// `ssh://user@host[:port]/path` or `https://host[:port]/path`.
pub fn parse_upstream(url: &str) -> Result<Upstream, String> {
    let (scheme, rest, default_port) = if let Some(rest) = url.strip_prefix("ssh://") {
        (UpstreamScheme::Ssh, rest, 22)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (UpstreamScheme::Https, rest, 443)
    } else {
        return Err(format!(
            "{url:?} must be an ssh:// or https:// URL (like ssh://git@host/owner/repo.git)"
        ));
    };
    let (authority, path) = rest.split_once('/').ok_or_else(|| {
        format!("{url:?} has no repository path (like ssh://git@host/owner/repo.git)")
    })?;
    if path.is_empty() {
        return Err(format!("{url:?} has an empty repository path"));
    }
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h),
        None => (None, authority),
    };
    if scheme == UpstreamScheme::Ssh && user.as_deref().unwrap_or("").is_empty() {
        return Err(format!(
            "{url:?} needs a user (like ssh://git@host/owner/repo.git)"
        ));
    }
    if scheme == UpstreamScheme::Https && user.is_some() {
        return Err(format!(
            "{url:?} carries credentials in the URL; remove them (the gate holds credentials)"
        ));
    }
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse::<u16>()
                .map_err(|_| format!("{url:?} has a port that is not a number"))?,
        ),
        None => (hostport, default_port),
    };
    if host.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(Upstream {
        url: url.to_string(),
        scheme,
        user,
        host: host.to_ascii_lowercase(),
        port,
        path: path.to_string(),
    })
}

impl RemoteDoc {
    /// This remote in the manifest's own flow syntax, for hints.
    pub fn describe(&self) -> String {
        let mut fields = Vec::new();
        if let Some(n) = &self.name {
            fields.push(format!("Name: {n}"));
        }
        fields.push(format!("Upstream: {}", self.upstream));
        if let Some(i) = &self.identity_file {
            fields.push(format!("IdentityFile: {i}"));
        }
        if self.known_host_key.is_some() {
            fields.push("KnownHostKey: ...".to_string());
        }
        format!("{{{}}}", fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstreams() {
        let u = parse_upstream("ssh://git@Gitea.example:30009/me/repo.git").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("gitea.example", 30009, "me/repo.git")
        );
        assert_eq!(u.user.as_deref(), Some("git"));
        let u = parse_upstream("https://github.com/me/repo.git").unwrap();
        assert_eq!((u.port, u.user), (443, None));
        assert!(parse_upstream("git@github.com:me/repo.git")
            .unwrap_err()
            .contains("ssh://"));
        assert!(parse_upstream("ssh://github.com/me/repo")
            .unwrap_err()
            .contains("needs a user"));
        assert!(parse_upstream("ssh://git@host:x/p")
            .unwrap_err()
            .contains("port"));
        assert!(parse_upstream("https://tok@github.com/p")
            .unwrap_err()
            .contains("credentials"));
    }

    #[test]
    fn default_names_come_from_the_path() {
        assert_eq!(default_name("me/repo.git"), "repo");
        assert_eq!(default_name("repo"), "repo");
    }
}
