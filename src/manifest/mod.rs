//! Manifests: bottles and agents as Markdown files with YAML frontmatter,
//! compatible with bot-bottle's `~/.bot-bottle/`.

mod agent;
mod bottle;
mod egress;
mod error;
mod extends;
mod frontmatter;
mod git;
mod issue;
mod loader;
mod model;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use egress::{
    parse_block as parse_egress_block, render_block as render_egress_block, validate_host,
};
pub use error::{ManifestError, Warning};
pub use issue::is_env_name;
pub use loader::{is_entity_name, load, Layout};
pub use model::*;

use crate::suggest::did_you_mean;

/// Everything read from the manifest directories.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub layout: Layout,
    pub home_exists: bool,
    pub bottles: BTreeMap<String, Bottle>,
    pub agents: BTreeMap<String, Agent>,
    pub errors: Vec<ManifestError>,
    pub warnings: Vec<Warning>,
    broken_bottles: BTreeMap<String, ManifestError>,
    /// A broken agent's error, and the bottle it names when that is known.
    broken_agents: BTreeMap<String, (ManifestError, Option<String>)>,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            home: PathBuf::new(),
            repo: None,
        }
    }
}

/// Why an agent cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(
        "no manifest directory at {0}: run `bb init` to write starter bottles and agents there"
    )]
    NoManifest(PathBuf),
    #[error("no agent {name:?}{hint} (agents: {available})")]
    UnknownAgent {
        name: String,
        hint: String,
        available: String,
    },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ManifestError>),
}

impl Manifest {
    /// An agent and its resolved bottle, or why they cannot be used.
    pub fn agent(&self, name: &str) -> Result<(&Agent, &Bottle), LookupError> {
        if !self.home_exists {
            return Err(LookupError::NoManifest(self.layout.home.clone()));
        }
        if let Some((e, bottle)) = self.broken_agents.get(name) {
            let mut errors = vec![e.clone()];
            let bottle_error = bottle
                .as_ref()
                .and_then(|b| self.broken_bottles.get(b))
                .cloned();
            errors.extend(bottle_error);
            return Err(LookupError::Invalid(errors));
        }
        let Some(agent) = self.agents.get(name) else {
            let hint = did_you_mean(name, self.agents.keys().map(String::as_str))
                .map(|s| format!("; did you mean {s:?}?"))
                .unwrap_or_default();
            let available = if self.agents.is_empty() {
                "none yet".to_string()
            } else {
                self.agents.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            return Err(LookupError::UnknownAgent {
                name: name.to_string(),
                hint,
                available,
            });
        };
        match self.bottles.get(&agent.bottle) {
            Some(b) => Ok((agent, b)),
            None => Err(LookupError::Invalid(self.errors.clone())),
        }
    }

    /// The error that keeps a bottle from being used, if any.
    pub fn bottle_error(&self, name: &str) -> Option<&ManifestError> {
        self.broken_bottles.get(name)
    }
}
