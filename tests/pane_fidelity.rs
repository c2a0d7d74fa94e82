//! Panes as faithful as tmux. Byte streams (recorded from real programs in
//! tests/panes/, or written here as the patterns agents' TUIs emit) are
//! replayed into bb's emulator and drawn as a pane draws them; the result
//! is kept as an insta snapshot and, where tmux is installed, compared cell
//! by cell with a tmux pane of the same size fed the same bytes: text, and
//! the colours and attributes a pane shows (bold, dim, italic, underline,
//! reverse, strikethrough, hidden). History (lines scrolled off the top) is compared as
//! text.
//!
//! Not compared: blink and overline, which bb's emulator does not keep
//! (they are in the streams, and show in the snapshots as missing); what `capture-pane` cannot show (the background of erased
//! cells); tmux's scroll-on-clear (a cleared screen kept in history).

mod support;

use std::path::Path;
use std::process::Command;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use support::tmux::{Capture, Cell};
use unicode_width::UnicodeWidthStr;

struct Case {
    name: &'static str,
    rows: u16,
    cols: u16,
    bytes: Vec<u8>,
}

fn recorded(name: &'static str, rows: u16, cols: u16) -> Case {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/panes")
        .join(format!("{name}.bytes"));
    Case {
        name,
        rows,
        cols,
        bytes: std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    }
}

fn written(name: &'static str, rows: u16, cols: u16, bytes: impl Into<Vec<u8>>) -> Case {
    Case {
        name,
        rows,
        cols,
        bytes: bytes.into(),
    }
}

fn corpus() -> Vec<Case> {
    let mut codex = Vec::new();
    // Codex's inline viewport: history goes in above it by scrolling a
    // region that ends where the viewport starts, so lines leave the top
    // of the screen into the terminal's history.
    codex.extend_from_slice(b"\x1b[2J\x1b[18;1H> prompt box\r\n  (viewport)");
    for i in 1..=40 {
        codex.extend_from_slice(
            format!("\x1b[1;17r\x1b[17;1H\r\n\x1b[1mhistory\x1b[0m line {i}\x1b[r\x1b[19;3H")
                .as_bytes(),
        );
    }
    let mut sync = Vec::new();
    for frame in 0..30 {
        // Each row erased and redrawn (not the whole screen: tmux's
        // scroll-on-clear keeps every cleared screen in its history, an
        // option of tmux's that bb does not follow).
        sync.extend_from_slice(b"\x1b[?2026h");
        for row in 0..6 {
            sync.extend_from_slice(
                format!(
                    "\x1b[{};1H\x1b[K\x1b[3{}mframe {frame} row {row}\x1b[0m",
                    row + 1,
                    row % 8
                )
                .as_bytes(),
            );
        }
        sync.extend_from_slice(b"\x1b[?2026l");
    }
    let mut wrap = Vec::new();
    wrap.extend_from_slice("x".repeat(95).as_bytes());
    wrap.extend_from_slice(b"\r\n\x1b[?7l");
    wrap.extend_from_slice("y".repeat(95).as_bytes());
    wrap.extend_from_slice(
        b"\x1b[?7h\r\n\x1b(0lqqwqqk\r\nx  x  x\r\ntqqnqqu\r\nmqqvqqj\x1b(B done\r\n",
    );
    vec![
        recorded("curses-box", 24, 80),
        // Claude Code 2.1.327 (claude-agent-sdk 0.2.184) answering a prompt
        // from the mock API: tests/panes/record-agents.sh.
        recorded("claude-code", 38, 120),
        // Codex 0.163.0 answering a prompt from the mock API, its reply held
        // 2.5 s (working indicator, a reconnect, the reply):
        // `cargo test --test real_agents -- --ignored`.
        recorded("codex", 38, 120),
        written(
            "sgr",
            8,
            100,
            concat!(
                "plain \x1b[1mbold\x1b[0m \x1b[3mit\x1b[0m \x1b[4mul\x1b[0m \x1b[7mrev\x1b[0m \x1b[2mdim\x1b[0m ",
                "\x1b[31mred\x1b[0m \x1b[38;5;208mora\x1b[0m \x1b[38;2;10;20;30mrgb\x1b[0m \x1b[44mbg\x1b[0m\r\n",
                // crossterm writes underline colour as 58;5;N or 58;2;R;G;B.
                "\x1b[31;58;5;1;4mred, red underline\x1b[0m \x1b[58;2;255;0;0mno underline set\x1b[0m ",
                "\x1b[32m\x1b[58;2;1;3;7mgreen\x1b[0m\r\n",
                "\x1b[38:2::255:128:0mcolon rgb\x1b[0m \x1b[48:5:22mcolon 256 bg\x1b[0m ",
                "\x1b[4:3mcurly\x1b[0m \x1b[4:2mdouble\x1b[0m \x1b[21mdouble 21\x1b[0m \x1b[4:0mnone\x1b[0m\r\n",
                "\x1b[1;2mbold+dim\x1b[22m normal \x1b[2mdim\x1b[22m \x1b[3;23mnot italic\x1b[0m \x1b[7;27mnot reversed\x1b[0m \x1b[9mstruck\x1b[29m not\r\n",
                "\x1b[8mhidden\x1b[28m shown \x1b[8mhidden again\x1b[0m\r\n",
                "\x1b[9mstrike\x1b[0m \x1b[5mblink\x1b[0m \x1b[53moverline\x1b[0m\r\n",
            ),
        ),
        written(
            "wide",
            6,
            40,
            "宽字 and ＡＢ fullwidth\r\né composed, e\u{301} combining\r\n👍 thumbs, 👍🏽 toned, \u{2764}\u{fe0f} VS16\r\n\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467} family \u{1f1eb}\u{1f1f7} flag\r\n0123456789012345678宽\r\n",
        ),
        written("codex-history", 24, 80, codex),
        written("synchronized", 8, 40, sync),
        written("wrap-and-lines", 10, 90, wrap),
    ]
}

