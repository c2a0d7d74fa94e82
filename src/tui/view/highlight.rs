//! Syntax colours for the review view's diff (syntect, with its default
//! grammars and theme). A line is coloured by itself, from its file's
//! grammar: a diff shows pieces of files, and a page is drawn at once.

use std::sync::OnceLock;

use ratatui::style::{Color, Style};
use ratatui::text::Span;
use syntect::easy::HighlightLines;
use syntect::highlighting::{Theme, ThemeSet};
use syntect::parsing::SyntaxSet;

struct Loaded {
    syntaxes: SyntaxSet,
    theme: Theme,
}

fn loaded() -> &'static Loaded {
    static LOADED: OnceLock<Loaded> = OnceLock::new();
    LOADED.get_or_init(|| {
        let mut themes = ThemeSet::load_defaults();
        let theme = themes
            .themes
            .remove("base16-ocean.dark")
            .or_else(|| themes.themes.into_values().next())
            .unwrap_or_default();
        Loaded {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            theme,
        }
    })
}

/// Load the grammars now (they take tens of milliseconds), off the UI
/// thread, before a review is drawn.
pub fn warm() {
    let _ = loaded();
}

/// `code` (a line of `path`, without its diff sign) as coloured spans,
/// each also in `base` (the diff's added or removed background).
pub fn line(path: &str, code: &str, base: Style) -> Vec<Span<'static>> {
    let l = loaded();
    let ext = path.rsplit('.').next().unwrap_or("");
    let name = path.rsplit('/').next().unwrap_or(path);
    let syntax = l
        .syntaxes
        .find_syntax_by_extension(ext)
        .or_else(|| l.syntaxes.find_syntax_by_extension(name));
    let Some(syntax) = syntax else {
        return vec![Span::styled(code.to_string(), base)];
    };
    let mut h = HighlightLines::new(syntax, &l.theme);
    match h.highlight_line(&format!("{code}\n"), &l.syntaxes) {
        Ok(parts) => parts
            .into_iter()
            .map(|(s, text)| {
                let c = s.foreground;
                Span::styled(
                    text.trim_end_matches('\n').to_string(),
                    base.fg(Color::Rgb(c.r, c.g, c.b)),
                )
            })
            .collect(),
        Err(_) => vec![Span::styled(code.to_string(), base)],
    }
}
