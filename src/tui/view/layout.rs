//! Where everything goes on the screen. Pure: an area and two toggles in,
//! rectangles out. Heights are fixed so status messages never resize panes.

use ratatui::layout::Rect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub sidebar: Option<Rect>,
    pub agents: Rect,
    pub proposals: Rect,
    /// The pane including its title row.
    pub pane: Rect,
    /// What the session draws into; its size is the session's size.
    pub pane_inner: Rect,
    pub status: Rect,
    pub footer: Rect,
}

pub const SIDEBAR_MIN: u16 = 24;
pub const SIDEBAR_MAX: u16 = 36;

pub fn layout(area: Rect, sidebar: bool, zoom: bool) -> Layout {
    let footer = Rect::new(
        area.x,
        area.y + area.height.saturating_sub(1),
        area.width,
        area.height.min(1),
    );
    let status_h = if zoom { 0 } else { 1 };
    let body_h = area.height.saturating_sub(1 + status_h);
    let status = Rect::new(
        area.x,
        area.y + body_h,
        area.width,
        status_h.min(area.height.saturating_sub(1)),
    );
    let body = Rect::new(area.x, area.y, area.width, body_h);
    let show_sidebar = sidebar && !zoom && area.width >= 60;
    let side_w = if show_sidebar {
        (area.width / 4).clamp(SIDEBAR_MIN, SIDEBAR_MAX)
    } else {
        0
    };
    let side = Rect::new(body.x, body.y, side_w, body.height);
    let proposals_h = if body.height >= 14 {
        (body.height / 3).min(10)
    } else {
        body.height / 2
    };
    let agents = Rect::new(
        side.x,
        side.y,
        side.width,
        side.height.saturating_sub(proposals_h),
    );
    let proposals = Rect::new(side.x, side.y + agents.height, side.width, proposals_h);
    let pane = Rect::new(body.x + side_w, body.y, body.width - side_w, body.height);
    let pane_inner = Rect::new(
        pane.x,
        pane.y + 1.min(pane.height),
        pane.width,
        pane.height.saturating_sub(1),
    );
    Layout {
        sidebar: show_sidebar.then_some(side),
        agents,
        proposals,
        pane,
        pane_inner,
        status,
        footer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighty_by_twenty_four() {
        let l = layout(Rect::new(0, 0, 80, 24), true, false);
        assert_eq!(l.sidebar.unwrap().width, 24);
        assert_eq!(l.pane_inner, Rect::new(24, 1, 56, 21));
        assert_eq!(l.status.y, 22);
        assert_eq!(l.footer.y, 23);
    }

    #[test]
    fn zoom_and_hidden_sidebar_give_the_pane_the_width() {
        let l = layout(Rect::new(0, 0, 120, 40), false, false);
        assert!(l.sidebar.is_none());
        assert_eq!(l.pane_inner, Rect::new(0, 1, 120, 37));
        let z = layout(Rect::new(0, 0, 120, 40), true, true);
        assert!(z.sidebar.is_none());
        assert_eq!(z.pane_inner, Rect::new(0, 1, 120, 38));
    }

    #[test]
    fn tiny_screens_do_not_underflow() {
        for (w, h) in [(0, 0), (1, 1), (10, 2), (59, 5)] {
            let l = layout(Rect::new(0, 0, w, h), true, false);
            assert!(l.pane_inner.height <= h && l.pane_inner.width <= w);
        }
    }
}
