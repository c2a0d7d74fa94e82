use std::fs;
use std::path::Path;

use super::*;
use crate::manifest::{load, Layout, Manifest};

fn manifest(files: &[(&str, &str)]) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    let m = load(&Layout {
        home: dir.path().to_path_buf(),
        repo: None,
    });
    assert!(m.errors.is_empty(), "{:?}", m.errors);
    (dir, m)
}

fn host() -> FixedHost {
    FixedHost {
        home: "/home/u".into(),
        cwd: "/work/proj".into(),
        ..FixedHost::default()
    }
}

fn plan(m: &Manifest, agent: &str, host: &FixedHost) -> BottlePlan {
    let (a, b) = m.agent(agent).unwrap();
    resolve(a, b, host, BackendKind::Docker, "abc123")
}

const CLAUDE: &str = "---\nagent_provider:\n  template: claude\negress:\n  routes:\n    - host: api.anthropic.com\n      role: claude_code_oauth\n      auth:\n        scheme: Bearer\n        token_ref: BOT_BOTTLE_CLAUDE_OAUTH_TOKEN\n      pipelock:\n        tls_passthrough: true\n---\n";

#[test]
fn claude_oauth_route_hides_its_placeholder_and_needs_its_secret() {
    let (_d, m) = manifest(&[
        ("bottles/claude.md", CLAUDE),
        ("agents/dev.md", "---\nbottle: claude\n---\nBe careful.\n"),
    ]);
    let mut h = host();
    let p = plan(&m, "dev", &h);
    assert_eq!(p.slug, "dev-abc123");
    assert_eq!(
        p.routes.len(),
        1,
        "the bottle's route replaces the provider's"
    );
    assert_eq!(p.routes[0].source, RouteSource::Bottle);
    assert!(p.routes[0].credentialed());
    let token = p
        .env
        .iter()
        .find(|e| e.name == "CLAUDE_CODE_OAUTH_TOKEN")
        .unwrap();
    assert!(token.hidden);
    assert!(!p.visible_env().contains(&"CLAUDE_CODE_OAUTH_TOKEN"));
    assert_eq!(
        p.blockers(),
        vec![Blocker::MissingSecret(
            "BOT_BOTTLE_CLAUDE_OAUTH_TOKEN".into()
        )]
    );
    assert!(p.blockers()[0]
        .to_string()
        .contains("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN"));
    h.env
        .insert("BOT_BOTTLE_CLAUDE_OAUTH_TOKEN".into(), "sk-xyz".into());
    assert!(plan(&m, "dev", &h).blockers().is_empty());
    assert_eq!(p.commands.fresh[0], "claude");
    assert_eq!(p.daemons, vec![Daemon::Egress, Daemon::Supervise]);
}

#[test]
fn the_same_inputs_give_the_same_plan() {
    let (_d, m) = manifest(&[
        ("bottles/claude.md", CLAUDE),
        ("agents/dev.md", "---\nbottle: claude\n---\n"),
    ]);
    assert_eq!(plan(&m, "dev", &host()), plan(&m, "dev", &host()));
}

#[test]
fn provider_routes_come_first_and_pass_tls_through() {
    let (_d, m) = manifest(&[
        (
            "bottles/b.md",
            "---\negress:\n  allowlist: [github.com]\n---\n",
        ),
        ("agents/a.md", "---\nbottle: b\n---\n"),
    ]);
    let p = plan(&m, "a", &host());
    let hosts: Vec<_> = p
        .routes
        .iter()
        .map(|r| (r.host.as_str(), r.source, r.tls_passthrough))
        .collect();
    assert_eq!(
        hosts,
        vec![
            ("api.anthropic.com", RouteSource::Provider, true),
            ("github.com", RouteSource::Allowlist, false)
        ]
    );
    assert!(p.secrets.is_empty());
    assert!(p.tls_intercepts());
}

