//! The effective egress table: provider routes, then the bottle's routes,
//! then its bare allowlist. A bottle route replaces a provider route for the
//! same host.

use serde::Serialize;

pub use bb_sidecar::egress::policy::Handling;

use super::provider::{runtime, TokenEndpoint, CODEX_HOST_TOKEN_REF};
use crate::manifest::{AuthScheme, Bottle, Role, Route, RouteAuth, Template};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSource {
    Provider,
    Bottle,
    Allowlist,
}

/// A route of the effective table: the manifest's route, and where it came
/// from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedRoute {
    #[serde(flatten)]
    pub route: Route,
    pub source: RouteSource,
}

impl std::ops::Deref for PlannedRoute {
    type Target = Route;
    fn deref(&self) -> &Route {
        &self.route
    }
}

impl PlannedRoute {
    fn from(route: &Route, source: RouteSource) -> PlannedRoute {
        PlannedRoute {
            route: route.clone(),
            source,
        }
    }

    /// Whether the proxy injects a credential on this route.
    pub fn credentialed(&self) -> bool {
        self.auth.is_some()
    }

    /// What egress does with this route's traffic: the sidecar's own rule.
    pub fn handling(&self) -> Handling {
        bb_sidecar::egress::policy::handling(self.tls_passthrough, self.credentialed())
    }

    /// The handling in words, for preflight.
    pub fn handling_text(&self) -> &'static str {
        match (self.handling(), self.credentialed()) {
            (Handling::Tunnel, _) => "tunnel: SNI checked only",
            (Handling::Intercept { scan_body: false }, _) => {
                "intercept: inject token, body not scanned"
            }
            (Handling::Intercept { scan_body: true }, true) => "intercept: inject token, scan body",
            (Handling::Intercept { scan_body: true }, false) => "intercept: scan body",
        }
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
        // What forward_host_credentials asks for: the host's ChatGPT token
        // on Codex's API hosts, unless the route names a credential of its
        // own. Nothing else about a declared route changes; preflight shows
        // how each is handled.
        for r in out.iter_mut() {
            if runtime(Template::Codex)
                .api_hosts
                .contains(&r.host.as_str())
            {
                r.route.auth.get_or_insert(RouteAuth {
                    scheme: AuthScheme::Bearer,
                    token_ref: CODEX_HOST_TOKEN_REF.to_string(),
                });
            }
        }
    }
    out
}

/// The token endpoint egress answers for the agent, when the bottle
/// forwards the host's Codex login and routes its endpoint.
pub fn token_endpoint(bottle: &Bottle, routes: &[PlannedRoute]) -> Option<TokenEndpoint> {
    let provider = &bottle.provider;
    if !(provider.template == Template::Codex && provider.forward_host_credentials) {
        return None;
    }
    let endpoint = runtime(Template::Codex).token_endpoint.clone()?;
    routes
        .iter()
        .any(|r| {
            r.host == endpoint.host
                && (r.path_allowlist.is_empty()
                    || r.path_allowlist
                        .iter()
                        .any(|p| endpoint.path.starts_with(p.as_str())))
        })
        .then_some(endpoint)
}
