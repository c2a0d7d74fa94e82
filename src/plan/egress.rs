//! The effective egress table: provider routes, then the bottle's routes,
//! then its bare allowlist. A bottle route replaces a provider route for the
//! same host.

use serde::Serialize;

use super::provider::{runtime, CODEX_HOST_TOKEN_REF};
use crate::manifest::{AuthScheme, Bottle, Role, Route, RouteAuth, Template};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    Provider,
    Bottle,
    Allowlist,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRoute {
    pub host: String,
    pub path_allowlist: Vec<String>,
    pub auth: Option<RouteAuth>,
    pub role: Option<Role>,
    pub tls_passthrough: bool,
    pub ssrf_ip_allowlist: Vec<String>,
    pub source: RouteSource,
}

impl PlannedRoute {
    fn from(route: &Route, source: RouteSource) -> PlannedRoute {
        PlannedRoute {
            host: route.host.clone(),
            path_allowlist: route.path_allowlist.clone(),
            auth: route.auth.clone(),
            role: route.role,
            tls_passthrough: route.tls_passthrough,
            ssrf_ip_allowlist: route.ssrf_ip_allowlist.clone(),
            source,
        }
    }

    /// Whether the proxy injects a credential on this route.
    pub fn credentialed(&self) -> bool {
        self.auth.is_some()
    }
}

pub fn effective_routes(bottle: &Bottle) -> Vec<PlannedRoute> {
    let provider = &bottle.provider;
    let mut provider_routes = runtime(provider.template).routes();
    if provider.template == Template::Claude {
        if let Some(token) = &bottle.legacy_auth_token {
            for r in &mut provider_routes {
                r.auth = Some(RouteAuth {
                    scheme: AuthScheme::Bearer,
                    token_ref: token.clone(),
                });
                r.role = Some(Role::ClaudeCodeOauth);
            }
        }
    }
    let declared = |host: &str| {
        bottle.egress.routes.iter().any(|r| r.host == host)
            || bottle.egress.allowlist.iter().any(|h| h == host)
    };
    let mut out: Vec<PlannedRoute> = provider_routes
        .iter()
        .filter(|r| !declared(&r.host))
        .map(|r| PlannedRoute::from(r, RouteSource::Provider))
        .collect();
    out.extend(
        bottle
            .egress
            .routes
            .iter()
            .map(|r| PlannedRoute::from(r, RouteSource::Bottle)),
    );
    out.extend(
        bottle
            .egress
            .allowlist
            .iter()
            .map(|h| PlannedRoute::from(&Route::bare(h), RouteSource::Allowlist)),
    );
    if provider.template == Template::Codex && provider.forward_host_credentials {
        // The host's ChatGPT token rides on Codex's API hosts, whoever
        // declared them; injected JWTs must not meet the DLP scanner.
        for r in out.iter_mut() {
            if runtime(Template::Codex)
                .api_hosts
                .contains(&r.host.as_str())
            {
                r.auth.get_or_insert(RouteAuth {
                    scheme: AuthScheme::Bearer,
                    token_ref: CODEX_HOST_TOKEN_REF.to_string(),
                });
                r.tls_passthrough = true;
            }
        }
    }
    out
}
