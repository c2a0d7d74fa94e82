//! The smolmachines backend: the agent in a smolvm micro-VM, its sidecar
//! bundle in Docker. What is here: the smolvm command lines bb runs
//! (`cli`), whether smolvm can boot VMs on this host (`probe`, which `bb
//! doctor` reports), and a session in a machine (`session`: `machine exec
//! -t` in a PTY of the pane's size). Launching and discovery build on
//! these; until they do, the backend is not offered.

pub mod cli;
pub mod probe;
pub mod session;