#[test]
fn codex_host_credentials_ride_on_its_api_hosts() {
    let (_d, m) = manifest(&[
        (
            "bottles/codex.md",
            "---\nagent_provider:\n  template: codex\n  forward_host_credentials: true\negress:\n  routes:\n    - host: chatgpt.com\n      path_allowlist: [/backend-api/]\n---\n",
        ),
        ("agents/c.md", "---\nbottle: codex\n---\nDo it.\n"),
    ]);
    let p = plan(&m, "c", &host());
    assert!(p.routes.iter().all(|r| r.credentialed()));
    let chatgpt = p.routes.iter().find(|r| r.host == "chatgpt.com").unwrap();
    assert_eq!(chatgpt.path_allowlist, vec!["/backend-api/"]);
    // The declared route keeps its own handling: nothing forced.
    assert_eq!(chatgpt.handling(), Handling::Intercept { scan_body: true });
    let api = p
        .routes
        .iter()
        .find(|r| r.host == "api.openai.com")
        .unwrap();
    assert_eq!(api.handling(), Handling::Intercept { scan_body: false });
    assert_eq!(p.token_endpoint, None, "no route for the token endpoint");
    assert_eq!(p.secrets.len(), 1);
    assert_eq!(p.secrets[0].origin, SecretOrigin::CodexLogin);
    assert_eq!(p.secrets[0].used_by, vec!["api.openai.com", "chatgpt.com"]);
    assert_eq!(p.blockers(), vec![Blocker::MissingCodexLogin]);
    assert!(p.env.iter().any(|e| e.name == "CODEX_HOME"));
    assert_eq!(
        p.commands.resume,
        [
            "codex",
            "--dangerously-bypass-approvals-and-sandbox",
            "resume",
            "--last"
        ]
    );
}

/// The starter bottle `name` as `bb init` writes it.
fn starter(name: &str) -> &'static str {
    let path = format!("bottles/{name}.md");
    crate::firstrun::STARTERS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
        .unwrap()
}

#[test]
fn the_codex_starter_refreshes_through_egress_and_every_route_is_handled_on_purpose() {
    let starter = starter("codex");
    let (_d, m) = manifest(&[
        ("bottles/codex.md", starter),
        ("agents/c.md", "---\nbottle: codex\n---\n"),
    ]);
    let p = plan(&m, "c", &host());
    let t = p.token_endpoint.clone().expect("a token endpoint");
    assert_eq!((t.host, t.path), ("auth.openai.com", "/oauth/token"));
    let names: Vec<_> = p.secrets.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            provider::CODEX_HOST_TOKEN_REF,
            provider::CODEX_HOST_REFRESH_REF
        ]
    );
    let handling: Vec<_> = p
        .routes
        .iter()
        .map(|r| (r.host.as_str(), r.handling_text()))
        .collect();
    assert_eq!(
        handling,
        [
            (
                "api.openai.com",
                "intercept: inject token, body not scanned"
            ),
            ("chatgpt.com", "intercept: inject token, body not scanned"),
            ("auth.openai.com", "intercept: scan body"),
            ("registry.npmjs.org", "intercept: scan body"),
        ]
    );
}

#[test]
fn a_credentialed_passthrough_route_is_intercepted_and_a_bare_one_tunnelled() {
    let starter = starter("claude");
    let (_d, m) = manifest(&[
        ("bottles/claude.md", starter),
        ("agents/a.md", "---\nbottle: claude\n---\n"),
    ]);
    let p = plan(&m, "a", &host());
    let api = &p.routes[0];
    assert_eq!(api.host, "api.anthropic.com");
    assert_eq!(api.handling(), Handling::Intercept { scan_body: false });
    let (_d, m) = manifest(&[
        ("bottles/b.md", "---\negress:\n  routes:\n    - host: x.example\n      pipelock: {tls_passthrough: true}\n---\n"),
        ("agents/a.md", "---\nbottle: b\n---\n"),
    ]);
    let p = plan(&m, "a", &host());
    let x = p.routes.iter().find(|r| r.host == "x.example").unwrap();
    assert_eq!(x.handling(), Handling::Tunnel);
}

#[test]
fn legacy_auth_token_becomes_the_oauth_route() {
    let (_d, m) = manifest(&[
        (
            "bottles/old.md",
            "---\nagent_provider:\n  auth_token: OLD_TOKEN\n---\n",
        ),
        ("agents/a.md", "---\nbottle: old\n---\n"),
    ]);
    assert_eq!(m.warnings.len(), 1);
    let p = plan(&m, "a", &host());
    assert_eq!(p.routes[0].auth.as_ref().unwrap().token_ref, "OLD_TOKEN");
    assert_eq!(p.routes[0].role, Some(Role::ClaudeCodeOauth));
}

