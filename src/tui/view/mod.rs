//! Drawing the workspace. Views are functions of the app's state; they
//! read sessions' screens and never do I/O.

pub mod footer;
pub mod help;
pub mod highlight;
pub mod layout;
pub mod modals;
mod network;
pub mod pane;
mod review;
pub mod sidebar;

use ratatui::Frame;

use super::app::App;

pub fn render(f: &mut Frame, app: &App) {
    let l = layout::layout(f.area(), app.sidebar, app.zoom);
    if l.sidebar.is_some() {
        sidebar::render(f, app, &l);
    }
    pane::render(f, app, l.pane, l.pane_inner);
    footer::status(f, app, l.status);
    footer::footer(f, app, l.footer);
    if let Some(m) = &app.modal {
        modals::render(f, app, m);
    }
}

#[cfg(test)]
pub(crate) mod tests;
