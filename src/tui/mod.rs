//! The workspace: one ratatui app with every agent session in a pane.

pub mod app;
pub mod config;
pub mod effect;
pub mod event;
mod frame_output;
pub mod keymap;
pub mod modal;
mod painter;
pub mod run;
pub mod view;