#[test]
fn git_remotes_identity_and_rewrites() {
    let (_d, m) = manifest(&[
        (
            "bottles/g.md",
            "---\ngit:\n  user:\n    name: Bottle Name\n    email: bottle@example.com\n  remotes:\n    github.com:\n      Upstream: ssh://git@github.com/me/app.git\n      IdentityFile: ~/.ssh/id_app\n      KnownHostKey: ssh-ed25519 AAAA\n---\n",
        ),
        ("agents/a.md", "---\nbottle: g\ngit:\n  user:\n    name: agent-a\n---\n"),
    ]);
    let mut h = host();
    let p = plan(&m, "a", &h);
    assert_eq!(
        p.identity.summary().unwrap(),
        "name=agent-a (agent), email=bottle@example.com (bottle)"
    );
    let r = &p.remotes[0];
    assert_eq!(r.name, "app");
    assert_eq!(r.gate_url, "http://sidecars:9420/app.git");
    assert_eq!(
        r.instead_of,
        vec![
            "ssh://git@github.com/me/app.git",
            "git@github.com:me/app.git"
        ]
    );
    assert_eq!(
        r.identity_file.as_deref(),
        Some(Path::new("/home/u/.ssh/id_app"))
    );
    assert!(matches!(p.blockers()[0], Blocker::MissingIdentity { .. }));
    h.files.insert("/home/u/.ssh/id_app".into());
    assert!(plan(&m, "a", &h).blockers().is_empty());
    assert!(p.daemons.contains(&Daemon::GitGate));
    let cfg = gitconfig(&p.identity, &p.remotes);
    assert!(cfg.contains(
        "[url \"http://sidecars:9420/app.git\"]\n\tinsteadOf = \"ssh://git@github.com/me/app.git\""
    ));
}

#[test]
fn env_interpolation_needs_the_host_variable() {
    let (_d, m) = manifest(&[
        (
            "bottles/e.md",
            "---\nenv:\n  REGION: ${AWS_REGION}\n  MODE: fast\nsupervise: false\n---\n",
        ),
        ("agents/a.md", "---\nbottle: e\nskills: [init-prd]\n---\n"),
    ]);
    let p = plan(&m, "a", &host());
    assert_eq!(p.daemons, vec![Daemon::Egress]);
    let blockers: Vec<String> = p.blockers().iter().map(|b| b.to_string()).collect();
    assert!(
        blockers.iter().any(|b| b.contains("${AWS_REGION}")),
        "{blockers:?}"
    );
    assert!(
        blockers.iter().any(|b| b.contains("skill init-prd")),
        "{blockers:?}"
    );
}

#[test]
fn asked_values_are_filled_by_answers() {
    let (_d, m) = manifest(&[
        (
            "bottles/q.md",
            "---\nenv:\n  NAME: \"?Your name, for commits\"\n  MODE: fast\n---\n",
        ),
        ("agents/a.md", "---\nbottle: q\n---\n"),
    ]);
    let mut p = plan(&m, "a", &host());
    assert_eq!(
        p.questions(),
        vec![("NAME".to_string(), "Your name, for commits".to_string())]
    );
    p.answer("NAME", "Ada".into());
    assert!(p.questions().is_empty());
    let name = p.env.iter().find(|e| e.name == "NAME").unwrap();
    assert_eq!(
        name.value,
        PlannedValue::Manifest(EnvValue::Literal("Ada".into()))
    );
}

#[test]
fn custom_dockerfiles_resolve_against_the_cwd() {
    let (_d, m) = manifest(&[
        (
            "bottles/c.md",
            "---\nagent_provider:\n  dockerfile: images/Dockerfile\n---\n",
        ),
        ("agents/a.md", "---\nbottle: c\n---\n"),
    ]);
    let p = plan(&m, "a", &host());
    assert_eq!(
        p.image.dockerfile,
        Dockerfile::Custom {
            path: "/work/proj/images/Dockerfile".into(),
            present: false
        }
    );
    assert_eq!(p.image.repository, "bb-agent-c");
}

#[test]
fn the_starters_commented_remote_holds_pushes_for_review_once_uncommented() {
    for name in ["claude", "codex"] {
        let text = starter(name)
            .replace("\n# git:", "\ngit:")
            .replace("\n#   ", "\n  ");
        let (_d, m) = manifest(&[
            ("bottles/s.md", text.as_str()),
            ("agents/a.md", "---\nbottle: s\n---\n"),
        ]);
        let p = plan(&m, "a", &host());
        assert_eq!(p.remotes.len(), 1, "{name}");
        assert!(p.remotes[0].review_pushes, "{name}");
        assert_eq!(p.remotes[0].upstream, "ssh://git@github.com/me/app.git");
    }
}
