//! Proposals and decisions, as the queue files hold them, and the route
//! merge an approved egress request makes.

use bb_contract::egress::{Grant, RouteConfig};

pub use bb_contract::proposal::{Decision, EgressRequest, Proposal, Request};

/// The routes as lines a person reads in a diff.
pub fn route_lines(routes: &[RouteConfig]) -> Vec<String> {
    let mut out = Vec::new();
    for r in routes {
        out.push(format!("- host: {}", r.host));
        if !r.path_allowlist.is_empty() {
            out.push(format!(
                "  path_allowlist: [{}]",
                r.path_allowlist.join(", ")
            ));
        }
        if let Some(a) = &r.auth {
            out.push(format!("  auth: (token {})", a.token_env));
        }
        if r.tls_passthrough {
            out.push("  tls_passthrough: true".to_string());
        }
    }
    out
}

/// An egress request as the change it makes to a bottle's live routes:
/// first what kind of change it is (said plainly where it widens what the
/// agent can already reach, marked `!`), then the diff of the whole route
/// list, every route as context.
pub fn egress_change(live: &[RouteConfig], req: &EgressRequest) -> Vec<String> {
    let mut after = live.to_vec();
    let grant = bb_contract::egress::grant(&mut after, &req.host, &req.path_allowlist);
    let host = req.host.to_ascii_lowercase();
    let paths = |p: &[String]| p.join(", ");
    let said =
        match &grant {
            Grant::NewHost => format!("  a new host: {host}"),
            Grant::Widened { before } => {
                format!("! widens {host}: from {} to every path", paths(before))
            }
            Grant::AddedPaths { before, added } => format!(
                "! widens {host}: {} added to {}",
                paths(added),
                paths(before)
            ),
            Grant::OwnRoute {
                wildcard,
                before,
                paths: p,
            } => format!(
            "! widens {host}: a route of its own under {wildcard} (which allows {}), allowing {}",
            paths(before),
            if p.is_empty() { "every path".to_string() } else { paths(p) }
        ),
            Grant::Nothing => format!("  {host} already allows this: nothing changes"),
        };
    let mut out = vec![said, String::new()];
    out.extend(diff_lines(&route_lines(live), &route_lines(&after)));
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

    fn route(host: &str, paths: &[&str]) -> RouteConfig {
        RouteConfig::requested(
            host,
            &paths.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    fn req(host: &str, paths: &[&str]) -> EgressRequest {
        EgressRequest {
            host: host.into(),
            path_allowlist: paths.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_change_shows_the_live_routes_and_says_when_it_widens() {
        let live = vec![route("a.example", &[]), route("api.example.org", &["/v1/"])];
        assert_eq!(
            egress_change(&live, &req("pypi.org", &["/simple/"])),
            vec![
                "  a new host: pypi.org",
                "",
                "  - host: a.example",
                "  - host: api.example.org",
                "    path_allowlist: [/v1/]",
                "+ - host: pypi.org",
                "+   path_allowlist: [/simple/]"
            ]
        );
        let widened = egress_change(&live, &req("api.example.org", &[]));
        assert_eq!(
            widened[0],
            "! widens api.example.org: from /v1/ to every path"
        );
        assert!(
            widened.contains(&"-   path_allowlist: [/v1/]".to_string()),
            "{widened:?}"
        );
        assert!(
            !widened.iter().any(|l| l.starts_with("+ - host")),
            "no new host: {widened:?}"
        );
        assert_eq!(
            egress_change(&live, &req("a.example", &["/x/"]))[0],
            "  a.example already allows this: nothing changes"
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
