//! A proposal's request as text the operator edits in $EDITOR, and the
//! edited text read back and validated before anything is applied.

use serde::Deserialize;

use super::proposal::{EgressRequest, Request};
use crate::manifest::yaml;

const HEADER: &str = "# Edit the change, save and quit to approve it.\n# Empty the file to cancel (the proposal stays pending).\n";

pub fn render(req: &Request) -> String {
    match req {
        Request::Egress(e) => {
            let mut s = format!("{HEADER}host: {}\n", e.host);
            if e.path_allowlist.is_empty() {
                s.push_str("# path_allowlist: [/only/this/prefix/]\n");
            } else {
                s.push_str("path_allowlist:\n");
                for p in &e.path_allowlist {
                    s.push_str(&format!("  - {p}\n"));
                }
            }
            s
        }
        Request::Credentialed { host, token_ref } => format!(
            "{HEADER}host: {host}\n# The host environment variable holding the token egress injects:\ntoken_ref: {}\n",
            token_ref.as_deref().unwrap_or("")
        ),
        Request::Capability { dockerfile } => dockerfile.clone(),
        Request::Stuck { message } => message.clone(),
        // A held push goes as it is, or not at all.
        Request::Push(p) => format!("# {} (approved or rejected as it is)\n", req.summary())
            + &p.patch,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EgressDoc {
    host: String,
    #[serde(default)]
    path_allowlist: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialDoc {
    host: String,
    token_ref: String,
}

/// The edited request; `Ok(None)` when the operator emptied the file.
pub fn parse(original: &Request, text: &str) -> Result<Option<Request>, String> {
    let meaningful = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if !meaningful {
        return Ok(None);
    }
    let node = |t: &str| yaml::parse(t).map_err(|e| format!("line {}: {}", e.line, e.message));
    let located = |e: yaml::DeError| match e.line {
        Some(l) => format!("line {l}: {e}"),
        None => e.to_string(),
    };
    match original {
        Request::Egress(_) => {
            let n = node(text)?;
            let d: EgressDoc = yaml::from_node(&n).map_err(located)?;
            let host = crate::manifest::validate_host(&d.host).map_err(|e| format!("host: {e}"))?;
            if let Some(bad) = d.path_allowlist.iter().find(|p| !p.starts_with('/')) {
                return Err(format!("path_allowlist: {bad:?} must start with '/'"));
            }
            Ok(Some(Request::Egress(EgressRequest {
                host,
                path_allowlist: d.path_allowlist,
            })))
        }
        Request::Credentialed { .. } => {
            let n = node(text)?;
            let d: CredentialDoc = yaml::from_node(&n).map_err(located)?;
            let host = crate::manifest::validate_host(&d.host).map_err(|e| format!("host: {e}"))?;
            if !crate::manifest::is_env_name(&d.token_ref) {
                return Err(format!(
                    "token_ref: {:?} is not an environment variable name",
                    d.token_ref
                ));
            }
            Ok(Some(Request::Credentialed {
                host,
                token_ref: Some(d.token_ref),
            }))
        }
        Request::Capability { .. } => Ok(Some(Request::Capability {
            dockerfile: text.to_string(),
        })),
        Request::Stuck { .. } | Request::Push(_) => Ok(Some(original.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_round_trip_and_validation() {
        let req = Request::Egress(EgressRequest {
            host: "pypi.org".into(),
            path_allowlist: vec!["/simple/".into()],
        });
        let text = render(&req);
        assert_eq!(parse(&req, &text).unwrap(), Some(req.clone()));
        let edited = text.replace("/simple/", "/packages/");
        let Some(Request::Egress(e)) = parse(&req, &edited).unwrap() else {
            panic!()
        };
        assert_eq!(e.path_allowlist, vec!["/packages/"]);
        assert!(parse(&req, "host: https://x.com\n")
            .unwrap_err()
            .contains("host"));
        assert!(parse(&req, "host: x.com\npath_allowlist: [nope]\n")
            .unwrap_err()
            .contains("start with"));
        assert!(parse(&req, "hots: x.com\n")
            .unwrap_err()
            .contains("did you mean"));
        assert_eq!(parse(&req, "# nothing\n\n").unwrap(), None);
    }

    #[test]
    fn credentialed_requests_need_a_token_ref() {
        let req = Request::Credentialed {
            host: "api.example.com".into(),
            token_ref: None,
        };
        assert!(parse(&req, &render(&req)).is_err());
        let ok = parse(&req, "host: api.example.com\ntoken_ref: EXAMPLE_TOKEN\n").unwrap();
        assert_eq!(
            ok,
            Some(Request::Credentialed {
                host: "api.example.com".into(),
                token_ref: Some("EXAMPLE_TOKEN".into())
            })
        );
    }
}
