//! `extends:` — a bottle built on its parent. env merges (child wins),
//! git.user overlays per field, git.remotes merges by host (an explicit `{}`
//! clears), and agent_provider, egress and supervise replace whole.

use super::bottle::BottleParts;
use super::model::{Bottle, Git, Role, Template};

/// Merge `child` over an already merged `parent`.
pub fn merge(parent: &BottleParts, child: &BottleParts) -> BottleParts {
    let env = match (&parent.env, &child.env) {
        (Some(p), Some(c)) => {
            let mut m = p.clone();
            m.extend(c.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(m)
        }
        (p, c) => c.clone().or_else(|| p.clone()),
    };
    let git_user = match (&parent.git_user, &child.git_user) {
        (Some(p), Some(c)) => Some(c.over(p)),
        (p, c) => c.clone().or_else(|| p.clone()),
    };
    let remotes = match (&parent.remotes, &child.remotes) {
        (_, Some(c)) if c.is_empty() => Some(Default::default()),
        (Some(p), Some(c)) => {
            let mut m = p.clone();
            m.extend(c.iter().map(|(k, v)| (k.clone(), v.clone())));
            Some(m)
        }
        (p, c) => c.clone().or_else(|| p.clone()),
    };
    BottleParts {
        extends: child.extends.clone(),
        env,
        provider: child.provider.clone().or_else(|| parent.provider.clone()),
        git_user,
        remotes,
        egress: child.egress.clone().or_else(|| parent.egress.clone()),
        supervise: child.supervise.or(parent.supervise),
        limits: child.limits.or(parent.limits),
        engine: child.engine.clone().or_else(|| parent.engine.clone()),
    }
}

/// Fill defaults and check what only holds across the merged whole.
pub fn finish(
    name: &str,
    path: &std::path::Path,
    extends: Vec<String>,
    parts: BottleParts,
) -> Result<Bottle, (Vec<super::yaml::Seg>, String)> {
    use super::yaml::Seg;
    let (provider, legacy_auth_token) = parts.provider.unwrap_or_default();
    let egress = parts.egress.unwrap_or_default();
    if provider.template != Template::Claude {
        if let Some(i) = egress
            .routes
            .iter()
            .position(|r| r.role == Some(Role::ClaudeCodeOauth))
        {
            return Err((
                vec![
                    Seg::Key("egress".into()),
                    Seg::Key("routes".into()),
                    Seg::Index(i),
                    Seg::Key("role".into()),
                ],
                format!(
                    "claude_code_oauth is the Claude provider's route, but this bottle's template is {}",
                    provider.template.name()
                ),
            ));
        }
    }
    if legacy_auth_token.is_some()
        && egress
            .routes
            .iter()
            .any(|r| r.role == Some(Role::ClaudeCodeOauth))
    {
        return Err((
            vec![
                Seg::Key("agent_provider".into()),
                Seg::Key("auth_token".into()),
            ],
            "and a claude_code_oauth route are both set; keep only the route".to_string(),
        ));
    }
    Ok(Bottle {
        name: name.to_string(),
        path: path.to_path_buf(),
        extends,
        env: parts.env.unwrap_or_default(),
        provider,
        legacy_auth_token,
        git: Git {
            user: parts.git_user.unwrap_or_default(),
            remotes: parts.remotes.unwrap_or_default(),
        },
        egress,
        supervise: parts.supervise.unwrap_or(true),
        limits: parts.limits.unwrap_or_default(),
        engine: parts.engine,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::manifest::model::{Egress, EnvValue, GitUser, Route};

    fn env(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, EnvValue>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), EnvValue::Literal(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn env_merges_child_wins() {
        let p = BottleParts {
            env: env(&[("A", "1"), ("B", "1")]),
            ..Default::default()
        };
        let c = BottleParts {
            env: env(&[("B", "2")]),
            ..Default::default()
        };
        assert_eq!(merge(&p, &c).env, env(&[("A", "1"), ("B", "2")]));
    }

    #[test]
    fn git_user_overlays_per_field() {
        let p = BottleParts {
            git_user: Some(GitUser {
                name: Some("p".into()),
                email: Some("p@x".into()),
            }),
            ..Default::default()
        };
        let c = BottleParts {
            git_user: Some(GitUser {
                name: Some("c".into()),
                email: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            merge(&p, &c).git_user,
            Some(GitUser {
                name: Some("c".into()),
                email: Some("p@x".into())
            })
        );
    }

    #[test]
    fn egress_replaces_whole_and_empty_remotes_clear() {
        let p = BottleParts {
            egress: Some(Egress {
                routes: vec![Route::bare("a.example")],
                allowlist: vec![],
                bip39: false,
            }),
            remotes: Some(BTreeMap::new()),
            ..Default::default()
        };
        let c = BottleParts {
            egress: Some(Egress {
                routes: vec![Route::bare("b.example")],
                allowlist: vec![],
                bip39: false,
            }),
            ..Default::default()
        };
        let m = merge(&p, &c);
        assert_eq!(m.egress.unwrap().routes[0].host, "b.example");
        let undeclared = merge(&c, &BottleParts::default());
        assert_eq!(undeclared.egress.unwrap().routes[0].host, "b.example");
    }

    #[test]
    fn supervise_defaults_on() {
        let b = finish(
            "x",
            std::path::Path::new("x.md"),
            vec![],
            BottleParts::default(),
        )
        .unwrap();
        assert!(b.supervise);
    }
}
