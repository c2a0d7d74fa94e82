//! The proposal queue is a contract between two programs: the supervise
//! sidecar writes proposals and reads decisions; bb reads proposals and
//! writes decisions. Both sides, their own code, one queue.

use std::time::Duration;

use bb::supervise::{queue, Decision, EgressRequest, Request};
use bb_sidecar::supervise::Supervise;
use serde_json::json;

#[tokio::test]
async fn what_the_sidecar_files_bb_reads_and_what_bb_decides_the_sidecar_answers() {
    let state = tempfile::tempdir().unwrap();
    let slug = "alpha-abc123";
    let sup = Supervise {
        queue: queue::dir(state.path(), slug),
        egress_config: state.path().join("missing.json"),
        slug: slug.into(),
        agent: "alpha".into(),
        wait: Duration::from_secs(30),
    };
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "egress-proxy-block", "arguments": {"host": "pypi.org", "path_allowlist": ["/simple/"], "justification": "pip"}}});
    let asking = tokio::spawn(async move { sup.handle_rpc(&call).await });

    let mut pending = Vec::new();
    for _ in 0..200 {
        pending = queue::pending(state.path(), slug);
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pending.len(), 1, "bb reads the sidecar's proposal");
    let p = &pending[0];
    assert_eq!(
        (p.agent.as_str(), p.slug.as_str(), p.reason.as_str()),
        ("alpha", slug, "pip")
    );
    assert_eq!(
        p.request,
        Request::Egress(EgressRequest {
            host: "pypi.org".into(),
            path_allowlist: vec!["/simple/".into()]
        })
    );

    queue::decide(
        state.path(),
        p,
        &Decision::Approved {
            request: p.request.clone(),
            note: Some("ok for the index".into()),
        },
    )
    .unwrap();
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "Approved: pypi.org is now allowed for /simple/ (ok for the index). Retry your request."
    );
    assert!(queue::pending(state.path(), slug).is_empty());
}