/// The pane: bb's emulator fed the bytes, drawn as the workspace draws it;
/// also every line of history and screen as text.
fn bb_pane(case: &Case) -> (Buffer, Vec<Vec<Cell>>, Vec<String>) {
    let mut term = bb::session::Term::new(case.rows, case.cols, 1000);
    term.feed(&case.bytes);
    let area = Rect::new(0, 0, case.cols, case.rows);
    let mut buf = Buffer::empty(area);
    (&term.view()).render(area, &mut buf);
    let mut rows = Vec::new();
    for y in 0..case.rows {
        let mut row = Vec::new();
        let mut x = 0;
        while x < case.cols {
            let c = &buf[(x, y)];
            row.push(Cell {
                text: c.symbol().to_string(),
                fg: c.fg,
                bg: c.bg,
                mods: c.modifier,
            });
            // A cell is as wide as its first character (a VS16 emoji
            // takes one cell, as in tmux and bb's emulator).
            let first = c
                .symbol()
                .chars()
                .next()
                .map(String::from)
                .unwrap_or_default();
            x += first.width().max(1) as u16;
        }
        rows.push(row);
    }
    let last = term.history_len() + usize::from(case.rows) - 1;
    let text = term.lines_text(0, last).lines().map(String::from).collect();
    (buf, rows, text)
}

/// The same bytes in a tmux pane of the same size: its cells (from
/// `capture-pane -e`) and its history and screen as text.
fn tmux_pane(case: &Case) -> Option<(Vec<Vec<Cell>>, Vec<String>)> {
    Command::new("tmux").arg("-V").output().ok()?;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bytes");
    std::fs::write(&file, &case.bytes).unwrap();
    let done = format!("bb-fidelity-{}-{}-done", std::process::id(), case.name);
    // No echo: the answers tmux gives the stream's terminal queries would
    // show as typed text.
    let script = format!(
        "stty -echo; cat {}; tmux wait-for -S {done}; sleep 600",
        file.display()
    );
    let server = support::tmux::Server::start("fidelity", case.rows, case.cols, &[], &script);
    server.tmux(&["wait-for", &done]);
    let cells = server.cells(case.rows, case.cols);
    let text = server.tmux(&["capture-pane", "-p", "-e", "-S", "-", "-E", "-"]);
    let mut capture = Capture::default();
    let text = text
        .lines()
        .map(|l| {
            let cells = capture.line(l, 0);
            let line: String = cells.iter().map(|c| c.text.as_str()).collect();
            line.trim_end().to_string()
        })
        .collect();
    Some((cells, text))
}

/// Lines from the first with text to the last: terminals differ in how
/// many blank lines a clear of an empty screen leaves in history.
fn trim_blank_ends(mut lines: Vec<String>) -> Vec<String> {
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .unwrap_or(lines.len());
    lines.split_off(first)
}

