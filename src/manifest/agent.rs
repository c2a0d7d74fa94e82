//! One agent file: which bottle it runs in, its skills, its git identity and
//! its prompt (the Markdown body).

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::git::{self, GitUserDoc};
use super::issue::{index, key, Issue};
use super::model::GitUser;
use super::yaml::{from_node, Node, NodeKind, Seg};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentDoc {
    bottle: Option<String>,
    skills: Option<Vec<String>>,
    git: Option<AgentGitDoc>,
    #[serde(rename = "git-gate")]
    git_gate: Option<AgentGitDoc>,
    // Claude Code subagent keys: accepted so one file can serve both.
    #[allow(dead_code)]
    name: Option<IgnoredAny>,
    #[allow(dead_code)]
    description: Option<IgnoredAny>,
    #[allow(dead_code)]
    model: Option<IgnoredAny>,
    #[allow(dead_code)]
    color: Option<IgnoredAny>,
    #[allow(dead_code)]
    memory: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentGitDoc {
    user: Option<GitUserDoc>,
}

pub const AGENT_KEYS: &[&str] = &[
    "bottle",
    "skills",
    "git",
    "name",
    "description",
    "model",
    "color",
    "memory",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentParts {
    pub bottle: String,
    pub skills: Vec<String>,
    pub git_user: GitUser,
}

pub fn parse(node: &Node) -> Result<(AgentParts, Vec<String>), Issue> {
    let mut warnings = Vec::new();
    for top in ["git", "git-gate"] {
        if let Some(NodeKind::Map(pairs)) = child(node, top).map(|n| &n.kind) {
            for (k, _) in pairs {
                if let NodeKind::Scalar { value, .. } = &k.kind {
                    if value != "user" {
                        return Err(Issue::at(
                            &[Seg::Key(top.into()), Seg::Key(value.clone())],
                            "is not allowed in an agent: remotes carry credentials and host trust, so they live only in home bottles; an agent may set git.user",
                        ));
                    }
                }
            }
        }
    }
    let doc: AgentDoc = from_node(node).map_err(|e| {
        let mut issue = Issue::from(e);
        if issue.message.starts_with("unknown key") && issue.path.len() == 1 {
            if let Some(start) = issue.message.find(" (allowed:") {
                issue.message.truncate(start);
                issue
                    .message
                    .push_str(&format!(" (allowed: {})", AGENT_KEYS.join(", ")));
            }
        }
        issue
    })?;
    let bottle = match doc.bottle {
        None => {
            return Err(Issue::at(
                &[],
                "missing required key \"bottle\": name the home bottle this agent runs in",
            ))
        }
        Some(b) if !super::loader::is_entity_name(&b) => {
            return Err(Issue::at(
                &[Seg::Key("bottle".into())],
                format!("{b:?} is not a bottle name (bottle names match [a-z][a-z0-9-]*)"),
            ))
        }
        Some(b) => b,
    };
    let mut skills = Vec::new();
    for (i, s) in doc.skills.unwrap_or_default().into_iter().enumerate() {
        let ok = !s.is_empty()
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(Issue::at(
                &index(&[Seg::Key("skills".into())], i),
                format!("{s:?} is not a skill name (a folder name under ~/.claude/skills: letters, digits, . _ -)"),
            ));
        }
        if skills.contains(&s) {
            return Err(Issue::at(
                &index(&[Seg::Key("skills".into())], i),
                format!("{s:?} is listed twice"),
            ));
        }
        skills.push(s);
    }
    let git_doc = match (doc.git, doc.git_gate) {
        (Some(_), Some(_)) => {
            return Err(Issue::at(
                &[Seg::Key("git-gate".into())],
                "both git and the old git-gate are set; keep only git",
            ))
        }
        (Some(g), None) => Some((g, "git")),
        (None, Some(g)) => {
            warnings.push(
                "git-gate is deprecated; write git: {user: {name: ..., email: ...}}".to_string(),
            );
            Some((g, "git-gate"))
        }
        (None, None) => None,
    };
    let git_user = match git_doc {
        Some((AgentGitDoc { user: Some(u) }, top)) => {
            git::validate_user(u, &key(&[Seg::Key(top.into())], "user"))?
        }
        _ => GitUser::default(),
    };
    Ok((
        AgentParts {
            bottle,
            skills,
            git_user,
        },
        warnings,
    ))
}

fn child<'a>(node: &'a Node, name: &str) -> Option<&'a Node> {
    match &node.kind {
        NodeKind::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| matches!(&k.kind, NodeKind::Scalar { value, .. } if value == name))
            .map(|(_, v)| v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse as parse_yaml;
    use super::*;

    fn agent(yaml: &str) -> Result<AgentParts, Issue> {
        parse(&parse_yaml(yaml).unwrap()).map(|(p, _)| p)
    }

    #[test]
    fn reads_an_agent_and_ignores_subagent_keys() {
        let a = agent("bottle: dev\nskills: [init-prd]\nname: helper\ndescription: \"does: things\"\nmodel: opus\ngit:\n  user:\n    name: helper\n").unwrap();
        assert_eq!(a.bottle, "dev");
        assert_eq!(a.skills, vec!["init-prd"]);
        assert_eq!(a.git_user.name.as_deref(), Some("helper"));
    }

    #[test]
    fn agents_may_not_declare_remotes() {
        let e = agent("bottle: dev\ngit:\n  remotes: {}\n").unwrap_err();
        assert!(e.message.contains("only in home bottles"));
    }

    #[test]
    fn bottle_is_required() {
        assert!(agent("skills: []\n")
            .unwrap_err()
            .message
            .contains("missing required key \"bottle\""));
    }
}
