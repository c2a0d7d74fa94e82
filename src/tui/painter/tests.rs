//! Frames of changed rows leave the outer terminal exactly as a whole
//! frame would: both are written to files, read by a terminal emulator
//! and compared cell by cell.

use std::fs::File;
use std::io::{Read, Seek};

use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::widgets::Widget;
use ratatui::{Terminal, TerminalOptions, Viewport};

use super::{Drawn, Painter};
use crate::session::Term;
use crate::tui::app::App;
use crate::tui::frame_output::FrameOutput;
use crate::tui::modal::Modal;
use crate::tui::view::tests as view_tests;

const W: u16 = 100;
const H: u16 = 30;

/// A painter writing to a file, and the file to read it back.
fn painter() -> (Painter, File) {
    let file = tempfile::tempfile().unwrap();
    let out = FrameOutput::to(file.try_clone().unwrap());
    let term = Terminal::with_options(
        CrosstermBackend::new(out),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, W, H)),
        },
    )
    .unwrap();
    (Painter::new(term), file)
}

/// The outer terminal after everything written to `file`: bb's pane
/// emulator (alacritty) stands in for it.
fn screen(file: &mut File) -> Term {
    let mut bytes = Vec::new();
    file.rewind().unwrap();
    file.read_to_end(&mut bytes).unwrap();
    let mut t = Term::new(H, W, 0);
    let _ = t.feed(&bytes);
    t
}

fn written(file: &File) -> u64 {
    file.metadata().unwrap().len()
}

/// Differences between two screens: cells and the cursor.
fn differences(a: &Term, b: &Term) -> Vec<String> {
    let cells = |t: &Term| {
        let mut buf = Buffer::empty(Rect::new(0, 0, W, H));
        (&t.view()).render(buf.area, &mut buf);
        buf
    };
    let (x, y) = (cells(a), cells(b));
    let mut out: Vec<String> = x
        .content
        .iter()
        .zip(&y.content)
        .enumerate()
        .filter(|(_, (p, q))| p != q)
        .map(|(i, (p, q))| format!("{:?}: {p:?} vs {q:?}", x.pos_of(i)))
        .collect();
    // Where a hidden cursor is does not show.
    let cursor = |t: &Term| (!t.hides_cursor()).then(|| t.cursor_position());
    if cursor(a) != cursor(b) || a.hides_cursor() != b.hides_cursor() {
        out.push(format!(
            "cursor {:?} hidden {} vs {:?} hidden {}",
            a.cursor_position(),
            a.hides_cursor(),
            b.cursor_position(),
            b.hides_cursor()
        ));
    }
    out
}

fn running() -> App {
    view_tests::running(W, H, "$ ")
}

fn feed(a: &App, bytes: &str) {
    let s = a.entries[0].session.as_ref().unwrap();
    let _ = s.term.lock().feed(bytes.as_bytes());
}

/// What a whole frame of `a` shows, on a terminal of its own.
fn whole(a: &App) -> Term {
    let (mut p, mut file) = painter();
    assert_eq!(p.frame(a, true).unwrap(), Drawn::Whole);
    screen(&mut file)
}

#[test]
fn rows_drawn_alone_leave_the_screen_a_whole_frame_would() {
    let a = running();
    let (mut p, mut file) = painter();
    assert_eq!(p.frame(&a, true).unwrap(), Drawn::Whole);
    let steps = [
        // A key's echo, then its line's answer.
        "l",
        "s",
        "\r\nfile-one  \x1b[1;34mdir\x1b[0m  \x1b[38;2;255;0;0mred\x1b[0m\r\n$ ",
        // Wide and joined characters, then overwritten by narrower text.
        "日本語 👍🏽 e\u{301}",
        "\r\x1b[2K$ plain",
        // Enough lines to scroll the screen: every row changes.
        &(0..40).map(|i| format!("line {i}\r\n")).collect::<String>(),
        // The cursor moved, a line cleared, the cursor hidden and shown.
        "\x1b[5;10Hhere\x1b[3;1H\x1b[K",
        "\x1b[?25l",
        "\x1b[?25h\x1b[7mreversed\x1b[0m",
        // A full-screen program and back.
        "\x1b[?1049h\x1b[H\x1b[2Jfull screen\x1b[10;20Hbox",
        "\x1b[?1049l",
    ];
    for (i, bytes) in steps.iter().enumerate() {
        let before = written(&file);
        feed(&a, bytes);
        assert_eq!(p.frame(&a, false).unwrap(), Drawn::Rows, "step {i}");
        let diff = differences(&screen(&mut file), &whole(&a));
        assert!(diff.is_empty(), "step {i} ({bytes:?}): {diff:#?}");
        if i < 2 {
            // The frame's marks, where the character goes, the character,
            // the cursor: not the frame again.
            let echo = written(&file) - before;
            assert!(echo < 80, "an echo took {echo} bytes");
        }
    }
}

#[test]
fn anything_over_the_pane_or_a_view_scrolled_back_draws_the_whole_frame() {
    let mut a = running();
    let (mut p, mut file) = painter();
    p.frame(&a, true).unwrap();
    a.modal = Some(Modal::Help { scroll: 0 });
    feed(&a, "under the help");
    assert_eq!(p.frame(&a, false).unwrap(), Drawn::Whole);
    a.modal = None;
    p.frame(&a, true).unwrap();
    feed(&a, &"more\r\n".repeat(40));
    a.entries[0]
        .session
        .as_ref()
        .unwrap()
        .term
        .lock()
        .scroll_by(3);
    assert_eq!(p.frame(&a, false).unwrap(), Drawn::Whole);
    let diff = differences(&screen(&mut file), &whole(&a));
    assert!(diff.is_empty(), "{diff:#?}");
    // Another agent focused: its pane is not the one the last frame drew.
    let mut b = running();
    b.entries[0].session.as_mut().unwrap().id = 9;
    assert_eq!(p.frame(&b, false).unwrap(), Drawn::Whole);
}
