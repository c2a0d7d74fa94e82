//! The status line and the footer of keys that work now.

use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::tui::app::{App, Phase};
use crate::tui::keymap::{
    mode_hints, Action, ACTIONS, ASK_KEYS, BACKEND_KEYS, CLIPBOARD_KEYS, CONFIRM_APPLY_KEYS,
    CONFIRM_STOP_KEYS, ENDED_KEYS, HELP_KEYS, HOST_FILTER_KEYS, NETWORK_KEYS, PICKER_BROWSE_KEYS,
    PICKER_KEYS, PREFLIGHT_KEYS, PROPOSAL_KEYS, REASON_KEYS, REVIEW_KEYS, SCROLL_KEYS,
};
use crate::tui::modal::Modal;

pub fn status(f: &mut Frame, app: &App, area: Rect) {
    if area.height == 0 {
        return;
    }
    let (text, style) = match &app.status {
        Some(s) if s.error => (s.text.clone(), Style::default().fg(Color::Red)),
        Some(s) => (s.text.clone(), Style::default().fg(Color::Cyan)),
        None => (String::new(), Style::default()),
    };
    f.render_widget(Paragraph::new(format!(" {text}")).style(style), area);
}

/// The keys that do something in the current state.
pub fn hints(app: &App) -> String {
    let km = &app.config.keymap;
    let p = km.prefix.label();
    if let Some(m) = &app.modal {
        return match m {
            Modal::Picker(_) => format!(
                "type to filter · {} · {}",
                mode_hints(PICKER_KEYS),
                mode_hints(PICKER_BROWSE_KEYS)
            ),
            Modal::Backend(_) => mode_hints(BACKEND_KEYS),
            Modal::Preflight(_) => mode_hints(PREFLIGHT_KEYS),
            Modal::ConfirmStop { .. } => mode_hints(CONFIRM_STOP_KEYS),
            Modal::Clipboard(_) => mode_hints(CLIPBOARD_KEYS),
            Modal::Review(v) if v.confirming => mode_hints(CONFIRM_APPLY_KEYS),
            Modal::Review(_) => mode_hints(REVIEW_KEYS),
            Modal::Proposal(p) if p.reason.is_some() => mode_hints(REASON_KEYS),
            Modal::Proposal(_) => mode_hints(PROPOSAL_KEYS),
            Modal::Help { .. } => mode_hints(HELP_KEYS),
            Modal::Ask(_) => mode_hints(ASK_KEYS),
            Modal::Network(v) if v.typing => mode_hints(HOST_FILTER_KEYS),
            Modal::Network(_) => mode_hints(NETWORK_KEYS),
        };
    }
    if app.scroll.is_some() {
        return mode_hints(SCROLL_KEYS);
    }
    if app.armed {
        let keys: Vec<String> = ACTIONS
            .iter()
            .filter(|n| n.in_footer)
            .filter_map(|n| {
                km.key_for(n.action)
                    .map(|k| format!("{} {}", k.label(), n.short))
            })
            .collect();
        return format!(
            "{p} then: {} · 1-9 agent · {p} again: send {p}",
            keys.join(" · ")
        );
    }
    let mut parts = vec![format!("{} new", km.chord(Action::NewAgent))];
    match app.focused().map(|e| &e.phase) {
        Some(Phase::Exited(_) | Phase::Detached) => parts.insert(0, mode_hints(ENDED_KEYS)),
        Some(Phase::Failed(_)) => {
            let bottle = app.focused().is_some_and(|e| e.active.is_some());
            parts.insert(0, if bottle { "x stop" } else { "x dismiss" }.into())
        }
        Some(_) => {
            if app.entries.len() > 1 {
                let jump = km
                    .direct_jump_label()
                    .map(|l| format!(" / {l}"))
                    .unwrap_or_default();
                parts.push(format!("{p} 1-9{jump} switch"));
            }
            parts.push(format!("{} zoom", km.chord(Action::Zoom)));
            parts.push(format!("{} scroll", km.chord(Action::ScrollMode)));
        }
        None => {}
    }
    if !app.proposals.is_empty() {
        parts.insert(0, format!("{} proposals", km.chord(Action::Proposals)));
    }
    parts.insert(
        1.min(parts.len()),
        format!("{} help", km.chord(Action::Help)),
    );
    parts.push(format!("{} leave", km.chord(Action::Leave)));
    parts.join(" · ")
}

pub fn footer(f: &mut Frame, app: &App, area: Rect) {
    f.render_widget(
        Paragraph::new(format!(" {}", hints(app)))
            .style(Style::default().bg(Color::DarkGray).fg(Color::White)),
        area,
    );
}
