//! An operator's decision on a proposal: applied where it changes the
//! bottle (egress, a credentialed route, a rebuilt image), then answered
//! and logged in the bottle.

use tokio::sync::mpsc::UnboundedSender;

use super::{forward_progress, Apply};
use crate::backend::SharedBackend;
use crate::supervise::{Decision, Proposal};
use crate::tui::event::{AppEvent, BottleMsg};

pub(super) async fn decide(
    tx: UnboundedSender<AppEvent>,
    backend: Option<SharedBackend>,
    p: Proposal,
    decision: Decision,
    apply: Apply,
) {
    let report = |outcome| {
        let _ = tx.send(AppEvent::Decided { outcome });
    };
    let recorded = || record(backend.as_ref(), &p, &decision);
    match apply {
        Apply::Nothing => report(recorded().await),
        Apply::Refused { reason } => report(recorded().await.and(Err(reason))),
        Apply::Egress { backend: b, req } => {
            let outcome = match b.update_egress(&p.slug, &req).await {
                Ok(()) => recorded().await,
                Err(e) => Err(format!(
                    "could not apply {} for {}: {e}; the proposal stays pending",
                    p.request.summary(),
                    p.agent
                )),
            };
            report(outcome);
        }
        Apply::Credentialed {
            backend: b,
            host,
            token,
        } => {
            let applied = async {
                let mut egress = b.live_egress(&p.slug).await?;
                egress.routes.retain(|r| r.host != host);
                let mut route = crate::manifest::Route::bare(&host);
                route.auth = Some(crate::manifest::RouteAuth {
                    scheme: crate::manifest::AuthScheme::Bearer,
                    token_ref: token.clone(),
                });
                egress.routes.push(route);
                b.replace_egress(&p.slug, &egress).await
            };
            let outcome = match applied.await {
                Ok(()) => recorded().await,
                Err(e) => Err(format!(
                    "could not apply {}: {e}; the proposal stays pending",
                    p.request.summary()
                )),
            };
            report(outcome);
        }
        Apply::Capability { backend: b, lines } => {
            if let Err(e) = recorded().await {
                report(Err(e));
                return;
            }
            let slug = p.slug.clone();
            let _ = tx.send(AppEvent::Bottle(slug.clone(), BottleMsg::Rebuilding));
            let (progress, forward) = forward_progress(&tx, &slug);
            let result = b
                .apply_capability(&slug, &lines, progress)
                .await
                .map_err(|e| e.to_string());
            let _ = forward.await;
            let _ = tx.send(AppEvent::Bottle(slug, BottleMsg::Rebuilt(result)));
        }
    }
}

/// The line a decision adds to the bottle's decision log (when, what,
/// which agent, why).
pub fn decision_line(p: &Proposal, decision: &Decision) -> serde_json::Value {
    let (verb, reason) = match decision {
        Decision::Approved { note, .. } => ("approved", note.clone().unwrap_or_default()),
        Decision::Rejected { reason } => ("rejected", reason.clone()),
    };
    serde_json::json!({
        "time": crate::state::now_rfc3339(),
        "agent": p.agent,
        "slug": p.slug,
        "proposal": p.id,
        "request": p.request,
        "agent_reason": p.reason,
        "decision": verb,
        "operator_note": reason,
    })
}

/// Answer the proposal in its bottle (the supervise sidecar, or the gate
/// holding a push, reads the answer) and log it there.
async fn record(
    backend: Option<&SharedBackend>,
    p: &Proposal,
    decision: &Decision,
) -> Result<String, String> {
    let verb = match decision {
        Decision::Approved { .. } => "approved",
        Decision::Rejected { .. } => "rejected",
    };
    let Some(backend) = backend else {
        return Err(format!(
            "could not record the decision for {}: no backend runs {}",
            p.agent, p.slug
        ));
    };
    backend
        .decide(p, decision, decision_line(p, decision))
        .await
        .map_err(|e| format!("could not record the decision for {}: {e}", p.agent))?;
    Ok(format!("{verb}: {} {}", p.agent, p.request.summary()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_decision_is_logged_with_its_reason_and_needs_the_bottles_backend() {
        let p = crate::supervise::sample("1", "alpha");
        let no = Decision::Rejected {
            reason: "no".into(),
        };
        let line = decision_line(&p, &no).to_string();
        assert!(
            line.contains("\"decision\":\"rejected\"")
                && line.contains("\"operator_note\":\"no\"")
                && line.contains("\"agent_reason\":\"need it\""),
            "{line}"
        );
        // No backend runs the bottle: the error names whose decision.
        let gone = record(None, &p, &no).await;
        assert!(gone
            .unwrap_err()
            .contains("could not record the decision for alpha"));
    }
}
