//! The focused agent's pane: its live terminal, or what is happening to
//! its bottle.

use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use crate::session::{SessionId, Term};
use crate::tui::app::{App, Phase};
use crate::tui::keymap::Action;

pub fn render(f: &mut Frame, app: &App, pane: Rect, inner: Rect) {
    let title_area = Rect::new(pane.x, pane.y, pane.width, pane.height.min(1));
    let title_style = Style::default().bg(Color::DarkGray).fg(Color::White);
    let Some(entry) = app.focused() else {
        f.render_widget(Paragraph::new(" bb").style(title_style), title_area);
        welcome(f, app, inner);
        return;
    };
    let mut title = format!(
        " {} · {} · {} · {} · {}",
        entry.agent,
        entry.state().label(),
        entry.bottle,
        entry.place().short(),
        entry.slug
    );
    let mut right = String::new();
    if let Some(s) = &entry.session {
        let t = s.term.lock();
        if t.scroll_offset() > 0 {
            right = format!("[history {}/{}] ", t.scroll_offset(), t.history_len());
        }
    }
    if app.scroll.is_some() {
        right = format!("[scroll mode] {right}");
    }
    if app.zoom {
        right.push_str("[zoom] ");
    }
    let room = (pane.width as usize).saturating_sub(right.chars().count() + 1);
    if title.chars().count() > room {
        title = title
            .chars()
            .take(room.saturating_sub(1))
            .collect::<String>()
            + "…";
    }
    let pad = (pane.width as usize).saturating_sub(title.chars().count() + right.chars().count());
    f.render_widget(
        Paragraph::new(format!("{title}{}{right}", " ".repeat(pad))).style(title_style),
        title_area,
    );

    match (&entry.phase, &entry.session) {
        (Phase::Running | Phase::Exited(_), Some(s)) => {
            let term = s.term.lock();
            f.render_widget(&term.view(), inner);
            if let Some(mode) = app.scroll {
                highlight_rows(f, app, inner, mode, &term);
            }
            let cursor = live(app).and_then(|_| program_cursor(&term, inner));
            drop(term);
            if let Some(at) = cursor {
                f.set_cursor_position(at);
            }
            if let Phase::Exited(code) = entry.phase {
                // The session may end without the code; the engine knows it.
                let down = entry.active.as_ref().and_then(|a| a.down.as_deref());
                let exited = match (code, down) {
                    (Some(c), _) => format!("the agent exited (code {c})"),
                    (None, Some(down)) => crate::shown::shown(down).into_owned(),
                    (None, None) => "the agent exited".into(),
                };
                let bar = Rect::new(
                    inner.x,
                    inner.y + inner.height.saturating_sub(1),
                    inner.width,
                    1.min(inner.height),
                );
                f.render_widget(
                    Paragraph::new(format!(
                        " {exited} · Enter: start it again, continuing its conversation · x: stop the bottle"
                    ))
                    .style(Style::default().bg(Color::Yellow).fg(Color::Black)),
                    bar,
                );
            }
        }
        (phase, _) => {
            let mut lines: Vec<Line> = entry.log.iter().map(|l| Line::from(l.as_str())).collect();
            match phase {
                Phase::Launching => lines.push(Line::from(Span::styled(
                    format!("… {}:{:02}", entry.launch_secs / 60, entry.launch_secs % 60),
                    Style::default().fg(Color::DarkGray),
                ))),
                Phase::Failed(why) => {
                    lines.push(Line::from(""));
                    // A bottle that exists failed to give a session; a
                    // launch that failed left nothing behind.
                    let (what, next) = match entry.active {
                        Some(_) => ("failed", "x: stop the bottle (asks first)".to_string()),
                        None => (
                            "launch failed",
                            format!(
                                "x: dismiss · {}: try again after fixing it",
                                app.config.keymap.chord(Action::NewAgent)
                            ),
                        ),
                    };
                    lines.push(Line::from(Span::styled(
                        format!("{what}: {why}"),
                        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
                    )));
                    lines.push(Line::from(next));
                }
                Phase::Detached | Phase::Exited(_) => {
                    let restart = app.config.keymap.chord(Action::Restart);
                    if entry.phase == Phase::Detached {
                        lines.push(Line::from(format!(
                            "bottle {} is running without a session here.",
                            entry.slug
                        )));
                    } else {
                        lines.push(Line::from(format!(
                            "the agent in {} is not running.",
                            entry.slug
                        )));
                    }
                    // Why a part is down, and what that costs the agent.
                    if let Some(down) = entry.active.as_ref().and_then(|a| a.down.as_deref()) {
                        lines.push(Line::from(Span::styled(
                            down.to_string(),
                            Style::default().fg(Color::Red),
                        )));
                    }
                    if entry
                        .active
                        .as_ref()
                        .is_some_and(|a| a.state == crate::backend::BottleState::BundleDown)
                    {
                        lines.push(Line::from(Span::styled(
                            "no egress, no git gate, no proposals until it restarts (the agent restarts with it, continuing its conversation)",
                            Style::default().fg(Color::Red),
                        )));
                    }
                    lines.push(Line::from(match entry.active.as_ref().and_then(|a| a.down.as_ref()) {
                        Some(_) => format!(
                            "Enter or {restart}: restart it and attach (its work and conversation are kept) · x: stop the bottle"
                        ),
                        None => "Enter: attach · x: stop the bottle".to_string(),
                    }));
                }
                Phase::Stopping => lines.push(Line::from(format!("stopping {}…", entry.slug))),
                Phase::Unreachable => lines.push(Line::from(format!(
                    "bottle {} cannot be reached; x stops it, or takes its row away if it is gone",
                    entry.slug
                ))),
                Phase::Running => {}
            }
            // The latest lines are what matter while a build runs.
            let w = inner.width.max(1) as usize;
            let total = lines
                .iter()
                .map(|l| l.width().div_ceil(w).max(1))
                .sum::<usize>() as u16;
            let para = Paragraph::new(lines).wrap(Wrap { trim: false });
            let skip = total.saturating_sub(inner.height);
            f.render_widget(para.scroll((skip, 0)), inner);
        }
    }
}

