//! The preflight summary a person reads before saying y or N.

use std::fmt::Write as _;
use std::path::Path;

use super::display_path;
use crate::manifest::EnvValue;
use crate::plan::{BottlePlan, Dockerfile, PlannedValue, RouteSource, SecretOrigin};

const WIDTH: usize = 13;

fn row(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{label:<WIDTH$} : {value}");
}

fn continuation(out: &mut String, value: &str) {
    let _ = writeln!(out, "{:<WIDTH$}   {value}", "");
}

fn rows(out: &mut String, label: &str, values: &[String], empty: &str) {
    match values.split_first() {
        None => row(out, label, empty),
        Some((first, rest)) => {
            row(out, label, first);
            for v in rest {
                continuation(out, v);
            }
        }
    }
}

/// Render `plan`; paths under `home` are shown with `~`.
pub fn to_text(plan: &BottlePlan, home: &Path) -> String {
    let mut out = String::new();
    row(
        &mut out,
        "agent",
        &format!(
            "{} ({}: {})",
            plan.agent,
            plan.agent_source.as_str(),
            display_path(&plan.agent_path, home)
        ),
    );
    let mut bottle = plan.bottle.clone();
    if !plan.extends.is_empty() {
        let _ = write!(bottle, " (extends {})", plan.extends.join(" -> "));
    }
    row(&mut out, "bottle", &bottle);
    row(&mut out, "provider", plan.template.name());
    row(&mut out, "backend", plan.backend.name());
    // Said when it is not the one bottles go to anyway.
    if let Some(engine) = plan
        .engine
        .as_ref()
        .filter(|e| *e != crate::backend::engines::DEFAULT)
    {
        row(&mut out, "engine", engine);
    }
    let image = match &plan.image.dockerfile {
        Dockerfile::Builtin { name } => {
            format!("{} (built from images/{name})", plan.image.repository)
        }
        Dockerfile::Custom { path, present } => format!(
            "{} (built from {}{})",
            plan.image.repository,
            display_path(path, home),
            if *present { "" } else { ", MISSING" }
        ),
    };
    row(&mut out, "image", &image);
    row(
        &mut out,
        "command",
        &crate::shell::join(&plan.commands.fresh),
    );
    row(
        &mut out,
        "resume",
        &crate::shell::join(&plan.commands.resume),
    );
    let prompt = match plan.prompt.lines().next() {
        None => "(none)".to_string(),
        Some(first) => {
            let n = plan.prompt.lines().count();
            let first: String = first.chars().take(60).collect();
            if n > 2 {
                format!("{first} (+{} lines)", n - 1)
            } else if n == 2 {
                format!("{first} (+1 line)")
            } else {
                first
            }
        }
    };
    row(&mut out, "prompt", &prompt);

    let host_w = plan.routes.iter().map(|r| r.host.len()).max().unwrap_or(0);
    let routes: Vec<String> = plan
        .routes
        .iter()
        .map(|r| {
            let mut line = format!("{:<host_w$}", r.host);
            if !r.path_allowlist.is_empty() {
                let _ = write!(line, "  paths {}", r.path_allowlist.join(","));
            }
            if let Some(a) = &r.auth {
                let _ = write!(line, "  [auth:{} {}]", a.scheme.as_str(), a.token_ref);
            }
            let _ = write!(line, "  {}", r.handling_text());
            if !r.ports.is_empty() {
                let p: Vec<String> = r.ports.iter().map(|p| p.to_string()).collect();
                let _ = write!(line, "  ports {}", p.join(","));
            }
            if !r.ssrf_ip_allowlist.is_empty() {
                let _ = write!(line, "  ssrf-allow {}", r.ssrf_ip_allowlist.join(","));
            }
            if let Some(role) = r.role {
                let _ = write!(line, "  ({})", role.as_str());
            }
            if r.source == RouteSource::Provider {
                line.push_str("  (provider)");
            }
            line.trim_end().to_string()
        })
        .collect();
    rows(
        &mut out,
        "egress",
        &routes,
        "(nothing: every request is refused)",
    );
    row(
        &mut out,
        "tls intercept",
        "per-bottle ephemeral CA, generated at launch",
    );
    if plan.bip39 {
        row(
            &mut out,
            "dlp",
            "also BIP-39 seed phrases (egress.dlp.bip39)",
        );
    }
    if !plan.upstream_ca.is_empty() {
        let mut trust = vec!["the system's roots".to_string()];
        trust.extend(
            plan.upstream_ca
                .iter()
                .map(|p| format!("+ {} (config.yaml upstream_ca)", display_path(p, home))),
        );
        rows(&mut out, "upstream trust", &trust, "");
    }
    if let Some(t) = &plan.token_endpoint {
        row(
            &mut out,
            "token refresh",
            &format!(
                "{}{} by egress with {}; the agent holds placeholders",
                t.host, t.path, t.refresh_ref
            ),
        );
    }

    if let Some(identity) = plan.identity.summary() {
        row(&mut out, "git identity", &identity);
    }
    let remotes: Vec<String> = plan
        .remotes
        .iter()
        .map(|r| {
            let mut line = format!("{} -> {}", r.name, r.upstream);
            if let Some(key) = &r.identity_file {
                let _ = write!(
                    line,
                    "  key {}{}",
                    display_path(key, home),
                    if r.identity_file_present {
                        ""
                    } else {
                        " (MISSING)"
                    }
                );
            }
            line.push_str(if r.known_host_key.is_some() {
                "  host key pinned"
            } else {
                "  host key NOT pinned"
            });
            for (h, ip) in &r.extra_hosts {
                let _ = write!(line, "  {h}={ip}");
            }
            if r.review_pushes {
                line.push_str("  pushes held for your review");
            }
            line
        })
        .collect();
    if !remotes.is_empty() {
        rows(&mut out, "git gate", &remotes, "");
    }
    let env: Vec<String> = plan
        .env
        .iter()
        .filter(|e| !e.hidden)
        .map(|e| match &e.value {
            PlannedValue::Manifest(EnvValue::Ask(_)) => format!("{} (asked at launch)", e.name),
            _ => e.name.clone(),
        })
        .collect();
    row(
        &mut out,
        "env",
        &if env.is_empty() {
            "(none)".to_string()
        } else {
            env.join(", ")
        },
    );
    let skills: Vec<String> = plan
        .skills
        .iter()
        .map(|s| {
            if s.present {
                s.name.clone()
            } else {
                format!("{} (MISSING: {})", s.name, display_path(&s.host_path, home))
            }
        })
        .collect();
    row(
        &mut out,
        "skills",
        &if skills.is_empty() {
            "(none)".to_string()
        } else {
            skills.join(", ")
        },
    );
    let secrets: Vec<String> = plan
        .secrets
        .iter()
        .map(|s| {
            let state = match (s.present, s.origin) {
                (true, _) => "present",
                (false, SecretOrigin::Env) => "MISSING",
                (false, SecretOrigin::CodexLogin) => "MISSING (codex login)",
            };
            format!("{} {state} (for {})", s.name, s.used_by.join(", "))
        })
        .collect();
    rows(&mut out, "secrets", &secrets, "(none)");
    let workspace = match &plan.workspace {
        Some(w) => format!(
            "{} ({}, {} files) -> {}",
            display_path(&w.source, home),
            crate::workspace::human(w.bytes),
            w.files,
            crate::workspace::GUEST_WORKSPACE
        ),
        None => match &plan.workspace_refused {
            Some(why) => format!("(none) {why}"),
            None => "(none)".to_string(),
        },
    };
    row(&mut out, "workspace", &workspace);
    if let Some(w) = &plan.workspace {
        let repo = match &w.git {
            Some(g) => format!(
                "a clone of its repository at {}{}, without its config or hooks",
                g.branch.as_deref().unwrap_or("a detached HEAD"),
                if g.dirty {
                    " with its uncommitted changes"
                } else {
                    ""
                }
            ),
            None => "a repository made for it (the work is read against the copy)".into(),
        };
        row(&mut out, "repository", &repo);
        let mut left: Vec<String> = w
            .git
            .iter()
            .flat_map(|g| g.removed.iter().cloned())
            .collect();
        left.extend(
            w.left_out
                .iter()
                .map(|f| format!("{} (not copied)", f.display())),
        );
        rows(&mut out, "left behind", &left, "(no credentials found)");
    }
    let daemons: Vec<&str> = plan.daemons.iter().map(|d| d.name()).collect();
    row(&mut out, "sidecars", &daemons.join(", "));
    row(
        &mut out,
        "limits",
        &format!(
            "memory {} MiB, {} processes",
            plan.limits.memory_mb, plan.limits.pids
        ),
    );
    let blockers: Vec<String> = plan.blockers().iter().map(|b| b.to_string()).collect();
    if !blockers.is_empty() {
        out.push('\n');
        rows(&mut out, "cannot launch", &blockers, "");
    }
    out
}
