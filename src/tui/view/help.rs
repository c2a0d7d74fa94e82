//! Every key bb knows, from the live keymap and the mode tables: the help
//! overlay's text, and the README's key tables (a test keeps them equal).

use crate::tui::keymap::{
    Keymap, ModeKey, ACTIONS, ASK_KEYS, BACKEND_KEYS, CLIPBOARD_KEYS, CONFIRM_APPLY_KEYS,
    CONFIRM_STOP_KEYS, ENDED_KEYS, HOST_FILTER_KEYS, NETWORK_KEYS, PICKER_BROWSE_KEYS, PICKER_KEYS,
    PREFLIGHT_KEYS, PROPOSAL_KEYS, REASON_KEYS, REVIEW_KEYS, SCROLL_KEYS,
};

pub fn lines(km: &Keymap) -> Vec<String> {
    let p = km.prefix.label();
    let mut out = vec![
        format!("bb keeps only {p} (its prefix); every other key goes to the focused agent."),
        format!("Press {p}, then:"),
        String::new(),
    ];
    for (key, action) in &km.bindings {
        out.push(format!("  {:<12} {}", key.label(), action.describe()));
    }
    out.push(format!("  {:<12} focus agent 1 to 9", "1 … 9"));
    out.push(format!("  {:<12} send {p} itself to the agent", p));
    if let Some(jump) = km.direct_jump_label() {
        out.push(String::new());
        out.push(format!("Without the prefix: {jump} focus agent 1 to 9."));
    }
    let mode = |out: &mut Vec<String>, title: &str, rows: Vec<(String, &str)>| {
        out.push(String::new());
        out.push(title.to_string());
        for (label, describe) in rows {
            out.push(format!("  {label:<12} {describe}"));
        }
    };
    mode(&mut out, "In a pane whose session ended:", rows(ENDED_KEYS));
    mode(&mut out, "Scroll mode:", rows(SCROLL_KEYS));
    mode(&mut out, "Preflight:", rows(PREFLIGHT_KEYS));
    mode(&mut out, "A proposal:", rows(PROPOSAL_KEYS));
    mode(
        &mut out,
        "Rejecting a proposal (type the reason):",
        rows(REASON_KEYS),
    );
    mode(&mut out, "The network view:", rows(NETWORK_KEYS));
    mode(
        &mut out,
        "Filtering the network view by host (type part of it):",
        rows(HOST_FILTER_KEYS),
    );
    mode(&mut out, "Agent picker (type to filter):", picker_rows());
    mode(&mut out, "Choosing a backend:", rows(BACKEND_KEYS));
    mode(
        &mut out,
        "A value the manifest asks for (type it):",
        rows(ASK_KEYS),
    );
    mode(&mut out, "Stopping a bottle:", rows(CONFIRM_STOP_KEYS));
    mode(
        &mut out,
        "A program asks to set your clipboard:",
        rows(CLIPBOARD_KEYS),
    );
    mode(&mut out, "Reviewing an agent's work:", rows(REVIEW_KEYS));
    mode(
        &mut out,
        "Asked to apply its changes:",
        rows(CONFIRM_APPLY_KEYS),
    );
    out.extend(
        [
            "",
            "The mouse wheel scrolls history, or goes to programs that ask for the mouse.",
            "",
            "Keys are set in <bb home>/config.yaml (defaults: assets/config.yaml).",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    out
}

fn rows<A>(table: &[ModeKey<A>]) -> Vec<(String, &'static str)> {
    table.iter().map(|m| (m.label(), m.describe)).collect()
}

/// The picker's keys: always, then while the filter is empty.
fn picker_rows() -> Vec<(String, &'static str)> {
    let mut out = rows(PICKER_KEYS);
    out.extend(rows(PICKER_BROWSE_KEYS));
    out
}

/// The README's key tables for `km`: after the prefix, in an ended pane,
/// in scroll mode.
pub fn markdown(km: &Keymap) -> String {
    let p = km.prefix.label();
    let code = |s: &str| format!("`{s}`");
    let mut out = String::from("| keys | what |\n| --- | --- |\n");
    for n in ACTIONS {
        let keys: Vec<String> = km
            .bindings
            .iter()
            .filter(|(_, a)| *a == n.action)
            .map(|(k, _)| code(&format!("{p} {}", k.label())))
            .collect();
        if !keys.is_empty() {
            out.push_str(&format!("| {} | {} |\n", keys.join(" "), n.describe));
        }
    }
    let jump = km
        .direct_jump_label()
        .map(|l| format!(", {}", code(&l)))
        .unwrap_or_default();
    out.push_str(&format!(
        "| {}…{}{jump} | focus agent 1 to 9 |\n",
        code(&format!("{p} 1")),
        code("9")
    ));
    out.push_str(&format!(
        "| {} | send {} itself to the agent |\n",
        code(&format!("{p} {p}")),
        code(&p)
    ));
    for (title, rows) in [
        ("In a pane whose session ended", rows(ENDED_KEYS)),
        ("In scroll mode", rows(SCROLL_KEYS)),
        ("In the preflight", rows(PREFLIGHT_KEYS)),
        ("On a proposal", rows(PROPOSAL_KEYS)),
        ("Typing a proposal's rejection reason", rows(REASON_KEYS)),
        ("In the network view", rows(NETWORK_KEYS)),
        (
            "Typing a host to filter the network view by",
            rows(HOST_FILTER_KEYS),
        ),
        (
            "In the agent picker (other keys type a filter: its letters in order, not necessarily together; the best match first)",
            picker_rows(),
        ),
        ("Choosing a backend", rows(BACKEND_KEYS)),
        ("Typing a value the manifest asks for", rows(ASK_KEYS)),
        ("Asked to stop a bottle", rows(CONFIRM_STOP_KEYS)),
        (
            "A program asks to set your clipboard (shown whole first)",
            rows(CLIPBOARD_KEYS),
        ),
        ("Reviewing an agent's work", rows(REVIEW_KEYS)),
        ("Asked to apply its changes", rows(CONFIRM_APPLY_KEYS)),
    ] {
        out.push_str(&format!("\n{title}:\n\n| keys | what |\n| --- | --- |\n"));
        for (label, describe) in rows {
            let keys: Vec<String> = label.split(' ').map(code).collect();
            out.push_str(&format!("| {} | {describe} |\n", keys.join(" ")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::tui::config::Config;

    /// The README's key tables are the tables the code uses, written out;
    /// `BB_BLESS=1` rewrites them.
    #[test]
    fn the_readme_lists_every_key() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let (start, end) = ("<!-- keys: generated -->\n", "<!-- /keys -->");
        let a = readme.find(start).expect("the README marks its key tables") + start.len();
        let b = a + readme[a..].find(end).expect("the key tables end");
        let want = super::markdown(&Config::default().keymap);
        if std::env::var_os("BB_BLESS").is_some() {
            std::fs::write(&path, format!("{}{want}{}", &readme[..a], &readme[b..])).unwrap();
            return;
        }
        assert_eq!(
            readme[a..b],
            want,
            "README.md's key tables differ from the keymap; BB_BLESS=1 cargo test the_readme_lists_every_key rewrites them"
        );
    }
}
