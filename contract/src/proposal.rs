//! The proposal queue's files, as both programs read and write them: the
//! supervise daemon files a `Proposal` (`ID.json`) and reads bb's
//! `Decision` (`ID.decision.json`) beside it; bb does the reverse. One set
//! of types, so a change on one side fails to build on the other.

use serde::{Deserialize, Serialize};

/// One request from an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: String,
    pub slug: String,
    pub agent: String,
    pub created_at: String,
    /// The agent's own words for why it needs this.
    pub reason: String,
    pub request: Request,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// One route: a new host is appended; an existing host gets the union
    /// of paths. The agent can never set credentials.
    Egress(EgressRequest),
    /// A route that carries a credential; the operator picks the token.
    Credentialed {
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token_ref: Option<String>,
    },
    /// A change to the agent's Dockerfile.
    Capability { dockerfile: String },
    /// Free text: the agent is stuck.
    Stuck { message: String },
    /// A push the gate holds for review (`ReviewPushes`): it goes upstream
    /// only once approved. Filed by the gate, not the agent.
    Push(Box<PushRequest>),
}

/// A held push: where it goes, what it updates, what it brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRequest {
    /// The gate's name of the remote.
    pub remote: String,
    /// The upstream it goes to.
    pub upstream: String,
    pub refs: Vec<PushedRef>,
    /// The commits it brings that upstream has not seen, oldest first.
    pub commits: Vec<PushedCommit>,
    /// Their patch (each commit's), cut at a size.
    pub patch: String,
    /// Whether `patch` was cut.
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRef {
    pub name: String,
    /// All zeros for a ref the push creates.
    pub old: String,
    /// All zeros for a ref the push deletes.
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedCommit {
    pub sha: String,
    pub author: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRequest {
    pub host: String,
    #[serde(default)]
    pub path_allowlist: Vec<String>,
}

/// The operator's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Approved {
        /// The request as applied (the operator may have changed it).
        request: Request,
        note: Option<String>,
    },
    Rejected {
        reason: String,
    },
}

impl Request {
    /// One line for lists: `egress pypi.org /simple/`.
    pub fn summary(&self) -> String {
        match self {
            Request::Egress(e) if e.path_allowlist.is_empty() => format!("egress {}", e.host),
            Request::Egress(e) => format!("egress {} {}", e.host, e.path_allowlist.join(",")),
            Request::Credentialed { host, .. } => format!("credential for {host}"),
            Request::Capability { .. } => "capability (Dockerfile change)".to_string(),
            Request::Stuck { message } => {
                let first: String = message
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(40)
                    .collect();
                format!("stuck: {first}")
            }
            Request::Push(p) => {
                let refs: Vec<&str> = p
                    .refs
                    .iter()
                    .map(|r| {
                        r.name
                            .strip_prefix("refs/heads/")
                            .or_else(|| r.name.strip_prefix("refs/tags/"))
                            .unwrap_or(&r.name)
                    })
                    .collect();
                format!(
                    "push to {}: {} ({} commit{})",
                    p.remote,
                    refs.join(", "),
                    p.commits.len(),
                    if p.commits.len() == 1 { "" } else { "s" }
                )
            }
        }
    }
}
