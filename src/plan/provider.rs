//! What each provider template means at launch: the CLI, its arguments,
//! its image, the env it needs and the routes it cannot work without.

use crate::manifest::{Route, Template};

/// Where the agent's system prompt is copied inside the bottle.
pub const PROMPT_PATH: &str = "/home/node/.bb/prompt.md";
pub const GUEST_HOME: &str = "/home/node";
/// The synthetic token ref for Codex's host ChatGPT token, read from
/// `~/.codex/auth.json` rather than the environment.
pub const CODEX_HOST_TOKEN_REF: &str = "BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN";
/// What the agent sees instead of a real Claude OAuth token.
pub const OAUTH_PLACEHOLDER: &str = "bb-egress-injects-the-real-token";

pub struct Runtime {
    pub template: Template,
    pub program: &'static str,
    pub bypass_args: &'static [&'static str],
    pub resume_args: &'static [&'static str],
    /// The built-in image and the Dockerfile (under images/) it is built from.
    pub image: &'static str,
    pub dockerfile: &'static str,
    /// Hosts the CLI talks to, passed through without TLS interception
    /// (LLM API bodies trip DLP rules).
    pub api_hosts: &'static [&'static str],
}

pub fn runtime(template: Template) -> &'static Runtime {
    match template {
        Template::Claude => &CLAUDE,
        Template::Codex => &CODEX,
    }
}

static CLAUDE: Runtime = Runtime {
    template: Template::Claude,
    program: "claude",
    bypass_args: &["--dangerously-skip-permissions"],
    resume_args: &["--continue"],
    image: "bb-agent-claude",
    dockerfile: "agent-claude.Dockerfile",
    api_hosts: &["api.anthropic.com"],
};

static CODEX: Runtime = Runtime {
    template: Template::Codex,
    program: "codex",
    bypass_args: &["--dangerously-bypass-approvals-and-sandbox"],
    resume_args: &["resume", "--last"],
    image: "bb-agent-codex",
    dockerfile: "agent-codex.Dockerfile",
    api_hosts: &["api.openai.com", "chatgpt.com"],
};

impl Runtime {
    /// Arguments that hand the agent its prompt. Codex reads it as a first
    /// message, which a resumed session already has.
    pub fn prompt_args(&self, has_prompt: bool, resume: bool) -> Vec<String> {
        if !has_prompt {
            return Vec::new();
        }
        match self.template {
            Template::Claude => vec!["--append-system-prompt-file".into(), PROMPT_PATH.into()],
            Template::Codex if resume => Vec::new(),
            Template::Codex => vec![format!(
                "Read and follow the instructions in {PROMPT_PATH}."
            )],
        }
    }

    pub fn argv(&self, has_prompt: bool, resume: bool) -> Vec<String> {
        let mut argv = vec![self.program.to_string()];
        argv.extend(self.bypass_args.iter().map(|s| s.to_string()));
        if resume {
            argv.extend(self.resume_args.iter().map(|s| s.to_string()));
        }
        argv.extend(self.prompt_args(has_prompt, resume));
        argv
    }

    /// The routes the provider needs, before the bottle's own.
    pub fn routes(&self) -> Vec<Route> {
        self.api_hosts
            .iter()
            .map(|h| Route {
                tls_passthrough: true,
                ..Route::bare(h)
            })
            .collect()
    }

