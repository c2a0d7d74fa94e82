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
use ratatui::style::{Color, Modifier};
use ratatui::widgets::Widget;
use unicode_width::UnicodeWidthStr;

/// One cell as a pane shows it.
#[derive(Debug, Clone, PartialEq)]
struct Cell {
    text: String,
    fg: Color,
    bg: Color,
    mods: Modifier,
}

const COMPARED: Modifier = Modifier::BOLD
    .union(Modifier::DIM)
    .union(Modifier::ITALIC)
    .union(Modifier::UNDERLINED)
    .union(Modifier::REVERSED)
    .union(Modifier::CROSSED_OUT);

impl Cell {
    fn blank() -> Cell {
        Cell {
            text: " ".into(),
            fg: Color::Reset,
            bg: Color::Reset,
            mods: Modifier::empty(),
        }
    }

    /// What can be seen: a blank's foreground and most attributes cannot.
    fn seen(&self) -> Cell {
        // VS16 by its cell, not its presentation: bb draws a narrow
        // character with VS16 as text, so that it keeps its one cell.
        let text = if self.text.trim().is_empty() {
            " ".to_string()
        } else {
            self.text.replace('\u{fe0f}', "")
        };
        let blank = text == " ";
        Cell {
            fg: if blank { Color::Reset } else { self.fg },
            bg: self.bg,
            mods: self.mods
                & if blank {
                    Modifier::REVERSED | Modifier::UNDERLINED
                } else {
                    COMPARED
                },
            text,
        }
    }
}

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
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let socket = format!("bb-fidelity-{}-{n}-{}", std::process::id(), case.name);
    let tmux = |args: &[&str]| {
        let out = Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let done = format!("{socket}-done");
    // No echo: the answers tmux gives the stream's terminal queries would
    // show as typed text.
    let script = format!(
        "stty -echo; cat {}; tmux wait-for -S {done}; sleep 600",
        file.display()
    );
    let (rows, cols) = (case.rows.to_string(), case.cols.to_string());
    tmux(&[
        "start-server",
        ";",
        "set",
        "-g",
        "status",
        "off",
        ";",
        "set",
        "-g",
        "history-limit",
        "1000",
        ";",
        "new-session",
        "-d",
        "-x",
        &cols,
        "-y",
        &rows,
        &script,
    ]);
    tmux(&["wait-for", &done]);
    let screen = tmux(&["capture-pane", "-p", "-e", "-N"]);
    let text = tmux(&["capture-pane", "-p", "-e", "-S", "-", "-E", "-"]);
    let _ = Command::new("tmux")
        .args(["-L", &socket, "kill-server"])
        .output();
    let mut capture = Capture::default();
    let mut cells: Vec<Vec<Cell>> = screen
        .split('\n')
        .take(usize::from(case.rows))
        .map(|line| capture.line(line, case.cols))
        .collect();
    while cells.len() < usize::from(case.rows) {
        cells.push(capture.line("", case.cols));
    }
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

/// `capture-pane -e` output read back: SGR and line-drawing state carry
/// from line to line, as tmux writes them only when they change.
#[derive(Default)]
struct Capture {
    pen: Option<Cell>,
    hidden: bool,
    /// tmux writes line drawing as SO (0x0e) ... SI (0x0f) around the
    /// VT100 graphics letters.
    graphics: bool,
}

impl Capture {
    /// One line, as `cols` cells (0: as many as it has).
    fn line(&mut self, line: &str, cols: u16) -> Vec<Cell> {
        let mut out: Vec<Cell> = Vec::new();
        let mut chars = line.chars().peekable();
        let mut used = 0u16;
        while let Some(c) = chars.next() {
            if c == '\x1b' && chars.peek() == Some(&'[') {
                chars.next();
                let mut params = String::new();
                for p in chars.by_ref() {
                    if p == 'm' {
                        break;
                    }
                    params.push(p);
                }
                let pen = self.pen.get_or_insert_with(Cell::blank);
                sgr(pen, &mut self.hidden, &params);
                continue;
            }
            match c {
                '\x0e' => self.graphics = true,
                '\x0f' => self.graphics = false,
                _ => {}
            }
            if c == '\x0e' || c == '\x0f' {
                continue;
            }
            let c = if self.graphics { line_drawing(c) } else { c };
            let s = c.to_string();
            let w = s.width() as u16;
            if w == 0 {
                if let Some(last) = out.last_mut() {
                    last.text.push(c);
                }
                continue;
            }
            let mut cell = self.pen.clone().unwrap_or_else(Cell::blank);
            cell.text = if self.hidden { " ".into() } else { s };
            out.push(cell);
            used += w;
        }
        while used < cols {
            out.push(Cell::blank());
            used += 1;
        }
        out
    }
}

/// The DEC special graphics letters as the box characters they stand for.
fn line_drawing(c: char) -> char {
    const FROM: &str = "`abcdefghijklmnopqrstuvwxyz{|}~";
    const TO: &str = "◆▒␉␌␍␊°±␤␋┘┐┌└┼⎺⎻─⎼⎽├┤┴┬│≤≥π≠£·";
    FROM.chars()
        .position(|f| f == c)
        .and_then(|i| TO.chars().nth(i))
        .unwrap_or(c)
}

fn sgr(pen: &mut Cell, hidden: &mut bool, params: &str) {
    let list: Vec<&str> = if params.is_empty() {
        vec!["0"]
    } else {
        params.split(';').collect()
    };
    let mut i = 0;
    let num = |s: &str| s.parse::<u16>().unwrap_or(0);
    while i < list.len() {
        let p = list[i];
        if p.contains(':') {
            // Underline styles (4:N) and colon colours: tmux writes only
            // underline styles this way.
            let mut parts = p.split(':');
            if parts.next() == Some("4") {
                if parts.next().map(num).unwrap_or(1) == 0 {
                    pen.mods.remove(Modifier::UNDERLINED);
                } else {
                    pen.mods.insert(Modifier::UNDERLINED);
                }
            }
            i += 1;
            continue;
        }
        let n = num(p);
        let colour = |i: &mut usize| -> Option<Color> {
            match list.get(*i + 1).map(|s| num(s)) {
                Some(5) => {
                    *i += 2;
                    Some(Color::Indexed(num(list.get(*i)?) as u8))
                }
                Some(2) => {
                    *i += 4;
                    Some(Color::Rgb(
                        num(list.get(*i - 2)?) as u8,
                        num(list.get(*i - 1)?) as u8,
                        num(list.get(*i)?) as u8,
                    ))
                }
                _ => None,
            }
        };
        match n {
            0 => {
                *pen = Cell::blank();
                *hidden = false;
            }
            1 => pen.mods.insert(Modifier::BOLD),
            2 => pen.mods.insert(Modifier::DIM),
            3 => pen.mods.insert(Modifier::ITALIC),
            4 | 21 => pen.mods.insert(Modifier::UNDERLINED),
            5 => pen.mods.insert(Modifier::SLOW_BLINK),
            7 => pen.mods.insert(Modifier::REVERSED),
            8 => *hidden = true,
            9 => pen.mods.insert(Modifier::CROSSED_OUT),
            22 => pen.mods.remove(Modifier::BOLD | Modifier::DIM),
            23 => pen.mods.remove(Modifier::ITALIC),
            24 => pen.mods.remove(Modifier::UNDERLINED),
            27 => pen.mods.remove(Modifier::REVERSED),
            28 => *hidden = false,
            30..=37 => pen.fg = Color::Indexed((n - 30) as u8),
            90..=97 => pen.fg = Color::Indexed((n - 90 + 8) as u8),
            40..=47 => pen.bg = Color::Indexed((n - 40) as u8),
            100..=107 => pen.bg = Color::Indexed((n - 100 + 8) as u8),
            39 => pen.fg = Color::Reset,
            49 => pen.bg = Color::Reset,
            38 => pen.fg = colour(&mut i).unwrap_or(pen.fg),
            48 => pen.bg = colour(&mut i).unwrap_or(pen.bg),
            58 => {
                colour(&mut i);
            }
            _ => {}
        }
        i += 1;
    }
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

/// End to end: the real `bb`, a stream replayed in a zoomed pane of the
/// size it was made for, read off its screen as a person sees it, and the
/// same stream in a tmux pane of that size, as text.
#[test]
fn the_workspace_shows_what_tmux_shows() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux is not installed: the end-to-end comparison is skipped");
        return;
    }
    let (rows, cols) = (22u16, 80u16);
    for case in corpus() {
        let case = Case { rows, cols, ..case };
        let (tmux_cells, _) = tmux_pane(&case).expect("tmux runs");
        let want: Vec<String> = tmux_cells
            .iter()
            .map(|row| {
                let text: String = row.iter().map(|c| c.seen().text).collect();
                text.trim_end().to_string()
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let h = dir.path().join("home");
        support::home(&h, &["replay"]);
        let file = dir.path().join("stream");
        std::fs::write(&file, &case.bytes).unwrap();
        // The stream is played once the pane is zoomed (no echo of the
        // Enter that starts it).
        let program = format!("stty -echo; read _; cat {}; exec sleep 600", file.display());
        let mut bb = support::Bb::spawn(
            &["--local-backend", &program],
            &[("BB_HOME", h.to_str().unwrap())],
            dir.path(),
            rows + 2,
            cols,
        );
        bb.wait_text("No agent is running here yet.");
        bb.prefix("n");
        bb.wait_text("New agent");
        bb.keys("replay\r");
        bb.wait_text("Launch replay? y/N");
        bb.keys("y");
        bb.wait_text("replay is running");
        bb.prefix("z");
        bb.wait_for("the zoomed pane", |s| !s.contains("Agents ("));
        bb.keys("\r");
        let pane = || -> Vec<String> {
            let parser = bb.parser.lock().unwrap();
            parser
                .screen()
                .rows(0, cols)
                .skip(1)
                .take(usize::from(rows))
                .map(|r| r.trim_end().to_string())
                .collect()
        };
        let mut got = pane();
        for _ in 0..500 {
            if got == want {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
            got = pane();
        }
        assert_eq!(
            got.join("\n"),
            want.join("\n"),
            "{}: bb's pane (left) and tmux's",
            case.name
        );
    }
}
