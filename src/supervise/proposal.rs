//! Proposals and decisions, as the queue files hold them, and the route
//! merge an approved egress request makes.

use serde::{Deserialize, Serialize};

pub use bb_contract::proposal::{Decision, EgressRequest, Proposal, Request};

/// A route as the live egress table holds it (the parts an approval may
/// touch; credentials are the operator's alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveRoute {
    pub host: String,
    #[serde(default)]
    pub path_allowlist: Vec<String>,
    /// The token ref when the route carries a credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ref: Option<String>,
    #[serde(default)]
    pub tls_passthrough: bool,
}

impl LiveRoute {
    fn new(
        host: &str,
        paths: &[String],
        auth: Option<&crate::manifest::RouteAuth>,
        tls_passthrough: bool,
    ) -> LiveRoute {
        LiveRoute {
            host: host.to_string(),
            path_allowlist: paths.to_vec(),
            token_ref: auth.map(|a| a.token_ref.clone()),
            tls_passthrough,
        }
    }
}

/// A bottle's live egress route, as the diff shows it.
impl From<&crate::manifest::Route> for LiveRoute {
    fn from(r: &crate::manifest::Route) -> LiveRoute {
        LiveRoute::new(
            &r.host,
            &r.path_allowlist,
            r.auth.as_ref(),
            r.tls_passthrough,
        )
    }
}

/// The routes a plan starts a bottle with, as the proposal diff shows them.
pub fn live_routes(plan: &crate::plan::BottlePlan) -> Vec<LiveRoute> {
    plan.routes
        .iter()
        .map(|r| LiveRoute::from(&r.route))
        .collect()
}

/// Apply an approved egress request: a new host is appended; an existing
/// host gets the union of paths (an empty list means "any path" and wins).
pub fn merge_egress(routes: &[LiveRoute], req: &EgressRequest) -> Vec<LiveRoute> {
    let host = req.host.to_ascii_lowercase();
    let mut out = routes.to_vec();
    match out.iter_mut().find(|r| r.host == host) {
        Some(r) => {
            if r.path_allowlist.is_empty() || req.path_allowlist.is_empty() {
                r.path_allowlist.clear();
            } else {
                for p in &req.path_allowlist {
                    if !r.path_allowlist.contains(p) {
                        r.path_allowlist.push(p.clone());
                    }
                }
            }
        }
        None => out.push(LiveRoute {
            host,
            path_allowlist: req.path_allowlist.clone(),
            token_ref: None,
            tls_passthrough: false,
        }),
    }
    out
}

/// The routes as lines a person reads in a diff.
pub fn route_lines(routes: &[LiveRoute]) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes {
        out.push(format!("- host: {}", r.host));
        if !r.path_allowlist.is_empty() {
            out.push(format!(
                "  path_allowlist: [{}]",
                r.path_allowlist.join(", ")
            ));
        }
        if let Some(t) = &r.token_ref {
            out.push(format!("  auth: (token {t})"));
        }
        if r.tls_passthrough {
            out.push("  tls_passthrough: true".to_string());
        }
    }
    out
}

/// A unified-style diff of two line lists: ` `, `-`, `+` prefixes.
pub fn diff_lines(before: &[String], after: &[String]) -> Vec<String> {
    let text = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let (before, after) = (text(before), text(after));
    let diff = similar::TextDiff::from_lines(&before, &after);
    diff.iter_all_changes()
        .map(|c| {
            let sign = match c.tag() {
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
                similar::ChangeTag::Equal => ' ',
            };
            format!("{sign} {}", c.value().trim_end_matches('\n'))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: &str, paths: &[&str]) -> LiveRoute {
        LiveRoute {
            host: host.into(),
            path_allowlist: paths.iter().map(|s| s.to_string()).collect(),
            token_ref: None,
            tls_passthrough: false,
        }
    }

    #[test]
    fn new_hosts_append_and_existing_hosts_union_paths() {
        let routes = vec![route("a.example", &["/x/"])];
        let added = merge_egress(
            &routes,
            &EgressRequest {
                host: "B.example".into(),
                path_allowlist: vec![],
            },
        );
        assert_eq!(added[1], route("b.example", &[]));
        let unioned = merge_egress(
            &routes,
            &EgressRequest {
                host: "a.example".into(),
                path_allowlist: vec!["/y/".into(), "/x/".into()],
            },
        );
        assert_eq!(unioned, vec![route("a.example", &["/x/", "/y/"])]);
        let opened = merge_egress(
            &routes,
            &EgressRequest {
                host: "a.example".into(),
                path_allowlist: vec![],
            },
        );
        assert_eq!(opened, vec![route("a.example", &[])]);
    }

    #[test]
    fn credentials_survive_a_merge() {
        let mut r = route("api.example", &["/v1/"]);
        r.token_ref = Some("TOKEN".into());
        let merged = merge_egress(
            &[r],
            &EgressRequest {
                host: "api.example".into(),
                path_allowlist: vec!["/v2/".into()],
            },
        );
        assert_eq!(merged[0].token_ref.as_deref(), Some("TOKEN"));
    }

    #[test]
    fn diffs_show_the_change() {
        let before = route_lines(&[route("a.example", &[])]);
        let after = route_lines(&[route("a.example", &[]), route("pypi.org", &["/simple/"])]);
        assert_eq!(
            diff_lines(&before, &after),
            vec![
                "  - host: a.example",
                "+ - host: pypi.org",
                "+   path_allowlist: [/simple/]"
            ]
        );
    }

    #[test]
    fn proposals_round_trip_as_json() {
        let p = Proposal {
            id: "1".into(),
            slug: "a-x".into(),
            agent: "a".into(),
            created_at: "2026-11-22T22:00:00Z".into(),
            reason: "need packages".into(),
            request: Request::Egress(EgressRequest {
                host: "pypi.org".into(),
                path_allowlist: vec![],
            }),
        };
        let text = serde_json::to_string(&p).unwrap();
        assert!(text.contains("\"kind\":\"egress\""));
        assert_eq!(serde_json::from_str::<Proposal>(&text).unwrap(), p);
    }
}
