//! What a terminal sends for a key, a paste or a mouse event, so programs
//! in panes get exactly what xterm would give them.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEventKind};

/// The program's input modes that change encodings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Modes {
    /// DECCKM: arrows as `ESC O A` instead of `ESC [ A`.
    pub app_cursor: bool,
    pub bracketed_paste: bool,
}

/// Which mouse events the program asked to be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseMode {
    None,
    /// X10 (`CSI ? 9 h`): presses only.
    #[allow(dead_code)]
    Press,
    PressRelease,
    ButtonMotion,
    AnyMotion,
}

/// How mouse reports are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouseEncoding {
    Default,
    Utf8,
    Sgr,
}

/// xterm's modifier parameter: 1 + shift + 2*alt + 4*ctrl.
fn modifier_param(m: KeyModifiers) -> u8 {
    1 + (m.contains(KeyModifiers::SHIFT) as u8)
        + 2 * (m.contains(KeyModifiers::ALT) as u8)
        + 4 * (m.contains(KeyModifiers::CONTROL) as u8)
}

fn ctrl_byte(c: char) -> Option<u8> {
    Some(match c {
        'a'..='z' => c as u8 - b'a' + 1,
        'A'..='Z' => c as u8 - b'A' + 1,
        ' ' | '@' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '7' | '/' => 0x1f,
        '8' | '?' => 0x7f,
        _ => return None,
    })
}

/// The bytes for one key press.
pub fn encode_key(key: &KeyEvent, modes: Modes) -> Vec<u8> {
    let m = key.modifiers;
    let alt = m.contains(KeyModifiers::ALT);
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let shift = m.contains(KeyModifiers::SHIFT);
    let param = modifier_param(m);
    let esc_prefixed = |mut bytes: Vec<u8>| {
        if alt {
            bytes.insert(0, 0x1b);
        }
        bytes
    };
    // CSI forms: `ESC [ 1 ; m X` with modifiers, else the plain form.
    let cursor = |letter: u8| -> Vec<u8> {
        if param > 1 {
            format!("\x1b[1;{param}{}", letter as char).into_bytes()
        } else if modes.app_cursor {
            vec![0x1b, b'O', letter]
        } else {
            vec![0x1b, b'[', letter]
        }
    };
    let tilde = |n: u8| -> Vec<u8> {
        if param > 1 {
            format!("\x1b[{n};{param}~").into_bytes()
        } else {
            format!("\x1b[{n}~").into_bytes()
        }
    };
    match key.code {
        KeyCode::Char(c) => {
            if ctrl {
                if let Some(b) = ctrl_byte(c) {
                    return esc_prefixed(vec![b]);
                }
            }
            let mut buf = [0u8; 4];
            esc_prefixed(c.encode_utf8(&mut buf).as_bytes().to_vec())
        }
        KeyCode::Enter if shift && !alt && !ctrl => b"\x1b[13;2u".to_vec(),
        KeyCode::Enter => esc_prefixed(vec![b'\r']),
        KeyCode::Backspace if ctrl => esc_prefixed(vec![0x08]),
        KeyCode::Backspace => esc_prefixed(vec![0x7f]),
        KeyCode::Tab if shift => b"\x1b[Z".to_vec(),
        KeyCode::Tab => esc_prefixed(vec![b'\t']),
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Esc => esc_prefixed(vec![0x1b]),
        KeyCode::Null => vec![0],
        KeyCode::Up => cursor(b'A'),
        KeyCode::Down => cursor(b'B'),
        KeyCode::Right => cursor(b'C'),
        KeyCode::Left => cursor(b'D'),
        KeyCode::Home => cursor(b'H'),
        KeyCode::End => cursor(b'F'),
        KeyCode::Insert => tilde(2),
        KeyCode::Delete => tilde(3),
        KeyCode::PageUp => tilde(5),
        KeyCode::PageDown => tilde(6),
        KeyCode::F(n @ 1..=4) => {
            let letter = b'P' + (n - 1);
            if param > 1 {
                format!("\x1b[1;{param}{}", letter as char).into_bytes()
            } else {
                vec![0x1b, b'O', letter]
            }
        }
        KeyCode::F(n @ 5..=12) => {
            const CODES: [u8; 8] = [15, 17, 18, 19, 20, 21, 23, 24];
            tilde(CODES[(n - 5) as usize])
        }
        _ => Vec::new(),
    }
}

