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
    pub decision: Decision,
    /// For a refusal, the rule that refused it (`host-not-allowed`,
    /// `dlp:aws-access-key`, ...); for a failure, what failed
    /// (`upstream-dns`, `upstream-connect`, ...).
    #[serde(default)]
    pub rule: Option<String>,
}

/// What egress did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Sent upstream (answered, whatever the answer).
    Allowed,
    /// Refused by the bottle's policy: the agent got a 403 (or 413, 415).
    Blocked,
    /// A blind tunnel opened (a passthrough route's CONNECT).
    Tunnel,
    /// A tunnel opened to be intercepted; its requests follow.
    Intercept,
    /// Allowed, but the upstream could not be reached (DNS, connect, TLS,
    /// timeout): the agent got a 502 or 504. Not a refusal.
    Failed,
    /// A decision a newer egress wrote.
    #[serde(other)]
    Other,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::Blocked => "blocked",
            Decision::Tunnel => "tunnel",
            Decision::Intercept => "intercept",
            Decision::Failed => "failed",
            Decision::Other => "other",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
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
            decision: self.decision,
            rule: self.rule,
        }
    }
}
