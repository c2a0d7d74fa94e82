//! The review view drawn: the page of the focused agent's work, its diff
//! coloured by sign and by syntax, warnings in yellow. Only the rows on
//! screen are coloured, so a large change opens at once.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::modals::{centered, frame};
use crate::shown::shown;
use crate::tui::modal::review::{ReviewView, Row};

pub fn render(f: &mut Frame, v: &ReviewView) {
    let full = f.area();
    let area = centered(
        full,
        full.width.saturating_sub(2),
        full.height.saturating_sub(2),
    );
    let title = if v.confirming {
        format!("Apply {}'s changes to your files? y/N", v.agent)
    } else {
        format!(
            "Review · {} · {} · {}",
            v.agent,
            v.slug,
            if v.push.is_some() {
                "a held push: q back to approve or reject it"
            } else if v.live {
                "live"
            } else {
                "as last saved, reading the bottle…"
            }
        )
    };
    let inner = frame(f, area, &title);
    v.page.set(usize::from(inner.height).max(1));
    let width = usize::from(inner.width);
    let lines: Vec<Line> = v
        .rows
        .iter()
        .skip(v.scroll)
        .take(v.page.get())
        .map(|row| draw(v, row, width))
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw(v: &ReviewView, row: &Row, width: usize) -> Line<'static> {
    let cut = |s: &str| -> String { shown(s).chars().take(width).collect() };
    match row {
        Row::Title(t) => Line::from(Span::styled(
            cut(t),
            Style::default().add_modifier(Modifier::BOLD),
        )),
        Row::Heading(t) => Line::from(Span::styled(
            cut(t),
            Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        )),
        Row::Text(t) => Line::from(cut(t)),
        Row::Warning(t) => Line::from(Span::styled(
            cut(t),
            Style::default()
                .fg(Color::Yellow)
                .add_modifier(Modifier::BOLD),
        )),
        Row::Diff { file, line } => {
            let path = v.path(*file).unwrap_or("");
            let text = cut(line);
            if line.starts_with("diff --git") {
                return Line::from(Span::styled(
                    text,
                    Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED),
                ));
            }
            if line.starts_with("+++")
                || line.starts_with("---")
                || !line.starts_with(['+', '-', ' ', '@'])
            {
                return Line::from(Span::styled(text, Style::default().fg(Color::DarkGray)));
            }
            if line.starts_with("@@") {
                return Line::from(Span::styled(text, Style::default().fg(Color::Cyan)));
            }
            let (sign, base) = match line.as_bytes()[0] {
                b'+' => ("+", Style::default().bg(Color::Rgb(0, 48, 0))),
                b'-' => ("-", Style::default().bg(Color::Rgb(64, 0, 0))),
                _ => (" ", Style::default()),
            };
            let code: String = text.chars().skip(1).collect();
            let mut spans = vec![Span::styled(sign.to_string(), base)];
            spans.extend(super::highlight::line(path, &code, base));
            Line::from(spans)
        }
    }
}
