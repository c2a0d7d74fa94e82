//! The smolmachines backend: the agent in a smolvm micro-VM, its sidecar
//! bundle in Docker. What is here: the smolvm command lines bb runs (`cli`)
//! and whether smolvm can boot VMs on this host (`probe`, which `bb doctor`
//! reports). Launching, sessions and discovery build on these.

pub mod cli;
pub mod probe;
