//! The emulator façade: answers, history and reflow.

use super::*;

#[test]
fn curses_boxes_are_drawn_with_lines() {
    let mut t = Term::new(3, 10, 0);
    t.feed(b"\x1b(0lqqk\r\nx");
    t.feed(b"  x\x1b(B ok\r\nmqqj");
    assert_eq!(t.text(), "┌──┐\n│  │ ok\nmqqj");
}

#[test]
fn the_terminal_says_its_name_and_size() {
    let mut t = Term::new(24, 80, 0);
    let name = String::from_utf8(t.feed(b"\x1b[>q")).unwrap();
    assert!(
        name.starts_with("\x1bP>|bb ") && name.ends_with("\x1b\\"),
        "{name:?}"
    );
    assert_eq!(t.feed(b"\x1b[18t"), b"\x1b[8;24;80t");
}

#[test]
fn underline_colour_leaves_the_other_attributes_alone() {
    let mut t = Term::new(2, 10, 0);
    t.feed(b"\x1b[31;58;2;1;3;7mX");
    let cell = &t.term.grid()[Line(0)][Column(0)];
    assert_eq!(
        cell.fg,
        alacritty_terminal::vte::ansi::Color::Named(alacritty_terminal::vte::ansi::NamedColor::Red)
    );
    assert!(!cell
        .flags
        .intersects(Flags::BOLD | Flags::ITALIC | Flags::INVERSE));
}

#[test]
fn lines_across_history_and_screen_read_as_text_and_keep_the_view() {
    let mut t = Term::new(3, 20, 100);
    for i in 0..6 {
        t.feed(format!("line {i}\r\n").as_bytes());
    }
    // 4 lines went to history, "line 4", "line 5" and "" are live.
    assert_eq!(t.history_len(), 4);
    t.scroll_by(2);
    assert_eq!(t.lines_text(2, 5), "line 2\nline 3\nline 4\nline 5");
    assert_eq!(t.scroll_offset(), 2, "the view is where it was");
}

#[test]
fn answers_cursor_position_and_device_attribute_queries() {
    let mut t = Term::new(24, 80, 100);
    assert!(t.feed(b"hello").is_empty());
    assert_eq!(t.feed(b"\x1b[6n"), b"\x1b[1;6R");
    assert_eq!(t.feed(b"\x1b[c"), b"\x1b[?62;22c");
    assert_eq!(t.feed(b"\x1b[>c"), b"\x1b[>1;10;0c");
    assert!(t.feed(b"\x1b[?u").is_empty(), "no kitty keyboard protocol");
    assert_eq!(t.feed(b"\x1b]11;?\x07"), b"\x1b]11;rgb:0000/0000/0000\x07");
    // A query split across reads is still answered.
    assert!(t.feed(b"\x1b[").is_empty());
    assert_eq!(t.feed(b"6n"), b"\x1b[1;6R");
}

#[test]
fn keeps_history_pushed_out_of_a_top_aligned_scroll_region() {
    // Codex's inline renderer: a scroll region from the top, then
    // reverse index / newline to push finished lines up.
    let mut t = Term::new(5, 20, 100);
    t.feed(b"\x1b[1;3r");
    for i in 0..10 {
        t.feed(format!("\x1b[3;1Hline{i}\n").as_bytes());
    }
    assert!(t.history_len() >= 5, "history: {}", t.history_len());
    t.scroll_to_top();
    assert!(t.text().contains("line0"), "{}", t.text());
}

#[test]
fn scrolls_back_and_returns_to_live() {
    let mut t = Term::new(3, 10, 100);
    for i in 0..10 {
        t.feed(format!("l{i}\r\n").as_bytes());
    }
    assert!(t.text().contains("l9"));
    t.scroll_by(5);
    assert_eq!(t.scroll_offset(), 5);
    assert!(t.text().contains("l4"), "{}", t.text());
    t.scroll_to_live();
    assert_eq!(t.scroll_offset(), 0);
}

#[test]
fn same_size_resize_is_a_no_op() {
    let mut t = Term::new(24, 80, 0);
    assert!(!t.resize(24, 80));
    assert!(t.resize(30, 100));
    assert_eq!(t.size(), (30, 100));
}

#[test]
fn records_osc52_copies() {
    let mut t = Term::new(24, 80, 0);
    t.feed(b"\x1b]52;c;aGVsbG8=\x07");
    assert_eq!(t.take_clipboard().as_deref(), Some("hello"));
}

/// Zooming a pane and back (or hiding the sidebar) never cuts a line:
/// lines reflow to the narrower width and back.
#[test]
fn narrowing_and_widening_keeps_lines_whole() {
    let mut t = Term::new(10, 109, 100);
    let long: String = (0..109)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    t.feed(format!("{long}\r\nshort\r\n").as_bytes());
    assert!(t.resize(10, 90));
    let all = |t: &mut Term| {
        let last = t.history_len() + 9;
        t.lines_text(0, last)
    };
    let narrow = all(&mut t);
    assert!(
        narrow.contains(&format!("{}\n{}", &long[..90], &long[90..])),
        "{narrow}"
    );
    assert!(t.resize(10, 109));
    assert!(t.text().contains(&long), "{}", t.text());
    // Through history as well.
    let mut t = Term::new(3, 40, 100);
    for i in 0..10 {
        t.feed(format!("{i} {}\r\n", "x".repeat(36)).as_bytes());
    }
    t.resize(3, 20);
    t.resize(3, 40);
    let all = t.lines_text(0, t.history_len() + 2);
    assert!(all.contains(&format!("0 {}", "x".repeat(36))), "{all}");
}

