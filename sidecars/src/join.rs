//! Characters joined by a zero-width joiner (U+200D) share one cell, as
//! tmux (the reference terminal) lays them out: the character printed
//! after a ZWJ goes into the ZWJ's cell, whatever its width, and the cell
//! keeps the width of its first character. alacritty_terminal gives each
//! character its own cells, so a family emoji took eight cells where tmux
//! takes two, and the rest of the row moved. Used by bb's panes and the
//! console holder alike, so a re-attach's snapshot lays out the same.

use alacritty_terminal::event::EventListener;
use alacritty_terminal::grid::Dimensions;
use alacritty_terminal::index::{Column, Line, Point};
use alacritty_terminal::term::cell::Flags;
use alacritty_terminal::vte::ansi::{Processor, StdSyncHandler};
use alacritty_terminal::Term;

const ZWJ: [u8; 3] = [0xe2, 0x80, 0x8d];

/// Feeds an emulator, joining what follows a printed ZWJ onto its cell.
/// alacritty's damage does not see a join: `take_joined` tells.
#[derive(Default)]
pub struct Joiner {
    /// A cell changed by a join since the last `take_joined`.
    joined: bool,
    /// The cell the last printed ZWJ went into, while its next character
    /// has not come yet.
    pending: Option<Point>,
    /// The start of that character, split across reads.
    carry: Vec<u8>,
}

impl Joiner {
    pub fn advance<L: EventListener>(
        &mut self,
        parser: &mut Processor<StdSyncHandler>,
        term: &mut Term<L>,
        bytes: &[u8],
    ) {
        let carried;
        let mut rest = bytes;
        if !self.carry.is_empty() {
            let mut all = std::mem::take(&mut self.carry);
            all.extend_from_slice(bytes);
            carried = all;
            rest = &carried;
        }
        loop {
            if let Some(at) = self.pending {
                match next_char(rest) {
                    Next::Char(c, len) => {
                        self.joined |= join(term, at, c);
                        rest = &rest[len..];
                    }
                    Next::Partial => {
                        self.carry = rest.to_vec();
                        return;
                    }
                    Next::None => {}
                }
                self.pending = None;
            }
            let Some(i) = rest.windows(3).position(|w| w == ZWJ) else {
                // A ZWJ cut off by the end of the read waits for its end.
                let cut = [&ZWJ[..2], &ZWJ[..1]]
                    .iter()
                    .find(|p| rest.ends_with(p))
                    .map_or(0, |p| p.len());
                parser.advance(term, &rest[..rest.len() - cut]);
                self.carry = rest[rest.len() - cut..].to_vec();
                return;
            };
            parser.advance(term, &rest[..i]);
            // Where alacritty puts a zero-width character: printed (not in
            // a title or other string), the ZWJ is that cell's last one.
            let at = zero_width_target(term);
            let before = zero_width_count(term, at);
            parser.advance(term, &ZWJ);
            if zero_width_count(term, at) == before + 1 {
                self.pending = Some(at);
            }
            rest = &rest[i + 3..];
        }
    }

    /// Whether a join changed a cell since the last call.
    pub fn take_joined(&mut self) -> bool {
        std::mem::take(&mut self.joined)
    }
}

enum Next {
    /// A printable character and its length in bytes.
    Char(char, usize),
    /// The start of one, cut off by the end of the read.
    Partial,
    /// Nothing to join (empty, a control, or not UTF-8).
    None,
}

fn next_char(bytes: &[u8]) -> Next {
    let Some(&first) = bytes.first() else {
        return Next::Partial;
    };
    let len = match first {
        0x20..=0x7e => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Next::None,
    };
    if bytes.len() < len {
        return if std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_none()) {
            Next::Partial
        } else {
            Next::None
        };
    }
    match std::str::from_utf8(&bytes[..len])
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) if !c.is_control() => Next::Char(c, len),
        _ => Next::None,
    }
}

