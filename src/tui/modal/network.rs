//! The network view (`C-b t`): one bottle's egress activity from its audit
//! log, live; refused requests with the rule and the reason; filters (only
//! refused, by host); `a` on a refused request proposes allowing it.

use crossterm::event::KeyEvent;

use crate::audit::{self, Decision, Record};
use crate::supervise::{EgressRequest, Proposal, Request};
use crate::tui::keymap::{mode_action, typed, Input, Net, HOST_FILTER_KEYS, NETWORK_KEYS};

/// Requests kept in the view; older ones are dropped (`bb logs` has all).
pub const KEPT: usize = 5_000;
/// Rows a page key moves.
const PAGE: usize = 10;

pub struct NetworkView {
    pub slug: String,
    pub agent: String,
    /// Oldest first.
    pub records: Vec<Record>,
    pub blocked_only: bool,
    pub host_filter: String,
    /// The host filter is being typed.
    pub typing: bool,
    /// The selected request, as an index into [`NetworkView::shown`];
    /// None follows the newest.
    pub selected: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkOutcome {
    Stay,
    Close,
    /// Propose allowing what this refused request asked for.
    Allow(Box<Record>),
}

impl NetworkView {
    /// The view of `slug`, on the records its log holds so far (more come
    /// as they are read).
    pub fn new(slug: String, agent: String, records: Vec<Record>) -> NetworkView {
        NetworkView {
            slug,
            agent,
            records,
            blocked_only: false,
            host_filter: String::new(),
            typing: false,
            selected: None,
        }
    }

    /// Records read from the log, in order.
    pub fn add(&mut self, new: Vec<Record>) {
        self.records.extend(new);
        if self.records.len() > KEPT {
            let extra = self.records.len() - KEPT;
            self.records.drain(..extra);
            self.selected = self.selected.map(|s| s.saturating_sub(extra));
        }
    }

    /// The records the filters let through, oldest first.
    pub fn shown(&self) -> Vec<&Record> {
        let filter = self.host_filter.to_ascii_lowercase();
        self.records
            .iter()
            .filter(|r| !self.blocked_only || r.decision == Decision::Blocked)
            .filter(|r| filter.is_empty() || r.host.to_ascii_lowercase().contains(&filter))
            .collect()
    }

    /// The selected row of [`NetworkView::shown`], if any is shown.
    pub fn selected_index(&self) -> Option<usize> {
        let n = self.shown().len();
        match self.selected {
            _ if n == 0 => None,
            None => Some(n - 1),
            Some(i) => Some(i.min(n - 1)),
        }
    }

    fn moved(&mut self, by: isize) {
        let n = self.shown().len();
        let Some(at) = self.selected_index() else {
            return;
        };
        let to = (at as isize + by).clamp(0, n as isize - 1) as usize;
        // At the newest it follows new requests.
        self.selected = (to + 1 < n).then_some(to);
    }

