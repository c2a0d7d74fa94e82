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
