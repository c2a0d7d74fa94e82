//! The help overlay's text: every key bb knows, from the live keymap.

use crate::tui::keymap::{Action, Keymap};

pub fn lines(km: &Keymap) -> Vec<String> {
    let p = km.prefix.label();
    let mut out = vec![
        format!("bb keeps only {p} (its prefix); every other key goes to the focused agent."),
        format!("Press {p}, then:"),
        String::new(),
    ];
    for (key, action) in &km.bindings {
        out.push(format!("  {:<10} {}", key.label(), action.describe()));
    }
    out.push(format!("  {:<10} focus agent 1 to 9", "1 … 9"));
    out.push(format!("  {:<10} send {p} itself to the agent", p));
    if let Some(m) = km.direct_jump {
        let label = if m.contains(crossterm::event::KeyModifiers::ALT) {
            "M"
        } else {
            "C"
        };
        out.push(String::new());
        out.push(format!(
            "Without the prefix: {label}-1 … {label}-9 focus agent 1 to 9."
        ));
    }
    out.extend(
        [
            "",
            "In a pane whose session ended: Enter starts a new one (continuing the",
            "conversation when there is one); x stops the bottle.",
            "",
            "Scroll mode:",
            "  ↑ ↓ j k    move a line        PgUp PgDn b f   a page (also Space)",
            "  C-u C-d    half a page",
            "  g G        top, bottom        v               start/clear a selection",
            "  y Enter    copy (OSC 52)      q Esc           back to the live screen",
            "The mouse wheel scrolls history, or goes to programs that ask for the mouse.",
            "",
            "Agent picker: type to filter, ↑↓ or j k to move, / to filter on j or k,",
            "Enter to choose, Esc clears the filter, then closes.",
            "Preflight: y launches, n or Esc cancels.",
            "Proposal: a approves, m opens the change in $EDITOR, r rejects with a reason.",
            "",
            "Keys are set in <bb home>/config.yaml (defaults: assets/config.yaml).",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let _ = Action::Help;
    out
}
