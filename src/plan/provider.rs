//! What each provider template means at launch: the CLI, its arguments,
//! its image, the env it needs and the routes it cannot work without.

use crate::manifest::{Route, Template};

/// Where the agent's system prompt is copied inside the bottle.
pub const PROMPT_PATH: &str = "/home/node/.bb/prompt.md";
pub const GUEST_HOME: &str = "/home/node";
/// The synthetic token ref for Codex's host ChatGPT token, read from
/// `~/.codex/auth.json` rather than the environment.
pub const CODEX_HOST_TOKEN_REF: &str = "BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN";
/// The host login's refresh token, which egress alone uses at the token
/// endpoint when the access token expires.
pub const CODEX_HOST_REFRESH_REF: &str = "BOT_BOTTLE_CODEX_HOST_REFRESH_TOKEN";

/// The field of `~/.codex/auth.json`'s `tokens` a Codex login secret is.
pub fn codex_login_field(secret: &str) -> &'static str {
    if secret == CODEX_HOST_REFRESH_REF {
        "refresh_token"
    } else {
        "access_token"
    }
}

/// An OAuth token endpoint that egress answers for the agent (see
/// bb-sidecar's egress::tokens).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenEndpoint {
    pub host: &'static str,
    pub path: &'static str,
    pub access_ref: &'static str,
    pub refresh_ref: &'static str,
}
/// What the agent sees instead of a real Claude OAuth token.
pub const OAUTH_PLACEHOLDER: &str = "bb-egress-injects-the-real-token";

pub struct Runtime {
    pub template: Template,
    pub program: &'static str,
    pub bypass_args: &'static [&'static str],
    pub resume_args: &'static [&'static str],
    /// A shell test that holds when the CLI has a conversation to resume.
    pub history_check: &'static str,
    /// The built-in image and the Dockerfile (under images/) it is built from.
    pub image: &'static str,
    pub dockerfile: &'static str,
    /// Hosts the CLI's API lives on: routes the provider adds when the
    /// bottle does not declare them, with `tls_passthrough` (LLM API bodies
    /// trip DLP rules; with a credential they are intercepted to inject it,
    /// without one they are tunnelled).
    pub api_hosts: &'static [&'static str],
    /// Where the host login's tokens are refreshed (forward_host_credentials).
    pub token_endpoint: Option<TokenEndpoint>,
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
    history_check: "ls \"$HOME\"/.claude/projects/*/*.jsonl >/dev/null 2>&1",
    image: "bb-agent-claude",
    dockerfile: "agent-claude.Dockerfile",
    api_hosts: &["api.anthropic.com"],
    token_endpoint: None,
};

static CODEX: Runtime = Runtime {
    template: Template::Codex,
    program: "codex",
    bypass_args: &["--dangerously-bypass-approvals-and-sandbox"],
    resume_args: &["resume", "--last"],
    history_check: "ls \"${CODEX_HOME:-$HOME/.codex}\"/sessions/*/*/*/*.jsonl >/dev/null 2>&1",
    image: "bb-agent-codex",
    dockerfile: "agent-codex.Dockerfile",
    api_hosts: &["api.openai.com", "chatgpt.com"],
    token_endpoint: Some(TokenEndpoint {
        host: "auth.openai.com",
        path: "/oauth/token",
        access_ref: CODEX_HOST_TOKEN_REF,
        refresh_ref: CODEX_HOST_REFRESH_REF,
    }),
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
/// The port in SUPERVISE_URL.
pub const SUPERVISE_PORT: u16 = 9100;

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
/// account, and tokens that authenticate nothing. Codex 0.163 parses the
/// id_token's claims (plan, account, email) and refuses one that is not
/// JWT-shaped, so the JWTs become unsigned copies of their claims; the
/// refresh token is a placeholder that egress swaps for the real one at
/// the token endpoint.
pub fn codex_dummy_auth(host_auth: &serde_json::Value) -> serde_json::Value {
    use bb_sidecar::jwt;
    let tokens = host_auth.get("tokens");
    let token = |name: &str| {
        tokens
            .and_then(|t| t.get(name))
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let account = tokens
        .and_then(|t| t.get("account_id"))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    let id_token = jwt::unsigned_copy(&token("id_token")).unwrap_or_else(|| {
        jwt::unsigned(&serde_json::json!({
            "https://api.openai.com/auth": {"chatgpt_account_id": account},
        }))
    });
    let access_token =
        jwt::unsigned_copy(&token("access_token")).unwrap_or_else(|| OAUTH_PLACEHOLDER.into());
    serde_json::json!({
        "OPENAI_API_KEY": serde_json::Value::Null,
        "auth_mode": host_auth.get("auth_mode").cloned().unwrap_or(serde_json::json!("chatgpt")),
        "tokens": {
            "id_token": id_token,
            "access_token": access_token,
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
        let signed = |claims: serde_json::Value| {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.REALSIGNATURE",
                b64.encode(br#"{"alg":"RS256"}"#),
                b64.encode(claims.to_string())
            )
        };
        let host = serde_json::json!({"auth_mode": "chatgpt", "tokens": {
            "access_token": signed(serde_json::json!({"exp": 99})),
            "id_token": signed(serde_json::json!({"email": "me@example.com"})),
            "refresh_token": "real-refresh-secret",
            "account_id": "acct-1"}});
        let dummy = codex_dummy_auth(&host);
        let text = dummy.to_string();
        assert!(!text.contains("REALSIGNATURE") && !text.contains("real-refresh-secret"));
        assert!(text.contains("acct-1"));
        let claims = |t: &str| bb_sidecar::jwt::claims(dummy["tokens"][t].as_str().unwrap());
        assert_eq!(claims("id_token").unwrap()["email"], "me@example.com");
        assert_eq!(claims("access_token").unwrap()["exp"], 99);
        // A host login with opaque tokens still gets a JWT-shaped id_token.
        let opaque = serde_json::json!({"tokens": {"access_token": "opaque", "account_id": "a"}});
        let dummy = codex_dummy_auth(&opaque);
        assert!(bb_sidecar::jwt::claims(dummy["tokens"]["id_token"].as_str().unwrap()).is_some());
        assert!(!dummy.to_string().contains("opaque"));
    }
}
