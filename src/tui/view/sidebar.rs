//! The left column: agents, then proposals.

use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::layout::Layout;
use crate::shown::shown;
use crate::tui::app::{AgentState, App};

pub fn render(f: &mut Frame, app: &App, l: &Layout) {
    agents(f, app, l.agents);
    proposals(f, app, l.proposals);
}

fn state_style(state: AgentState) -> Style {
    match state {
        AgentState::Working => Style::default().fg(Color::Green),
        AgentState::Waiting | AgentState::Blocked => Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD),
        AgentState::Idle => Style::default().fg(Color::Cyan),
        AgentState::Starting | AgentState::Stopping => Style::default().fg(Color::Yellow),
        AgentState::Failed | AgentState::Unreachable | AgentState::BundleDown => {
            Style::default().fg(Color::Red)
        }
        AgentState::Exited | AgentState::Detached => Style::default().fg(Color::DarkGray),
    }
}

/// Lines each agent takes in the list: its name, then its state.
const ROWS_PER_AGENT: u16 = 2;

fn agents_block(count: usize) -> Block<'static> {
    Block::default()
        .borders(Borders::RIGHT | Borders::BOTTOM)
        .title(format!(" Agents ({count}) "))
}

/// The agent drawn at `pos` of the agents area, if any (for the mouse).
pub fn agent_at(area: Rect, count: usize, pos: Position) -> Option<usize> {
    let inner = agents_block(count).inner(area);
    if !inner.contains(pos) {
        return None;
    }
    let idx = usize::from((pos.y - inner.y) / ROWS_PER_AGENT);
    (idx < count).then_some(idx)
}

fn agents(f: &mut Frame, app: &App, area: Rect) {
    let block = agents_block(app.entries.len());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    if app.entries.is_empty() {
        lines.push(Line::from(Span::styled(
            " none yet",
            Style::default().fg(Color::DarkGray),
        )));
    }
    for (i, e) in app.entries.iter().enumerate() {
        let focused = i == app.focus;
        let mut marks = String::new();
        // It started to need you while you were elsewhere.
        if e.attention && !focused {
            marks.push_str(" *");
        }
        if e.unread && !focused {
            marks.push_str(" •");
        }
        if e.refused > 0 {
            marks.push_str(&format!(" x{}", e.refused.min(999)));
        }
        let pending = app.proposals_for(&e.slug);
        if pending > 0 {
            marks.push_str(&format!(" !{pending}"));
        }
        let num = if i < 9 {
            format!("{}", i + 1)
        } else {
            " ".into()
        };
        let name_room = width.saturating_sub(num.len() + 1 + marks.chars().count());
        let name: String = e.agent.chars().take(name_room).collect();
        let base = if focused {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        let mut first = vec![Span::styled(
            format!("{num} {name}"),
            base.add_modifier(Modifier::BOLD),
        )];
        if !marks.is_empty() {
            first.push(Span::styled(marks, base.fg(Color::Yellow)));
        }
        let used: usize = first.iter().map(|s| s.content.chars().count()).sum();
        first.push(Span::styled(" ".repeat(width.saturating_sub(used)), base));
        // ROWS_PER_AGENT lines: this one and the state below.
        lines.push(Line::from(first));
        // The state first: it is what changes and what people look for.
        let (state, state_style) = (e.state().label(), state_style(e.state()));
        let rest = format!(" · {} · {}", e.bottle, e.place().short());
        let rest: String = rest
            .chars()
            .take(width.saturating_sub(2 + state.len()))
            .collect();
        let used = 2 + state.len() + rest.chars().count();
        lines.push(Line::from(vec![
            Span::styled("  ", base),
            Span::styled(state, base.patch(state_style)),
            Span::styled(rest, base.fg(Color::Gray)),
            Span::styled(" ".repeat(width.saturating_sub(used)), base),
        ]));
    }
    f.render_widget(Paragraph::new(lines), inner);
}

fn proposals(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let block = Block::default()
        .borders(Borders::RIGHT)
        .title(format!(" Proposals ({}) ", app.proposals.len()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = inner.width as usize;
    let lines: Vec<Line> = if app.proposals.is_empty() {
        vec![Line::from(Span::styled(
            " none",
            Style::default().fg(Color::DarkGray),
        ))]
    } else {
        app.proposals
            .iter()
            .map(|p| {
                let text = format!(" {}: {}", p.agent, p.request.summary());
                let text: String = shown(&text).chars().take(width).collect();
                Line::from(Span::styled(text, Style::default().fg(Color::Yellow)))
            })
            .collect()
    };
    f.render_widget(Paragraph::new(lines), inner);
}
