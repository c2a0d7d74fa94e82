//! The egress audit log (`audit.jsonl` in the bottle's state dir): one JSON
//! line per decision, written by egress, read by `bb logs`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u128,
    /// The agent-side address that asked.
    #[serde(borrow)]
    pub client: Cow<'a, str>,
    #[serde(borrow)]
    pub host: Cow<'a, str>,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    /// The path, or `[redacted]` when it carried something secret.
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// `allowed`, `blocked`, `tunnel`, `intercept`.
    #[serde(borrow)]
    pub decision: Cow<'a, str>,
    /// For a refusal, the rule that refused it (`host-not-allowed`,
    /// `dlp:aws-access-key`, ...).
    #[serde(default)]
    pub rule: Option<String>,
}