/// A paste as the program should receive it. Newlines become CR, as a
/// terminal sends them; inside brackets an embedded end marker is removed
/// so pasted text can never turn into keystrokes.
pub fn encode_paste(text: &str, modes: Modes) -> Vec<u8> {
    let normalised = text.replace("\r\n", "\r").replace('\n', "\r");
    if modes.bracketed_paste {
        let inner = normalised.replace("\x1b[201~", "");
        format!("\x1b[200~{inner}\x1b[201~").into_bytes()
    } else {
        normalised.into_bytes()
    }
}

/// A mouse event for a program that asked for mouse reports, at a position
/// relative to the pane's inner area (0-based). None when its mode does not
/// report this kind of event.
pub fn encode_mouse(
    kind: MouseEventKind,
    mods: KeyModifiers,
    col: u16,
    row: u16,
    mode: MouseMode,
    encoding: MouseEncoding,
) -> Option<Vec<u8>> {
    let button_code = |b: MouseButton| match b {
        MouseButton::Left => 0u8,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    };
    let (mut code, release, motion) = match kind {
        MouseEventKind::Down(b) => (button_code(b), false, false),
        MouseEventKind::Up(b) => (button_code(b), true, false),
        MouseEventKind::Drag(b) => (button_code(b), false, true),
        MouseEventKind::Moved => (3, false, true),
        MouseEventKind::ScrollUp => (64, false, false),
        MouseEventKind::ScrollDown => (65, false, false),
        MouseEventKind::ScrollLeft => (66, false, false),
        MouseEventKind::ScrollRight => (67, false, false),
    };
    let wanted = match mode {
        MouseMode::None => false,
        MouseMode::Press => !release && !motion,
        MouseMode::PressRelease => !motion,
        MouseMode::ButtonMotion => !matches!(kind, MouseEventKind::Moved),
        MouseMode::AnyMotion => true,
    };
    if !wanted {
        return None;
    }
    if motion {
        code += 32;
    }
    code += 4 * mods.contains(KeyModifiers::SHIFT) as u8
        + 8 * mods.contains(KeyModifiers::ALT) as u8
        + 16 * mods.contains(KeyModifiers::CONTROL) as u8;
    let (x, y) = (col as u32 + 1, row as u32 + 1);
    Some(match encoding {
        MouseEncoding::Sgr => {
            format!("\x1b[<{code};{x};{y}{}", if release { 'm' } else { 'M' }).into_bytes()
        }
        MouseEncoding::Default | MouseEncoding::Utf8 => {
            // Without SGR a release does not say which button.
            let b = if release { 3 + (code & !3) } else { code };
            let mut out = b"\x1b[M".to_vec();
            out.push(32 + b);
            for v in [x, y] {
                let v = 32 + v;
                if encoding == MouseEncoding::Utf8 {
                    let c = char::from_u32(v).unwrap_or(' ');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                } else {
                    out.push(v.min(255) as u8);
                }
            }
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    const N: KeyModifiers = KeyModifiers::NONE;
    const C: KeyModifiers = KeyModifiers::CONTROL;
    const A: KeyModifiers = KeyModifiers::ALT;
    const S: KeyModifiers = KeyModifiers::SHIFT;

    #[test]
    fn keys_encode_as_xterm_sends_them() {
        let normal = Modes::default();
        let table: &[(KeyEvent, &[u8])] = &[
            (k(KeyCode::Char('a'), N), b"a"),
            (k(KeyCode::Char('A'), S), b"A"),
            (k(KeyCode::Char('é'), N), "é".as_bytes()),
            (k(KeyCode::Char('🙂'), N), "🙂".as_bytes()),
            (k(KeyCode::Char('c'), C), b"\x03"),
            (k(KeyCode::Char('p'), C), b"\x10"),
            (k(KeyCode::Char('q'), C), b"\x11"),
            (k(KeyCode::Char('s'), C), b"\x13"),
            (k(KeyCode::Char(' '), C), b"\x00"),
            (k(KeyCode::Char('['), C), b"\x1b"),
            (k(KeyCode::Char('\\'), C), b"\x1c"),
            (k(KeyCode::Char(']'), C), b"\x1d"),
            (k(KeyCode::Char('_'), C), b"\x1f"),
            (k(KeyCode::Char('x'), A), b"\x1bx"),
            (k(KeyCode::Char('x'), A | C), b"\x1b\x18"),
            (k(KeyCode::Enter, N), b"\r"),
            (k(KeyCode::Enter, S), b"\x1b[13;2u"),
            (k(KeyCode::Enter, A), b"\x1b\r"),
            (k(KeyCode::Backspace, N), b"\x7f"),
            (k(KeyCode::Backspace, A), b"\x1b\x7f"),
            (k(KeyCode::Tab, N), b"\t"),
            (k(KeyCode::BackTab, S), b"\x1b[Z"),
            (k(KeyCode::Esc, N), b"\x1b"),
            (k(KeyCode::Up, N), b"\x1b[A"),
            (k(KeyCode::Down, N), b"\x1b[B"),
            (k(KeyCode::Right, N), b"\x1b[C"),
            (k(KeyCode::Left, N), b"\x1b[D"),
            (k(KeyCode::Up, C), b"\x1b[1;5A"),
            (k(KeyCode::Right, S), b"\x1b[1;2C"),
            (k(KeyCode::Left, A), b"\x1b[1;3D"),
            (k(KeyCode::Home, N), b"\x1b[H"),
            (k(KeyCode::End, N), b"\x1b[F"),
            (k(KeyCode::Insert, N), b"\x1b[2~"),
            (k(KeyCode::Delete, N), b"\x1b[3~"),
            (k(KeyCode::PageUp, N), b"\x1b[5~"),
            (k(KeyCode::PageDown, N), b"\x1b[6~"),
            (k(KeyCode::PageUp, S), b"\x1b[5;2~"),
            (k(KeyCode::F(1), N), b"\x1bOP"),
            (k(KeyCode::F(4), N), b"\x1bOS"),
            (k(KeyCode::F(5), N), b"\x1b[15~"),
            (k(KeyCode::F(8), N), b"\x1b[19~"),
            (k(KeyCode::F(9), N), b"\x1b[20~"),
            (k(KeyCode::F(12), N), b"\x1b[24~"),
            (k(KeyCode::F(1), C), b"\x1b[1;5P"),
            (k(KeyCode::F(5), C), b"\x1b[15;5~"),
        ];
        for (key, want) in table {
            assert_eq!(encode_key(key, normal), want.to_vec(), "{key:?}");
        }
    }

    #[test]
    fn application_cursor_mode_changes_arrows_and_home_end() {
        let app = Modes {
            app_cursor: true,
            ..Modes::default()
        };
        assert_eq!(encode_key(&k(KeyCode::Up, N), app), b"\x1bOA");
        assert_eq!(encode_key(&k(KeyCode::Left, N), app), b"\x1bOD");
        assert_eq!(encode_key(&k(KeyCode::Home, N), app), b"\x1bOH");
        assert_eq!(encode_key(&k(KeyCode::Up, C), app), b"\x1b[1;5A");
    }

    #[test]
    fn pastes_are_bracketed_only_when_asked_and_cannot_escape() {
        let plain = Modes::default();
        let bracketed = Modes {
            bracketed_paste: true,
            ..Modes::default()
        };
        assert_eq!(encode_paste("a\nb", plain), b"a\rb");
        assert_eq!(encode_paste("a\r\nb", bracketed), b"\x1b[200~a\rb\x1b[201~");
        assert_eq!(
            encode_paste("x\x1b[201~rm -rf /\n", bracketed),
            b"\x1b[200~xrm -rf /\r\x1b[201~"
        );
    }

    #[test]
    fn mouse_reports_follow_the_programs_mode() {
        use MouseEncoding as E;
        use MouseMode as M;
        let down = MouseEventKind::Down(MouseButton::Left);
        assert_eq!(encode_mouse(down, N, 4, 2, M::None, E::Sgr), None);
        assert_eq!(
            encode_mouse(down, N, 4, 2, M::Press, E::Sgr).unwrap(),
            b"\x1b[<0;5;3M"
        );
        assert_eq!(
            encode_mouse(
                MouseEventKind::Up(MouseButton::Left),
                N,
                4,
                2,
                M::PressRelease,
                E::Sgr
            )
            .unwrap(),
            b"\x1b[<0;5;3m"
        );
        assert_eq!(
            encode_mouse(MouseEventKind::ScrollUp, N, 0, 0, M::Press, E::Sgr).unwrap(),
            b"\x1b[<64;1;1M"
        );
        assert_eq!(
            encode_mouse(MouseEventKind::ScrollDown, C, 0, 0, M::Press, E::Default).unwrap(),
            vec![0x1b, b'[', b'M', 32 + 65 + 16, 33, 33]
        );
        assert_eq!(
            encode_mouse(MouseEventKind::Moved, N, 0, 0, M::ButtonMotion, E::Sgr),
            None
        );
        assert_eq!(
            encode_mouse(MouseEventKind::Moved, N, 1, 1, M::AnyMotion, E::Sgr).unwrap(),
            b"\x1b[<35;2;2M"
        );
    }
}
