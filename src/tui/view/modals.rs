//! Drawing the modals over the workspace.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::shown::{shown, shown_lines};
use crate::tui::app::App;
use crate::tui::modal::Modal;

/// A rectangle `w` x `h` (clamped) in the middle of `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub fn frame(f: &mut Frame, area: Rect, title: &str) -> Rect {
    f.render_widget(Clear, area);
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" {title} "),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    let inner = block.inner(area);
    f.render_widget(block, area);
    inner
}

pub fn render(f: &mut Frame, app: &App, modal: &Modal) {
    let full = f.area();
    match modal {
        Modal::Network(v) => super::network::render(f, v),
        Modal::Review(v) => super::review::render(f, v),
        Modal::Picker(p) => {
            let visible = p.visible();
            // Never more than the screen holds, however small it is.
            let h = (visible.len() as u16 + 4)
                .max(6)
                .min(full.height.saturating_sub(2));
            let area = centered(full, 64.min(full.width.saturating_sub(4)).max(30), h);
            let inner = frame(f, area, "New agent");
            let mut lines = vec![Line::from(vec![
                Span::styled("filter: ", Style::default().fg(Color::DarkGray)),
                Span::raw(format!("{}_", p.filter)),
            ])];
            if visible.is_empty() {
                lines.push(Line::from(Span::styled(
                    "  no agent matches",
                    Style::default().fg(Color::DarkGray),
                )));
            }
            let rows = inner.height.saturating_sub(1) as usize;
            let start = p.selected.saturating_sub(rows.saturating_sub(1));
            for (i, item) in visible.iter().enumerate().skip(start).take(rows) {
                let running = if item.running > 0 {
                    format!(" ({} running)", item.running)
                } else {
                    String::new()
                };
                let style = if i == p.selected {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                lines.push(Line::from(vec![
                    Span::styled(
                        format!(" {}{running}", item.name),
                        style.add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(format!("  {}", item.detail), style.fg(Color::Gray)),
                ]));
            }
            f.render_widget(Paragraph::new(lines), inner);
        }
        Modal::Backend(c) => {
            let area = centered(full, 48, c.options.len() as u16 + 4);
            let inner = frame(f, area, "Backend");
            let mut lines = vec![Line::from(format!("Run {} with:", c.agent))];
            for (i, k) in c.options.iter().enumerate() {
                let style = if i == c.selected {
                    Style::default().add_modifier(Modifier::REVERSED)
                } else {
                    Style::default()
                };
                lines.push(Line::from(Span::styled(format!(" {k}"), style)));
            }
            f.render_widget(Paragraph::new(lines), inner);
        }
        Modal::Preflight(p) => {
            let area = centered(
                full,
                full.width.saturating_sub(4).min(110),
                full.height.saturating_sub(2),
            );
            let inner = frame(f, area, &format!("Launch {}? y/N", p.plan.agent));
            let lines: Vec<Line> = p
                .lines
                .iter()
                .map(|l| {
                    if l.starts_with("cannot launch") || l.contains("MISSING") {
                        Line::from(Span::styled(l.as_str(), Style::default().fg(Color::Red)))
                    } else {
                        Line::from(l.as_str())
                    }
                })
                .collect();
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .scroll((p.scroll, 0)),
                inner,
            );
        }
        Modal::Clipboard(ask) => {
            let area = centered(
                full,
                full.width.saturating_sub(4).min(100),
                full.height.saturating_sub(2).min(20),
            );
            let inner = frame(
                f,
                area,
                &format!("{} asks to set your clipboard", ask.agent),
            );
            let chars = ask.text.chars().count();
            let mut text = vec![
                Line::from(Span::styled(
                    format!(
                        "It would put these {chars} characters where your next paste comes from:"
                    ),
                    Style::default().fg(Color::Yellow),
                )),
                Line::from(""),
            ];
            // Every line as it is, control characters shown, so nothing
            // hides in it; what does not fit is counted.
            let room = usize::from(inner.height.saturating_sub(3));
            let all: Vec<_> = shown_lines(&ask.text).collect();
            for l in all.iter().take(room) {
                text.push(Line::from(Span::styled(
                    l.clone().into_owned(),
                    Style::default().add_modifier(Modifier::BOLD),
                )));
            }
            if all.len() > room {
                text.push(Line::from(Span::styled(
                    format!("… and {} more lines", all.len() - room),
                    Style::default().fg(Color::DarkGray),
                )));
            }
            f.render_widget(Paragraph::new(text), inner);
        }
        Modal::ConfirmStop { slug, agent } => {
            let area = centered(full, 60, 6);
            let inner = frame(f, area, "Stop bottle?");
            let text = vec![
                Line::from(format!("Stop {agent} ({slug})?")),
                Line::from("Its session ends and its containers and networks are removed."),
                Line::from(""),
                Line::from(Span::styled(
                    "y stop · n keep",
                    Style::default().fg(Color::Yellow),
                )),
            ];
            f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
        }
        Modal::Ask(a) => {
            let area = centered(full, 70, 6);
            let inner = frame(f, area, &format!("Launch {}", a.plan.agent));
            let (name, question) = a.questions.first().cloned().unwrap_or_default();
            let text = vec![
                Line::from(question),
                Line::from(Span::styled(
                    format!("(env {name})"),
                    Style::default().fg(Color::DarkGray),
                )),
                Line::from(""),
                Line::from(format!("> {}_", a.input)),
            ];
            f.render_widget(Paragraph::new(text).wrap(Wrap { trim: false }), inner);
        }
        Modal::Help { scroll } => {
            let lines = super::help::lines(&app.config.keymap);
            let area = centered(full, 84, lines.len() as u16 + 2);
            let inner = frame(f, area, "Keys");
            let text: Vec<Line> = lines
                .iter()
                .skip(*scroll as usize)
                .map(|l| Line::from(l.as_str()))
                .collect();
            f.render_widget(Paragraph::new(text), inner);
        }
        Modal::Proposal(m) => {
            let area = centered(
                full,
                full.width.saturating_sub(4).min(100),
                full.height.saturating_sub(2).min(30),
            );
            let p = &m.proposal;
            let inner = frame(f, area, &format!("Proposal from {}", p.agent));
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("bottle  ", Style::default().fg(Color::DarkGray)),
                    Span::raw(shown(&p.slug).into_owned()),
                ]),
                Line::from(vec![
                    Span::styled("asks    ", Style::default().fg(Color::DarkGray)),
                    Span::raw(shown(&p.request.summary()).into_owned()),
                ]),
            ];
            // The agent's words, each line shown as it was sent.
            for (i, l) in shown_lines(&p.reason).enumerate() {
                let label = if i == 0 { "why     " } else { "        " };
                lines.push(Line::from(vec![
                    Span::styled(label, Style::default().fg(Color::DarkGray)),
                    Span::raw(l.into_owned()),
                ]));
            }
            lines.push(Line::from(""));
            for l in m.diff.iter().skip(m.scroll as usize) {
                let style = match l.chars().next() {
                    Some('+') => Style::default().fg(Color::Green),
                    Some('-') => Style::default().fg(Color::Red),
                    Some('!') => Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                    _ => Style::default(),
                };
                lines.push(Line::from(Span::styled(shown(l).into_owned(), style)));
            }
            if let Some(reason) = &m.reason {
                lines.push(Line::from(""));
                lines.push(Line::from(vec![
                    Span::styled("reason for rejecting: ", Style::default().fg(Color::Yellow)),
                    Span::raw(format!("{reason}_")),
                ]));
            }
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
    }
}