    pub fn handle(&mut self, key: &KeyEvent) -> NetworkOutcome {
        if self.typing {
            match mode_action(HOST_FILTER_KEYS, key) {
                Some(Input::Submit) => self.typing = false,
                Some(Input::Cancel) => {
                    self.typing = false;
                    self.host_filter.clear();
                }
                Some(Input::Erase) => {
                    self.host_filter.pop();
                }
                None => self.host_filter.extend(typed(key)),
            }
            self.selected = None;
            return NetworkOutcome::Stay;
        }
        match mode_action(NETWORK_KEYS, key) {
            Some(Net::Up) => self.moved(-1),
            Some(Net::Down) => self.moved(1),
            Some(Net::PageUp) => self.moved(-(PAGE as isize)),
            Some(Net::PageDown) => self.moved(PAGE as isize),
            Some(Net::Oldest) => self.selected = Some(0),
            Some(Net::Newest) => self.selected = None,
            Some(Net::BlockedOnly) => {
                self.blocked_only = !self.blocked_only;
                self.selected = None;
            }
            Some(Net::Filter) => self.typing = true,
            Some(Net::Allow) => {
                let shown = self.shown();
                if let Some(r) = self.selected_index().and_then(|i| shown.get(i)) {
                    return NetworkOutcome::Allow(Box::new((*r).clone()));
                }
            }
            Some(Net::Close) => return NetworkOutcome::Close,
            None => {}
        }
        NetworkOutcome::Stay
    }
}

/// What allowing a refused request would ask for: its host, and its path
/// where only the path was refused. None, with why, when allowing its
/// host would not let it through (a secret, an internal address, ...).
pub fn allowing(r: &Record) -> Result<EgressRequest, String> {
    if r.decision != Decision::Blocked {
        return Err(format!("{} {} was not refused", r.method, r.host));
    }
    let rule = r.rule.as_deref().unwrap_or("");
    match rule {
        "host-not-allowed" => Ok(EgressRequest {
            host: r.host.to_string(),
            path_allowlist: Vec::new(),
        }),
        "path-not-allowed" if r.path != "[redacted]" => Ok(EgressRequest {
            host: r.host.to_string(),
            path_allowlist: vec![r.path.to_string()],
        }),
        _ => Err(format!(
            "allowing {} would not let this through: {}",
            r.host,
            audit::reason(rule)
        )),
    }
}

/// The proposal the operator files for a refused request, as an agent's
/// would be: it opens the usual approval, with the diff.
pub fn proposal(slug: &str, agent: &str, r: &Record, req: EgressRequest, now_ms: u128) -> Proposal {
    Proposal {
        id: format!("operator-{now_ms}"),
        slug: slug.to_string(),
        agent: agent.to_string(),
        created_at: now_ms.to_string(),
        reason: format!(
            "from the network view: {} {}{} was refused ({})",
            r.method,
            r.host,
            r.path,
            audit::reason(r.rule.as_deref().unwrap_or(""))
        ),
        request: Request::Egress(req),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;

    fn record(host: &str, path: &str, decision: &str, rule: Option<&str>) -> Record {
        Record {
            time_ms: 1_764_572_977_000,
            client: Cow::Borrowed("172.30.0.3:40000"),
            host: Cow::Owned(host.into()),
            method: Cow::Borrowed("GET"),
            path: Cow::Owned(path.into()),
            decision: serde_json::from_str(&format!("\"{decision}\"")).unwrap(),
            rule: rule.map(String::from),
        }
    }

    fn press(v: &mut NetworkView, c: char) -> NetworkOutcome {
        v.handle(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    }

    #[test]
    fn filters_selection_and_allowing_a_refused_request() {
        let mut v = NetworkView::new("a-1".into(), "a".into(), Vec::new());
        v.add(vec![
            record("api.anthropic.com", "/v1/messages", "allowed", None),
            record("pypi.org", "/simple/", "blocked", Some("host-not-allowed")),
            record(
                "github.com",
                "/x/y.git",
                "blocked",
                Some("path-not-allowed"),
            ),
            record("api.anthropic.com", "/v1/messages", "allowed", None),
        ]);
        assert_eq!(v.selected_index(), Some(3), "follows the newest");
        press(&mut v, 'b');
        assert_eq!(v.shown().len(), 2);
        press(&mut v, 'k');
        let NetworkOutcome::Allow(r) = press(&mut v, 'a') else {
            panic!("a on a refused request")
        };
        assert_eq!(r.host, "pypi.org");
        assert_eq!(
            allowing(&r),
            Ok(EgressRequest {
                host: "pypi.org".into(),
                path_allowlist: vec![]
            })
        );
        press(&mut v, 'j');
        let NetworkOutcome::Allow(r) = press(&mut v, 'a') else {
            panic!()
        };
        assert_eq!(allowing(&r).unwrap().path_allowlist, ["/x/y.git"]);
        // New requests while following the newest: still the newest.
        v.add(vec![record(
            "evil.example",
            "/",
            "blocked",
            Some("dlp:aws-access-key"),
        )]);
        assert_eq!(v.selected_index(), Some(2));
        let NetworkOutcome::Allow(r) = press(&mut v, 'a') else {
            panic!()
        };
        assert!(allowing(&r).unwrap_err().contains("looked like a secret"));
        // A host filter, typed.
        press(&mut v, 'b');
        press(&mut v, '/');
        for c in "ANTHROPIC".chars() {
            press(&mut v, c);
        }
        v.handle(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        assert_eq!(v.shown().len(), 2);
        assert_eq!(press(&mut v, 'q'), NetworkOutcome::Close);
    }
}
