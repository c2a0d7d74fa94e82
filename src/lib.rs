//! bb: run AI coding agents in sandboxed bottles.

pub mod manifest;
pub mod plan;
pub mod suggest;