#[test]
fn panes_match_tmux_cell_by_cell() {
    let mut report = Vec::new();
    let mut compared = 0;
    for case in corpus() {
        let (buf, bb_cells, bb_text) = bb_pane(&case);
        insta::assert_debug_snapshot!(case.name, buf);
        let Some((tmux_cells, tmux_text)) = tmux_pane(&case) else {
            eprintln!(
                "tmux is not installed: {} checked against its snapshot only",
                case.name
            );
            continue;
        };
        compared += 1;
        let mut differ = 0;
        let mut total = 0;
        for (y, (ours, theirs)) in bb_cells.iter().zip(&tmux_cells).enumerate() {
            for (x, (a, b)) in ours.iter().zip(theirs).enumerate() {
                total += 1;
                if a.seen() != b.seen() {
                    differ += 1;
                    if differ <= 5 {
                        report.push(format!(
                            "{} row {y} cell {x}: bb {:?}, tmux {:?}",
                            case.name,
                            a.seen(),
                            b.seen()
                        ));
                    }
                }
            }
            if ours.len() != theirs.len() {
                report.push(format!(
                    "{} row {y}: bb has {} cells, tmux {}",
                    case.name,
                    ours.len(),
                    theirs.len()
                ));
            }
        }
        if differ > 0 {
            report.push(format!("{}: {differ} of {total} cells differ", case.name));
        }
        let (ours, theirs) = (trim_blank_ends(bb_text), trim_blank_ends(tmux_text));
        if ours != theirs {
            report.push(format!(
                "{}: history and screen differ as text\nbb:\n{}\ntmux:\n{}",
                case.name,
                ours.join("\n"),
                theirs.join("\n")
            ));
        }
    }
    eprintln!("compared with tmux: {compared} streams");
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// End to end: the real `bb` in tmux (the outer terminal), each stream
/// played in a zoomed pane of the size it was made for, and the same
/// stream in a tmux pane of that size: every cell equal as the outer
/// terminal shows them (text, colours, attributes).
#[test]
fn the_workspace_shows_what_tmux_shows() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the end-to-end comparison is skipped");
        return;
    }
    let mut report = Vec::new();
    for case in corpus() {
        let mut live = Live::start(case.rows + 2, case.cols, &case.bytes);
        live.prefix("z");
        live.play();
        let (r, differ, total) = live.compare(case.name);
        eprintln!("{}: {} of {total} cells equal", case.name, total - differ);
        report.extend(r);
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Plays `DIR/stream` once `DIR/go` exists, then shows a prompt and
/// waits; its size, whenever it changes, goes to `DIR/size` (not to the
/// screen). The same program in bb's pane and in tmux's.
const PLAYER: &str = r#"d=$1
stty -echo
stty size > "$d/size.new" && mv "$d/size.new" "$d/size"
trap 'stty size > "$d/size.new" && mv "$d/size.new" "$d/size"' WINCH
while [ ! -e "$d/go" ]; do sleep 0.05; done
cat "$d/stream"
printf 'prompt> '
: > "$d/played"
while :; do sleep 0.05 & wait; done
"#;

/// One side of a live comparison: the program's directory.
struct Played {
    dir: std::path::PathBuf,
}

impl Played {
    fn new(root: &Path, name: &str, stream: &[u8]) -> Played {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stream"), stream).unwrap();
        Played { dir }
    }

    fn command(&self) -> String {
        format!(
            "sh {} {}",
            self.dir.parent().unwrap().join("player.sh").display(),
            self.dir.display()
        )
    }

    fn go(&self) {
        std::fs::write(self.dir.join("go"), "").unwrap();
    }

    /// Wait until the stream has been played.
    fn played(&self) {
        let start = std::time::Instant::now();
        while !self.dir.join("played").exists() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the stream was never played"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The program's size, once it is not `not`.
    fn size(&self, not: Option<(u16, u16)>) -> (u16, u16) {
        let start = std::time::Instant::now();
        loop {
            let read = std::fs::read_to_string(self.dir.join("size")).unwrap_or_default();
            let mut n = read
                .split_whitespace()
                .filter_map(|s| s.parse::<u16>().ok());
            if let (Some(r), Some(c)) = (n.next(), n.next()) {
                if Some((r, c)) != not {
                    return (r, c);
                }
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "the program's size stays {read:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The real `bb` in tmux (the outer terminal) with `stream` played in its
/// one pane, beside the same program in a tmux pane of the pane's size.
struct Live {
    _dir: tempfile::TempDir,
    outer: support::tmux::Server,
    reference: support::tmux::Server,
    ours: Played,
    theirs: Played,
    /// The outer terminal's size and the pane's.
    size: (u16, u16),
    pane: (u16, u16),
}

impl Live {
    fn start(rows: u16, cols: u16, stream: &[u8]) -> Live {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("player.sh"), PLAYER).unwrap();
        let h = dir.path().join("home");
        support::home(&h, &["player"]);
        let ours = Played::new(dir.path(), "bb", stream);
        let theirs = Played::new(dir.path(), "tmux", stream);
        let bb = format!(
            "cd {} && exec {} --local-backend '{}'",
            dir.path().display(),
            env!("CARGO_BIN_EXE_bb"),
            ours.command()
        );
        let outer = support::tmux::Server::start(
            "outer",
            rows,
            cols,
            &[("BB_HOME", h.to_str().unwrap()), ("TERM", "xterm-256color")],
            &bb,
        );
        outer.launch("player");
        outer.wait_for("the pane", |s| s.contains("player is running"));
        let pane = ours.size(None);
        let reference =
            support::tmux::Server::start("reference", pane.0, pane.1, &[], &theirs.command());
        theirs.size(None);
        Live {
            _dir: dir,
            outer,
            reference,
            ours,
            theirs,
            size: (rows, cols),
            pane,
        }
    }

    /// Play the stream on both sides, and wait until both have.
    fn play(&self) {
        self.ours.go();
        self.theirs.go();
        self.ours.played();
        self.theirs.played();
    }

    /// `C-b KEY` in bb; the pane's new size.
    fn prefix(&mut self, key: &str) {
        self.outer.key("C-b");
        self.outer.keys(key);
        self.follow_pane();
    }

    /// The outer terminal resized; the pane follows.
    fn resize(&mut self, rows: u16, cols: u16) {
        self.size = (rows, cols);
        self.outer.resize(rows, cols);
        self.follow_pane();
    }

    fn follow_pane(&mut self) {
        let pane = self.ours.size(Some(self.pane));
        self.pane = pane;
        self.reference.resize(pane.0, pane.1);
        self.theirs.size(None);
        while self.theirs.size(None) != pane {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// bb's pane (right-aligned under the header) and tmux's, once they
    /// agree or have stopped changing: the cells that differ.
    fn compare(&self, step: &str) -> (Vec<String>, usize, usize) {
        let (rows, cols) = self.pane;
        let left = usize::from(self.size.1 - cols);
        let ours = || {
            let all = self.outer.cells(self.size.0, self.size.1);
            support::tmux::region(&all, 1, left, usize::from(rows), usize::from(cols))
        };
        let theirs = || self.reference.cells(rows, cols);
        let mut last = (ours(), theirs());
        for _ in 0..250 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let now = (ours(), theirs());
            let (diff, _, _) = support::tmux::differences(&now.0, &now.1, 1);
            if diff.is_empty() {
                return (Vec::new(), 0, usize::from(rows) * usize::from(cols));
            }
            last = now;
        }
        let (mut report, differ, total) = support::tmux::differences(&last.0, &last.1, 8);
        report.insert(
            0,
            format!(
                "{step}: {differ} of {total} cells differ ({}x{} pane)\nbb:\n{}\ntmux:\n{}",
                rows,
                cols,
                self.outer.text(),
                self.reference.text()
            ),
        );
        (report, differ, total)
    }
}

/// Long lines (wrapped), short ones and a prompt at the bottom, through
/// the real `bb` in tmux as the outer terminal: narrowed, widened and
/// shortened from the outer terminal, zoomed and back to the sidebar. At
/// every step bb's pane shows what a tmux pane of its size shows.
#[test]
fn resizing_reflows_as_tmux_does() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the reflow comparison is skipped");
        return;
    }
    let mut stream = String::new();
    for i in 0..60 {
        let line = match i % 3 {
            0 => format!("{i:02} {}", "abcdefghij".repeat(10))[..100].to_string(),
            1 => format!("{i:02} short"),
            _ => format!("{i:02} {}", "0123456789".repeat(25)),
        };
        stream.push_str(&line);
        stream.push('\n');
    }
    let mut live = Live::start(30, 120, stream.as_bytes());
    live.prefix("z");
    live.play();
    let mut report = Vec::new();
    let mut step = |live: &Live, name: &str| {
        let (r, differ, total) = live.compare(name);
        eprintln!("{name}: {} of {total} cells equal", total - differ);
        report.extend(r);
    };
    step(&live, "zoomed 30x120");
    live.resize(30, 80);
    step(&live, "narrowed to 80");
    live.resize(30, 120);
    step(&live, "widened to 120");
    live.resize(18, 120);
    step(&live, "shortened to 18");
    live.resize(18, 60);
    step(&live, "short and narrow");
    live.resize(30, 120);
    step(&live, "back to 30x120");
    live.prefix("z");
    step(&live, "the sidebar back");
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// Wide characters and the sequences that join or present them, through
/// the real `bb` in tmux as the outer terminal, against tmux
/// (`support::tmux::wide_stream`).
#[test]
fn wide_characters_show_as_tmux_shows_them() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the wide character comparison is skipped");
        return;
    }
    let mut live = Live::start(24, 80, support::tmux::wide_stream().as_bytes());
    live.prefix("z");
    live.play();
    let (report, differ, total) = live.compare("wide characters");
    eprintln!("wide characters: {} of {total} cells equal", total - differ);
    assert!(report.is_empty(), "{}", report.join("\n"));
}
