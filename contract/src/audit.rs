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

impl AuditRecord<'_> {
    /// The same record, owning its text (to keep it past the line it was
    /// read from).
    pub fn into_owned(self) -> AuditRecord<'static> {
        AuditRecord {
            time_ms: self.time_ms,
            client: Cow::Owned(self.client.into_owned()),
            host: Cow::Owned(self.host.into_owned()),
            method: Cow::Owned(self.method.into_owned()),
            path: Cow::Owned(self.path.into_owned()),
            decision: Cow::Owned(self.decision.into_owned()),
            rule: self.rule,
        }
    }
}
