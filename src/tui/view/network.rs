//! Drawing the network view: one row per request, newest at the bottom;
//! refusals in red with the rule and the reason.

use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::modals::{centered, frame};
use crate::audit::{self, Decision, Record};
use crate::shown::shown;
use crate::tui::modal::NetworkView;

pub fn render(f: &mut Frame, v: &NetworkView) {
    let full = f.area();
    let area = centered(
        full,
        full.width.saturating_sub(4).min(140),
        full.height.saturating_sub(2),
    );
    let inner = frame(f, area, &format!("Network · {} ({})", v.agent, v.slug));
    if inner.height == 0 {
        return;
    }
    let shown = v.shown();
    let filter = match (v.host_filter.is_empty(), v.typing) {
        (_, true) => format!(" · host: {}_", v.host_filter),
        (false, false) => format!(" · host: {}", v.host_filter),
        (true, false) => String::new(),
    };
    let head = format!(
        "{}{filter} · {} of {} requests",
        if v.blocked_only {
            "refused only"
        } else {
            "all requests"
        },
        shown.len(),
        v.records.len()
    );
    let mut lines = vec![Line::from(Span::styled(
        head,
        Style::default().fg(Color::DarkGray),
    ))];
    let rows = inner.height.saturating_sub(1) as usize;
    if shown.is_empty() {
        lines.push(Line::from(Span::styled(
            if v.records.is_empty() {
                " no requests yet"
            } else {
                " none match"
            },
            Style::default().fg(Color::DarkGray),
        )));
    }
    let selected = v.selected_index().unwrap_or(0);
    // The window ends at the selected row when it is near the end.
    let start = (selected + 1).saturating_sub(rows);
    for (i, r) in shown.iter().enumerate().skip(start).take(rows) {
        lines.push(row(r, i == selected, inner.width as usize));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn row(r: &Record, selected: bool, width: usize) -> Line<'static> {
    let base = if selected {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    };
    let secs = i64::try_from(r.time_ms / 1000).unwrap_or(0);
    let stamp = crate::state::rfc3339(secs);
    let time = stamp.get(11..19).unwrap_or(&stamp).to_string();
    let verdict = match r.decision {
        Decision::Blocked => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
        Decision::Allowed => Style::default().fg(Color::Green),
        Decision::Failed => Style::default().fg(Color::Yellow),
        _ => Style::default().fg(Color::Gray),
    };
    let mut spans = vec![
        Span::styled(format!(" {time} "), base.fg(Color::DarkGray)),
        Span::styled(format!("{:<9}", r.decision), base.patch(verdict)),
        Span::styled(format!("{:<7} ", shown(&r.method)), base),
        Span::styled(
            shown(&format!("{}{}", r.host, r.path)).into_owned(),
            base.add_modifier(Modifier::BOLD),
        ),
    ];
    if let Some(rule) = &r.rule {
        spans.push(Span::styled(
            shown(&format!("  [{rule}] {}", audit::reason(rule))).into_owned(),
            base.fg(Color::Red),
        ));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    if used < width {
        spans.push(Span::styled(" ".repeat(width - used), base));
    }
    Line::from(spans)
}