/// The cell alacritty appends a zero-width character to: the one before
/// the cursor (the cursor's own when the line waits to wrap), or the
/// first half of a wide character there.
fn zero_width_target<L>(term: &Term<L>) -> Point {
    let cursor = &term.grid().cursor;
    let line = cursor.point.line;
    let mut column = cursor.point.column;
    if !cursor.input_needs_wrap {
        column = Column(column.saturating_sub(1));
    }
    if term.grid()[line][column]
        .flags
        .contains(Flags::WIDE_CHAR_SPACER)
    {
        column = Column(column.saturating_sub(1));
    }
    Point::new(line, column)
}

fn zero_width_count<L>(term: &Term<L>, at: Point) -> usize {
    cell_at(term, at).map_or(0, |c| c.zerowidth().map_or(0, <[char]>::len))
}

fn cell_at<L>(term: &Term<L>, at: Point) -> Option<&alacritty_terminal::term::cell::Cell> {
    let grid = term.grid();
    let lines = i32::try_from(grid.screen_lines()).ok()?;
    (at.line >= Line(0) && at.line < Line(lines) && at.column.0 < grid.columns())
        .then(|| &grid[at.line][at.column])
}

fn join<L: EventListener>(term: &mut Term<L>, at: Point, c: char) -> bool {
    if cell_at(term, at).is_none() {
        return false;
    }
    term.grid_mut()[at.line][at.column].push_zerowidth(c);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use alacritty_terminal::event::VoidListener;
    use alacritty_terminal::term::Config;

    struct Size;
    impl Dimensions for Size {
        fn total_lines(&self) -> usize {
            3
        }
        fn screen_lines(&self) -> usize {
            3
        }
        fn columns(&self) -> usize {
            20
        }
    }

    fn fed(chunks: &[&[u8]]) -> Term<VoidListener> {
        let mut term = Term::new(Config::default(), &Size, VoidListener);
        let mut parser = Processor::new();
        let mut joiner = Joiner::default();
        for chunk in chunks {
            joiner.advance(&mut parser, &mut term, chunk);
        }
        term
    }

    fn cell_text(term: &Term<VoidListener>, col: usize) -> String {
        let cell = &term.grid()[Line(0)][Column(col)];
        let mut s = cell.c.to_string();
        s.extend(cell.zerowidth().unwrap_or(&[]));
        s
    }

    #[test]
    fn a_zwj_sequence_takes_the_cells_of_its_first_character() {
        let family = "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}x";
        let term = fed(&[family.as_bytes()]);
        assert_eq!(
            cell_text(&term, 0),
            "\u{1f468}\u{200d}\u{1f469}\u{200d}\u{1f467}"
        );
        assert_eq!(cell_text(&term, 2), "x");
        // A narrow first character keeps one cell.
        let term = fed(&["\u{1f3f3}\u{fe0f}\u{200d}\u{1f308}x".as_bytes()]);
        assert_eq!(cell_text(&term, 1), "x");
    }

    #[test]
    fn split_reads_join_the_same() {
        let bytes = "a\u{200d}\u{1f469}b".as_bytes();
        for cut in 1..bytes.len() {
            let term = fed(&[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(cell_text(&term, 0), "a\u{200d}\u{1f469}", "cut at {cut}");
            assert_eq!(cell_text(&term, 1), "b", "cut at {cut}");
        }
    }

    #[test]
    fn a_zwj_in_a_title_or_before_a_control_joins_nothing() {
        let term = fed(&[b"a\x1b]2;x\xe2\x80\x8d\x07b"]);
        assert_eq!(cell_text(&term, 0), "a");
        assert_eq!(cell_text(&term, 1), "b");
        let term = fed(&["a\u{200d}\r\nb".as_bytes()]);
        assert_eq!(cell_text(&term, 0), "a\u{200d}");
        assert_eq!(term.grid()[Line(1)][Column(0)].c, 'b');
    }
}