/// The focused session's pane, while it shows nothing but the program's
/// screen (no modal, scroll mode or exit bar over it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Live {
    pub session: SessionId,
    /// Where its screen is drawn.
    pub area: Rect,
}

/// The pane as [`Live`], if it is: a frame may then redraw only the rows
/// the program changed (scrolled back, the whole frame draws).
pub fn live(app: &App) -> Option<Live> {
    if app.modal.is_some() || app.scroll.is_some() {
        return None;
    }
    let entry = app.focused().filter(|e| e.phase == Phase::Running)?;
    let session = entry.session.as_ref()?;
    Some(Live {
        session: session.id,
        area: super::layout::layout(app.area, app.sidebar, app.zoom).pane_inner,
    })
}

/// Where the outer terminal's cursor goes: the focused program's, when
/// its pane is live and it shows one.
pub fn cursor(app: &App) -> Option<Position> {
    let live = live(app)?;
    let session = app.focused()?.session.as_ref()?;
    let term = session.term.lock();
    program_cursor(&term, live.area)
}

/// The program's cursor on the live screen drawn at `inner`.
pub fn program_cursor(term: &Term, inner: Rect) -> Option<Position> {
    if term.scroll_offset() != 0 || term.hides_cursor() {
        return None;
    }
    let (row, col) = term.cursor_position();
    (row < inner.height && col < inner.width).then(|| Position::new(inner.x + col, inner.y + row))
}

fn highlight_rows(
    f: &mut Frame,
    app: &App,
    inner: Rect,
    mode: crate::tui::app::ScrollMode,
    term: &crate::session::Term,
) {
    let top_abs = term.history_len() - term.scroll_offset();
    let cursor_abs = top_abs + mode.cursor as usize;
    let (from, to) = match mode.anchor {
        Some(a) => (a.min(cursor_abs), a.max(cursor_abs)),
        None => (cursor_abs, cursor_abs),
    };
    let buf = f.buffer_mut();
    for row in 0..inner.height {
        let abs = top_abs + row as usize;
        if abs < from || abs > to {
            continue;
        }
        for col in 0..inner.width {
            if let Some(cell) = buf.cell_mut((inner.x + col, inner.y + row)) {
                cell.set_style(Style::default().add_modifier(Modifier::REVERSED));
            }
        }
    }
    let _ = app;
}

fn welcome(f: &mut Frame, app: &App, inner: Rect) {
    let km = &app.config.keymap;
    let mut lines = vec![
        Line::from(""),
        Line::from(Span::styled(
            "No agent is running here yet.",
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Line::from(""),
    ];
    // An engine that does not answer may hold bottles: never say "none"
    // without saying so.
    for (place, why) in &app.unreachable {
        lines.push(Line::from(Span::styled(
            crate::shown::shown(&format!(
                "{place} does not answer: {why}; its bottles show when it does"
            ))
            .into_owned(),
            Style::default().fg(Color::Yellow),
        )));
    }
    if !app.unreachable.is_empty() {
        lines.push(Line::from(""));
    }
    lines.extend([
        Line::from(format!("{:<8} start an agent", km.chord(Action::NewAgent))),
        Line::from(format!("{:<8} every key", km.chord(Action::Help))),
        Line::from(format!(
            "{:<8} leave (bottles keep running)",
            km.chord(Action::Leave)
        )),
    ]);
    // Left-aligned, as a block in the middle of the pane.
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(0) as u16;
    let h = lines.len() as u16;
    let area = super::modals::centered(inner, w, h);
    f.render_widget(Paragraph::new(lines), area);
}
