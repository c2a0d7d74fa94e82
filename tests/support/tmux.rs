//! tmux as the reference terminal: its panes read back cell by cell
//! (`capture-pane -e`), and tmux servers of a test's own that run a
//! program (the reference) or the real `bb` (tmux as the outer terminal,
//! which shows what bb sent it).

use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::style::{Color, Modifier};
use unicode_width::UnicodeWidthStr;

/// One cell as a pane shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub fg: Color,
    pub bg: Color,
    pub mods: Modifier,
}

const COMPARED: Modifier = Modifier::BOLD
    .union(Modifier::DIM)
    .union(Modifier::ITALIC)
    .union(Modifier::UNDERLINED)
    .union(Modifier::REVERSED)
    .union(Modifier::CROSSED_OUT);

impl Cell {
    pub fn blank() -> Cell {
        Cell {
            text: " ".into(),
            fg: Color::Reset,
            bg: Color::Reset,
            mods: Modifier::empty(),
        }
    }

    /// What can be seen: a blank's foreground and most attributes cannot.
    pub fn seen(&self) -> Cell {
        let text = if self.text.trim().is_empty() {
            " ".to_string()
        } else {
            self.text.clone()
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

/// `capture-pane -e` output read back: SGR and line-drawing state carry
/// from line to line, as tmux writes them only when they change.
#[derive(Default)]
pub struct Capture {
    pen: Option<Cell>,
    hidden: bool,
    /// tmux writes line drawing as SO (0x0e) ... SI (0x0f) around the
    /// VT100 graphics letters.
    graphics: bool,
}

impl Capture {
    /// One line, as `cols` cells (0: as many as it has).
    pub fn line(&mut self, line: &str, cols: u16) -> Vec<Cell> {
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
            // tmux puts what follows a ZWJ in the ZWJ's cell, whatever
            // its width.
            let joined = out.last().is_some_and(|l| l.text.ends_with('\u{200d}'));
            if w == 0 || joined {
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

/// A tmux server of the test's own running one program in one pane
/// (no status line), killed on drop.
pub struct Server {
    socket: String,
}

impl Server {
    /// `command` (run by sh) in a `rows` x `cols` pane, with `env` set.
    pub fn start(tag: &str, rows: u16, cols: u16, env: &[(&str, &str)], command: &str) -> Server {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let server = Server {
            socket: format!("bb-{tag}-{}-{n}", std::process::id()),
        };
        let mut args: Vec<String> = [
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
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (k, v) in env {
            args.push("-e".into());
            args.push(format!("{k}={v}"));
        }
        args.push(command.into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        server.tmux(&args);
        server
    }

    /// `tmux ARGS` on this server; its stdout (a failure fails the test).
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type `text` (literally).
    pub fn keys(&self, text: &str) {
        self.tmux(&["send-keys", "-l", text]);
    }

    /// Press a key by tmux's name for it (`Enter`, `C-b`).
    pub fn key(&self, name: &str) {
        self.tmux(&["send-keys", name]);
    }

    pub fn resize(&self, rows: u16, cols: u16) {
        self.tmux(&[
            "resize-window",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
    }

    /// The pane's screen as text, one line per row.
    pub fn text(&self) -> String {
        self.tmux(&["capture-pane", "-p"])
    }

    /// The pane's screen, cell by cell (`rows` x `cols` of it).
    pub fn cells(&self, rows: u16, cols: u16) -> Vec<Vec<Cell>> {
        let screen = self.tmux(&["capture-pane", "-p", "-e", "-N"]);
        let mut capture = Capture::default();
        let mut cells: Vec<Vec<Cell>> = screen
            .split('\n')
            .take(usize::from(rows))
            .map(|line| capture.line(line, cols))
            .collect();
        while cells.len() < usize::from(rows) {
            cells.push(capture.line("", cols));
        }
        cells
    }

    /// In the workspace this server's bb shows, before any agent runs:
    /// launch `agent` from the picker and answer its preflight.
    pub fn launch(&self, agent: &str) {
        self.wait_for("bb", |s| s.contains("No agent is running here yet."));
        self.key("C-b");
        self.keys("n");
        self.wait_for("the picker", |s| s.contains("New agent"));
        self.keys(agent);
        self.key("Enter");
        let asked = format!("Launch {agent}? y/N");
        self.wait_for("the preflight", |s| s.contains(&asked));
        self.keys("y");
    }

    /// Wait (a hang's bound, no speed requirement) until `ok` holds for the
    /// screen's text.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            let text = self.text();
            if ok(&text) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "waiting for {what}; the screen:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The cells of `region` (first row, first column, rows, columns) of a
/// screen.
pub fn region(
    cells: &[Vec<Cell>],
    top: usize,
    left: usize,
    rows: usize,
    cols: usize,
) -> Vec<Vec<Cell>> {
    cells
        .iter()
        .skip(top)
        .take(rows)
        .map(|row| {
            // Cells are as wide as their text: find where column `left`
            // starts.
            let mut x = 0;
            let mut out = Vec::new();
            for c in row {
                if x >= left && x < left + cols {
                    out.push(c.clone());
                }
                x += c
                    .text
                    .chars()
                    .next()
                    .map(|ch| ch.to_string().width())
                    .unwrap_or(1)
                    .max(1);
            }
            out
        })
        .collect()
}

/// Where two screens differ, at most `most` of them, and how many cells
/// were compared.
pub fn differences(
    ours: &[Vec<Cell>],
    theirs: &[Vec<Cell>],
    most: usize,
) -> (Vec<String>, usize, usize) {
    let mut report = Vec::new();
    let (mut differ, mut total) = (0, 0);
    for (y, (a, b)) in ours.iter().zip(theirs).enumerate() {
        for (x, (a, b)) in a.iter().zip(b).enumerate() {
            total += 1;
            if a.seen() != b.seen() {
                differ += 1;
                if report.len() < most {
                    report.push(format!(
                        "row {y} cell {x}: bb {:?}, tmux {:?}",
                        a.seen(),
                        b.seen()
                    ));
                }
            }
        }
        if a.len() != b.len() {
            differ += a.len().abs_diff(b.len());
            report.push(format!(
                "row {y}: bb has {} cells, tmux {}",
                a.len(),
                b.len()
            ));
        }
    }
    (report, differ, total)
}

/// Wide characters and the sequences that join or present them, as the
/// pane fidelity tests compare them with tmux: CJK and
/// fullwidth letters, combining marks, VS15 and VS16, keycaps, skin tones,
/// ZWJ families and professions, flags (regional pairs and tag
/// sequences), and wide characters cut at the edge or half overwritten.
pub fn wide_stream() -> String {
    [
        "宽字 and ＡＢ fullwidth, e\u{301} combining, a\u{308}\u{304} two marks",
        "\u{2764}\u{fe0f} heart VS16, \u{2764}\u{fe0e} heart VS15, \u{263a}\u{fe0f} smile VS16, \u{1f600}\u{fe0e} grin VS15",
        "1\u{fe0f}\u{20e3} keycap, #\u{fe0f}\u{20e3} hash, *\u{20e3} bare keycap",
        "\u{1f44d} thumbs, \u{1f44d}\u{1f3fd} toned, \u{1f44b}\u{1f3ff} wave dark",
        "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}\u{200d}\u{1f466} family, \u{1f469}\u{200d}\u{1f4bb} coder, \u{1f3f3}\u{fe0f}\u{200d}\u{1f308} rainbow",
        "\u{1f1eb}\u{1f1f7} France \u{1f1ef}\u{1f1f5} Japan \u{1f1fa} lone, \u{1f3f4}\u{e0067}\u{e0062}\u{e0073}\u{e0063}\u{e0074}\u{e007f} Scotland",
        // A wide character on the last column wraps whole.
        &format!("{}宽字", "x".repeat(79)),
        // Overwrite the right half, then the left half, of wide ones.
        "宽宽宽宽\x1b[3Dr\x1b[3GL end",
        // Inserting before a wide character. (Not compared: deleting the
        // first half of one, where tmux's padding cells then blank the
        // wide character before it.)
        "中文\x1b[1G\x1b[1@i inserted, 中文 kept",
        "ok",
    ]
    .join("\r\n")
        + "\r\n"
}
