//! The host side of proposals: an agent that is blocked asks (through the
//! supervise sidecar, which writes a proposal file into the bottle's state
//! dir); the operator decides in the workspace; bb writes the decision back.

pub mod edit;
pub mod proposal;
pub mod queue;

pub use proposal::{Decision, EgressRequest, Proposal, Request};
