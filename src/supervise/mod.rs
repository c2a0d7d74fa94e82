//! The host side of proposals: an agent that is blocked asks (through the
//! supervise sidecar, which writes a proposal file into the bottle's state
//! dir); the operator decides in the workspace; bb writes the decision back.

pub mod edit;
pub mod proposal;
pub mod queue;

pub use proposal::{Decision, EgressRequest, Proposal, Request};

/// An agent's ask to reach pypi.org, from its bottle `{agent}-x`: the
/// proposal the workspace's tests decide on.
#[cfg(test)]
pub fn sample(id: &str, agent: &str) -> Proposal {
    Proposal {
        id: id.into(),
        slug: format!("{agent}-x"),
        agent: agent.into(),
        created_at: id.into(),
        reason: "need it".into(),
        request: Request::Egress(EgressRequest {
            host: "pypi.org".into(),
            path_allowlist: vec![],
        }),
    }
}
