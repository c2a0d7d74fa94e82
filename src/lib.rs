//! bb: run AI coding agents in sandboxed bottles, each live in a pane of
//! one terminal workspace.

pub mod audit;
pub mod backend;
pub mod ca;
pub mod cli;
pub mod firstrun;
pub mod home;
pub mod manifest;
pub mod plan;
pub mod preflight;
pub mod session;
pub mod shell;
pub mod shown;
pub mod state;
pub mod suggest;
pub mod supervise;
pub mod system;
pub mod tui;
pub mod work;
pub mod workspace;