/// As the reference terminal lays it out: the width of its base.
#[test]
fn an_emoji_with_vs16_takes_the_cells_of_its_base() {
    let mut t = Term::new(2, 10, 0);
    t.feed("\u{2764}\u{fe0f}x".as_bytes());
    assert_eq!(t.cursor_position(), (0, 2));
}

/// Past the lines the emulator keeps itself, history goes on in the
/// compact store: every line is still there, in order, and scrolls.
#[test]
fn history_past_what_the_emulator_keeps_reads_and_scrolls_whole() {
    let mut t = Term::new(5, 20, 5000);
    let text: String = (0..3000).map(|i| format!("line {i}\r\n")).collect();
    // One large read, then small ones.
    t.feed(&text.as_bytes()[..text.len() / 2]);
    for chunk in text.as_bytes()[text.len() / 2..].chunks(7) {
        t.feed(chunk);
    }
    assert!(t.term.grid().history_size() <= HOT_LIMIT);
    assert_eq!(t.history_len(), 2996);
    let all = t.lines_text(0, t.history_len() + 4);
    let want: Vec<String> = (0..3000).map(|i| format!("line {i}")).collect();
    assert_eq!(all.trim_end(), want.join("\n"));
    t.scroll_to_top();
    assert!(t.text().starts_with("line 0\nline 1"), "{}", t.text());
    // The drawing shows the same rows.
    assert_eq!(drawn(&t)[(5, 0)].symbol(), "0");
}

#[test]
fn old_history_keeps_colours_and_reflows_with_the_pane() {
    let mut t = Term::new(4, 30, 5000);
    let long: String = (0..50).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    t.feed(format!("\x1b[31mred\x1b[m {long}\r\n").as_bytes());
    for i in 0..2000 {
        t.feed(format!("filler {i}\r\n").as_bytes());
    }
    // The first line is in the compact store now, wrapped at 30.
    assert_eq!(
        t.lines_text(0, 1),
        format!("red {}\n{}", &long[..26], &long[26..])
    );
    t.scroll_to_top();
    assert_eq!(drawn(&t)[(0, 0)].fg, ratatui::style::Color::Indexed(1));
    assert!(t.resize(4, 60));
    assert_eq!(t.lines_text(0, 0), format!("red {long}"));
    assert!(t.resize(4, 20));
    assert_eq!(t.lines_text(0, 0), format!("red {}", &long[..16]));
    let all = t.lines_text(0, t.history_len() + 3);
    for i in (0..2000).step_by(97) {
        assert!(all.contains(&format!("filler {i}\n")), "filler {i} lost");
    }
}

#[test]
fn a_view_scrolled_back_stays_put_while_output_goes_on_and_clearing_clears_all() {
    let mut t = Term::new(3, 20, 5000);
    for i in 0..1500 {
        t.feed(format!("a{i}\r\n").as_bytes());
    }
    t.scroll_by(1000);
    let shown = t.text();
    for i in 0..1500 {
        t.feed(format!("b{i}\r\n").as_bytes());
    }
    assert_eq!(t.text(), shown, "the view moved");
    t.feed(b"\x1b[3J");
    assert_eq!(t.history_len(), 0);
    assert_eq!(t.scroll_offset(), 0);
}

#[test]
fn history_is_capped_at_the_scrollback_keeping_the_newest() {
    let mut t = Term::new(3, 20, 1500);
    for i in 0..5000 {
        t.feed(format!("l{i}\r\n").as_bytes());
    }
    let len = t.history_len();
    assert!((1500 - 256..=1500).contains(&len), "{len}");
    assert_eq!(t.lines_text(len - 1, len - 1), "l4997");
}

/// The view drawn into a buffer of the terminal's size.
fn drawn(t: &Term) -> ratatui::buffer::Buffer {
    use ratatui::widgets::Widget;
    let (rows, cols) = (t.term.grid().screen_lines(), t.term.grid().columns());
    let area = ratatui::layout::Rect::new(0, 0, cols as u16, rows as u16);
    let mut buf = ratatui::buffer::Buffer::empty(area);
    (&t.view()).render(area, &mut buf);
    buf
}

/// Every cell of the pane's area is written: blank cells, those past the
/// program's size and those under what was there before are reset, and
/// everything else is drawn, spaces with a colour too.
#[test]
fn blank_cells_are_reset_and_coloured_spaces_are_drawn() {
    use ratatui::widgets::Widget;
    let mut t = Term::new(2, 6, 0);
    t.feed(b"a\x1b[41m  \x1b[m");
    let area = ratatui::layout::Rect::new(0, 0, 8, 3);
    let mut buf = ratatui::buffer::Buffer::filled(
        area,
        ratatui::buffer::Cell::new("#")
            .set_fg(ratatui::style::Color::Red)
            .clone(),
    );
    (&t.view()).render(area, &mut buf);
    assert_eq!(buf[(0, 0)].symbol(), "a");
    assert_eq!(buf[(1, 0)].bg, ratatui::style::Color::Indexed(1));
    assert_eq!(buf[(2, 0)].bg, ratatui::style::Color::Indexed(1));
    for (x, y) in [(3, 0), (0, 1), (6, 0), (7, 1), (0, 2)] {
        assert_eq!(buf[(x, y)], ratatui::buffer::Cell::EMPTY, "({x}, {y})");
    }
}