    /// Env the CLI needs inside the bottle (name, value).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self.template {
            Template::Claude => vec![
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
                ("DISABLE_ERROR_REPORTING", "1".into()),
            ],
            Template::Codex => vec![
                (
                    "CODEX_CA_CERTIFICATE",
                    "/etc/ssl/certs/ca-certificates.crt".into(),
                ),
                ("CODEX_HOME", format!("{GUEST_HOME}/.codex")),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_commands() {
        let r = runtime(Template::Claude);
        assert_eq!(
            r.argv(true, false),
            [
                "claude",
                "--dangerously-skip-permissions",
                "--append-system-prompt-file",
                PROMPT_PATH
            ]
        );
        assert_eq!(
            r.argv(true, true),
            [
                "claude",
                "--dangerously-skip-permissions",
                "--continue",
                "--append-system-prompt-file",
                PROMPT_PATH
            ]
        );
        assert_eq!(
            r.argv(false, false),
            ["claude", "--dangerously-skip-permissions"]
        );
    }

    #[test]
    fn codex_commands_skip_the_prompt_on_resume() {
        let r = runtime(Template::Codex);
        assert_eq!(
            r.argv(true, false),
            [
                "codex",
                "--dangerously-bypass-approvals-and-sandbox",
                "Read and follow the instructions in /home/node/.bb/prompt.md."
            ]
        );
        assert_eq!(
            r.argv(true, true),
            [
                "codex",
                "--dangerously-bypass-approvals-and-sandbox",
                "resume",
                "--last"
            ]
        );
    }
}

/// Files the provider's CLI needs in the agent's home (guest path,
/// contents): onboarding done and the working directory trusted, so the
/// agent starts straight into work.
/// Where the supervise MCP server answers, from inside the bottle.
pub const SUPERVISE_URL: &str = "http://sidecars:9100/mcp";

/// `supervise`: register bb's MCP server so the agent can ask for changes.
pub fn guest_files(template: Template, workdir: &str, supervise: bool) -> Vec<(String, String)> {
    match template {
        Template::Claude => {
            let mut projects = serde_json::Map::new();
            for dir in [GUEST_HOME, workdir] {
                projects.insert(
                    dir.to_string(),
                    serde_json::json!({ "hasTrustDialogAccepted": true }),
                );
            }
            let mut config = serde_json::json!({
                "hasCompletedOnboarding": true,
                "theme": "dark",
                "bypassPermissionsModeAccepted": true,
                "projects": projects,
            });
            if supervise {
                config["mcpServers"] = serde_json::json!({
                    "bb-supervise": {"type": "http", "url": SUPERVISE_URL}
                });
            }
            vec![(
                format!("{GUEST_HOME}/.claude.json"),
                serde_json::to_string_pretty(&config).unwrap_or_default() + "\n",
            )]
        }
        Template::Codex => {
            let toml_path = workdir.replace('\\', "\\\\").replace('"', "\\\"");
            let mut toml = format!("[projects.\"{toml_path}\"]\ntrust_level = \"trusted\"\n");
            if supervise {
                toml.push_str(&format!(
                    "\n[mcp_servers.bb-supervise]\nurl = \"{SUPERVISE_URL}\"\n"
                ));
            }
            vec![(format!("{GUEST_HOME}/.codex/config.toml"), toml)]
        }
    }
}

/// A stand-in for the host's `~/.codex/auth.json`: the same auth mode and
/// account, and placeholders where the tokens were. The real access token
/// stays with egress.
pub fn codex_dummy_auth(host_auth: &serde_json::Value) -> serde_json::Value {
    let tokens = host_auth.get("tokens");
    let account = tokens
        .and_then(|t| t.get("account_id"))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "OPENAI_API_KEY": serde_json::Value::Null,
        "auth_mode": host_auth.get("auth_mode").cloned().unwrap_or(serde_json::json!("chatgpt")),
        "tokens": {
            "id_token": OAUTH_PLACEHOLDER,
            "access_token": OAUTH_PLACEHOLDER,
            "refresh_token": OAUTH_PLACEHOLDER,
            "account_id": account,
        },
        "last_refresh": host_auth.get("last_refresh").cloned().unwrap_or(serde_json::Value::Null),
    })
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn claude_trusts_the_workspace_and_codex_auth_holds_no_token() {
        let files = guest_files(Template::Claude, "/home/node/workspace", true);
        assert!(files[0].1.contains("\"url\": \"http://sidecars:9100/mcp\""));
        assert!(guest_files(Template::Codex, "/w", true)[0]
            .1
            .contains("[mcp_servers.bb-supervise]"));
        assert!(!guest_files(Template::Codex, "/w", false)[0]
            .1
            .contains("mcp_servers"));
        assert_eq!(files[0].0, "/home/node/.claude.json");
        assert!(files[0].1.contains("\"/home/node/workspace\""));
        let host = serde_json::json!({"auth_mode": "chatgpt", "tokens": {"access_token": "real-secret", "account_id": "acct-1"}});
        let dummy = codex_dummy_auth(&host).to_string();
        assert!(!dummy.contains("real-secret"));
        assert!(dummy.contains("acct-1"));
    }
}
