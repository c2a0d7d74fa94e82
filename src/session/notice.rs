//! What a program tells its terminal about itself, which the emulator
//! ignores: desktop notifications, OSC 9 (`ESC ] 9 ; text BEL`, iTerm2's)
//! and OSC 777 (`ESC ] 777 ; notify ; title ; body BEL`, urxvt's), and the
//! state OSC 7501 reports (`ESC ] 7501 ; state=working : app=codex BEL`, as
//! Codex writes it), found in output that arrives in pieces.

/// Longest OSC kept while its end has not come; longer ones are not
/// notifications anyone reads.
const MAX_OSC: usize = 4096;

/// One thing a program told its terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Told {
    /// A desktop notification's text.
    Notice(String),
    /// The state it reports (`working`, `idle`).
    State(String),
}

#[derive(Debug, Default)]
pub struct Notices {
    /// The body of an OSC begun but not ended yet.
    open: Option<Vec<u8>>,
    /// The last byte was ESC: an OSC (`]`) or its end (`\`) may follow.
    esc: bool,
}

impl Notices {
    /// What ends in `bytes`, in order.
    pub fn scan(&mut self, bytes: &[u8]) -> Vec<Told> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            if let Some(body) = &mut self.open {
                let end = match (self.esc, b) {
                    (_, 0x07) => true,
                    (true, b'\\') => {
                        body.pop(); // the ESC of `ESC \`
                        true
                    }
                    _ => false,
                };
                self.esc = b == 0x1b;
                if end {
                    if let Some(told) = self.open.take().and_then(|b| told(&b)) {
                        found.push(told);
                    }
                    continue;
                }
                if body.len() < MAX_OSC {
                    body.push(b);
                } else {
                    self.open = None;
                }
                continue;
            }
            if self.esc && b == b']' {
                self.open = Some(Vec::new());
                self.esc = false;
                continue;
            }
            self.esc = b == 0x1b;
            if !self.esc {
                // Skip to the next ESC: most output has none.
                match bytes[i..].iter().position(|&c| c == 0x1b) {
                    Some(at) => i += at,
                    None => break,
                }
            }
        }
        found
    }
}

/// What an OSC body tells, if it is a notification or a state.
fn told(body: &[u8]) -> Option<Told> {
    let body = String::from_utf8_lossy(body);
    if let Some(fields) = body.strip_prefix("7501;") {
        let state = fields.split(':').find_map(|f| f.strip_prefix("state="))?;
        return Some(Told::State(state.to_string()));
    }
    if let Some(text) = body.strip_prefix("9;") {
        // `9;4;...` is ConEmu's progress report, not a message.
        if text.starts_with("4;") {
            return None;
        }
        return Some(Told::Notice(text.to_string()));
    }
    let rest = body.strip_prefix("777;notify;")?;
    let (title, text) = rest.split_once(';').unwrap_or((rest, ""));
    Some(Told::Notice(match (title.is_empty(), text.is_empty()) {
        (_, true) => title.to_string(),
        (true, false) => text.to_string(),
        (false, false) => format!("{title}: {text}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_both_kinds_in_pieces_and_nothing_else() {
        let stream = b"hi\x1b]0;a title\x07\x1b]9;Claude needs you\x07x\x1b]777;notify;Codex;turn done\x1b\\\x1b]9;4;1;50\x07\x1b]7501;?\x07\x1b]7501;state=working:app=codex\x1b\\";
        let whole = Notices::default().scan(stream);
        assert_eq!(
            whole,
            [
                Told::Notice("Claude needs you".into()),
                Told::Notice("Codex: turn done".into()),
                Told::State("working".into())
            ]
        );
        for cut in 0..stream.len() {
            let mut n = Notices::default();
            let mut got = n.scan(&stream[..cut]);
            got.extend(n.scan(&stream[cut..]));
            assert_eq!(got, whole, "cut at {cut}");
        }
    }
}
