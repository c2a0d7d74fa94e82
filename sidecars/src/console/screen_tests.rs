use super::*;

/// Everything a session's terminal would show of `s`, cell by cell: each
/// line of history and screen (text, joined characters, colours,
/// attributes, hyperlinks, how the cell sits in its row), the cursor, its
/// pen and the modes.
fn state(s: &Screen) -> Vec<String> {
    let grid = s.term.grid();
    let mut out = Vec::new();
    let top = -(grid.history_size() as i32);
    for line in top..grid.screen_lines() as i32 {
        let row = &grid[Line(line)];
        let cells: Vec<String> = (0..grid.columns())
            .map(|x| {
                let c = &row[Column(x)];
                format!(
                    "{:?}{:?} {:?}/{:?}/{:?} {:?} {:?}",
                    c.c,
                    c.zerowidth(),
                    c.fg,
                    c.bg,
                    c.underline_color(),
                    c.flags,
                    c.hyperlink()
                )
            })
            .collect();
        out.push(format!("{line}: {}", cells.join(" | ")));
    }
    let cursor = &grid.cursor;
    out.push(format!(
        "cursor {:?} wrap {} pen {:?}/{:?}/{:?}",
        cursor.point,
        cursor.input_needs_wrap,
        cursor.template.fg,
        cursor.template.bg,
        cursor.template.flags
    ));
    out.push(format!(
        "mode {:?} style {:?}",
        *s.term.mode() & !TermMode::VI,
        s.term.cursor_style()
    ));
    out
}

/// Feed `bytes` to a holder of `rows` x `cols`, draw its snapshot on a
/// fresh one of the same size, and compare the two.
fn round_trip(bytes: &[u8], rows: u16, cols: u16) -> (Screen, Screen) {
    let mut held = Screen::new(rows, cols, 100);
    held.feed(bytes);
    let snap = held.snapshot();
    let mut fresh = Screen::new(rows, cols, 100);
    fresh.feed(&snap);
    let (want, got) = (state(&held), state(&fresh));
    assert_eq!(want.len(), got.len(), "lines of history and screen");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "snapshot:\n{}", String::from_utf8_lossy(&snap));
    }
    (held, fresh)
}

#[test]
fn history_and_screen_come_back_cell_for_cell() {
    let mut s = String::new();
    for i in 0..30 {
        s.push_str(&format!("line {i}\r\n"));
    }
    s.push_str("\x1b[1;31mbold red\x1b[m \x1b[2;3;9mdim italic struck\x1b[m\r\n");
    s.push_str("\x1b[38;5;208mindexed\x1b[48;2;10;20;30m rgb on rgb\x1b[m \x1b[7;94;101mbright inverse\x1b[m\r\n");
    s.push_str("\x1b[4:2mdouble\x1b[4:3m curly\x1b[4:4m dotted\x1b[4:5m dashed\x1b[24m \x1b[4munder\x1b[m\r\n");
    // A background erased to the end of the line is not a blank.
    s.push_str("\x1b[44mblue\x1b[K\x1b[m\r\n");
    s.push_str("\x1b]8;id=a;https://example.com\x1b\\link\x1b]8;;\x1b\\ after\r\n");
    s.push_str("prompt> \x1b[32m");
    let (held, _) = round_trip(s.as_bytes(), 6, 40);
    assert!(held.term.grid().history_size() > 20, "history was kept");
}

#[test]
fn wide_and_joined_characters_and_wrapped_lines_come_back() {
    let long = "word ".repeat(20);
    let s = format!(
        "{long}\r\n中文字 e\u{301} 👍🏽 👨\u{200d}👩\u{200d}👧 ✔\u{fe0f}\r\n\
         \u{2764}\u{fe0e} 1\u{fe0f}\u{20e3} \u{1f3f3}\u{fe0f}\u{200d}\u{1f308} \u{1f1eb}\u{1f1f7} 宽宽\x1b[3Dr\r\n\
         0123456789012345678901234567890123456789012345678中\r\n{long}{long}"
    );
    // 50 columns: the last wide character does not fit and wraps.
    let (held, _) = round_trip(s.as_bytes(), 5, 50);
    let grid = held.term.grid();
    assert!(
        (0..grid.history_size()).any(|back| {
            grid[Line(-(back as i32) - 1)][Column(49)]
                .flags
                .contains(Flags::WRAPLINE)
        }),
        "wrapped lines are in the history too"
    );
}

#[test]
fn a_full_screen_program_comes_back_with_its_modes() {
    let s = "shell$ \x1b[?1049h\x1b[2J\x1b[H\x1b[?1h\x1b=\x1b[?2004h\x1b[?1002h\x1b[?1006h\
             \x1b[?1004h\x1b[5 q\x1b[3;5Hediting\x1b[?7l\x1b[?25l\x1b[1;31m";
    let (held, _) = round_trip(s.as_bytes(), 5, 30);
    assert!(held.term.mode().contains(TermMode::ALT_SCREEN));
}

#[test]
fn a_cursor_waiting_to_wrap_still_waits() {
    let (mut held, mut fresh) = round_trip(b"\x1b[5;1H0123456789", 5, 10);
    assert!(held.term.grid().cursor.input_needs_wrap);
    // Its next character starts a new line on both.
    held.feed(b"x");
    fresh.feed(b"x");
    assert_eq!(state(&held), state(&fresh));
}

#[test]
fn a_snapshot_is_drawn_at_a_new_sessions_size() {
    let mut held = Screen::new(5, 40, 100);
    held.feed("a line long enough to wrap at twenty columns\r\n$ ".as_bytes());
    held.resize(6, 20);
    let snap = held.snapshot();
    let mut fresh = Screen::new(6, 20, 100);
    fresh.feed(&snap);
    assert_eq!(state(&held), state(&fresh));
}

#[test]
fn a_cursor_style_is_drawn_only_where_the_program_set_one() {
    let mut held = Screen::new(5, 20, 100);
    held.feed(b"$ ");
    let snap = String::from_utf8(held.snapshot()).unwrap();
    assert!(
        !snap.contains(" q"),
        "the terminal's own style is left: {snap:?}"
    );
    held.feed(b"\x1b[4 q");
    let snap = String::from_utf8(held.snapshot()).unwrap();
    assert!(snap.ends_with("\x1b[4 q"), "{snap:?}");
}
