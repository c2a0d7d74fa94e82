//! What an agent is doing, read from its session: working, waiting for
//! you, or idle. The per-provider rules (what the real CLIs put on screen
//! while they work or ask) are here and nowhere else; the rest comes from
//! what any program emits: output, the bell, and desktop notifications
//! (OSC 9 / OSC 777).

use std::time::{Duration, Instant};

use bb_contract::egress::REFUSAL_MARKER;

use crate::manifest::Template;

/// Output stops counting as work after this much quiet. Longer than the
/// gaps between a streaming reply's chunks and a spinner's frames.
pub const QUIET: Duration = Duration::from_millis(1500);
/// Output this soon after a key is the key's echo, not work.
const ECHO: Duration = Duration::from_millis(300);
/// How long after a resize output is the program's redraw.
const REDRAW: Duration = Duration::from_millis(500);
/// Rows at the bottom of the screen the rules read: where the CLIs keep
/// their status line, input box and dialogs (the conversation above may
/// quote anything).
pub const BOTTOM_ROWS: usize = 12;

/// What one look at the bottom of the screen says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// The CLI's working indicator is up.
    Busy,
    /// A permission or question dialog waits for an answer.
    Asking,
    /// It shows egress's refusal of one of its requests
    /// ([`REFUSAL_MARKER`]): whatever needed it is stuck.
    Refused,
    /// Neither (an input box, a shell, anything else).
    Other,
}

/// What a provider's CLI shows, as lowercase text to look for.
struct Rules {
    busy: &'static [&'static str],
    asking: &'static [&'static str],
}

fn rules(template: Template) -> Rules {
    match template {
        // Claude Code 2.x: "✻ Thinking… (esc to interrupt)"; permission
        // dialogs ask "Do you want to proceed?" (or to allow, make this
        // edit, create, use this ...) above a numbered choice.
        Template::Claude => Rules {
            busy: &["esc to interrupt"],
            asking: &["do you want to "],
        },
        // Codex: "• Working (3s • esc to interrupt)"; approvals ask "Would
        // you like to run the following command?" (make the following
        // edits, grant these permissions); questions "Type your answer".
        Template::Codex => Rules {
            busy: &["esc to interrupt", "to interrupt)"],
            asking: &["would you like to ", "type your answer"],
        },
    }
}

/// Read the bottom of a screen with a provider's rules (and, for any
/// program, egress's refusal marker). Without a known provider only the
/// marker is read; activity decides the rest.
pub fn cue(template: Option<Template>, bottom: &str) -> Cue {
    let refused = bottom.contains(REFUSAL_MARKER);
    let Some(t) = template else {
        return if refused { Cue::Refused } else { Cue::Other };
    };
    let r = rules(t);
    let text = bottom.to_lowercase();
    if r.asking.iter().any(|a| text.contains(a)) {
        Cue::Asking
    } else if r.busy.iter().any(|b| text.contains(b)) {
        Cue::Busy
    } else if refused {
        Cue::Refused
    } else {
        Cue::Other
    }
}

/// What the agent is doing, as far as its session shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Working,
    /// Quiet, with a refusal of egress on its screen.
    Blocked,
    /// A dialog asks, a turn ended, or the program called for you (bell,
    /// notification) since you last typed to it.
    Waiting,
    Idle,
}

impl Activity {
    pub fn label(self) -> &'static str {
        match self {
            Activity::Working => "working",
            Activity::Blocked => "blocked",
            Activity::Waiting => "waiting for you",
            Activity::Idle => "idle",
        }
    }
}

/// One session's activity over time: fed its output and the user's input,
/// asked its state at a moment.
#[derive(Debug, Clone)]
pub struct Tracker {
    template: Option<Template>,
    cue: Cue,
    /// The last output that was not the echo of a key.
    worked: Option<Instant>,
    typed: Option<Instant>,
    /// It worked (output, or a busy indicator) since the user last typed:
    /// a turn, so quiet after it means it waits for the next.
    turn: bool,
    /// A bell or notification since the user last typed.
    called: bool,
    /// The pane was resized: the program redraws, which is not work.
    resized: Option<Instant>,
}

impl Tracker {
    pub fn new(template: Option<Template>) -> Tracker {
        Tracker {
            template,
            cue: Cue::Other,
            worked: None,
            typed: None,
            turn: false,
            called: false,
            resized: None,
        }
    }

    /// The pane changed size (zoom, the sidebar, the outer terminal): the
    /// program's redraw that follows is neither work nor an answer.
    pub fn resized(&mut self, now: Instant) {
        self.resized = Some(now);
    }

    /// The user sent the program keys or a paste.
    pub fn typed(&mut self, now: Instant) {
        self.typed = Some(now);
        self.turn = false;
        self.called = false;
    }

    /// The program wrote output: `bottom` is the bottom of its screen now;
    /// `called` whether it rang or sent a notification; `reported` the
    /// state it last said it was in (OSC 7501), which the screen's dialog
    /// alone overrides.
    pub fn output(&mut self, now: Instant, bottom: &str, called: bool, reported: Option<&str>) {
        self.cue = match (cue(self.template, bottom), reported) {
            (Cue::Asking, _) => Cue::Asking,
            (_, Some("working")) => Cue::Busy,
            (_, Some("idle")) => Cue::Other,
            (screen, _) => screen,
        };
        let echo = self
            .typed
            .is_some_and(|t| now.saturating_duration_since(t) < ECHO);
        let redraw = self
            .resized
            .is_some_and(|t| now.saturating_duration_since(t) < REDRAW);
        if !echo && !redraw {
            self.worked = Some(now);
            // Output after the user's input is the answer to it; output
            // before any input is the program starting, not a turn.
            if self.typed.is_some() {
                self.turn = true;
            }
        }
        if self.cue == Cue::Busy {
            self.turn = true;
        }
        self.called |= called;
    }

    pub fn state(&self, now: Instant) -> Activity {
        match self.cue {
            Cue::Asking => return Activity::Waiting,
            Cue::Busy => return Activity::Working,
            Cue::Refused | Cue::Other => {}
        }
        if self.called {
            // It said so itself.
            Activity::Waiting
        } else if self.active_until().is_some_and(|until| now < until) {
            Activity::Working
        } else if self.cue == Cue::Refused {
            Activity::Blocked
        } else if self.turn {
            Activity::Waiting
        } else {
            Activity::Idle
        }
    }

    /// When the state may change with no new output: the end of the
    /// current burst of work.
    pub fn changes_at(&self, now: Instant) -> Option<Instant> {
        self.active_until().filter(|until| *until > now)
    }

    /// Move what it saw `by` into the past, as if that time had gone by
    /// (for tests of what depends on it).
    pub fn backdate(&mut self, by: Duration) {
        let back = |t: &mut Option<Instant>| {
            *t = t.and_then(|i| i.checked_sub(by));
        };
        back(&mut self.worked);
        back(&mut self.typed);
    }

    fn active_until(&self) -> Option<Instant> {
        self.worked.map(|w| w + QUIET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(base: Instant, n: u64) -> Instant {
        base + Duration::from_millis(n)
    }

    #[test]
    fn a_turn_works_then_waits_and_typing_starts_the_next() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Some(Template::Claude));
        t.output(t0, "> ", false, None);
        assert_eq!(t.state(ms(t0, 100)), Activity::Working, "starting up");
        assert_eq!(t.state(ms(t0, 2000)), Activity::Idle, "started, not asked");
        t.typed(ms(t0, 3000));
        t.output(ms(t0, 3010), "> Say hello", false, None);
        assert_eq!(t.state(ms(t0, 3100)), Activity::Idle, "an echo is not work");
        t.typed(ms(t0, 3500));
        for i in 0..30 {
            t.output(
                ms(t0, 3600 + i * 100),
                "✻ Thinking… (esc to interrupt)",
                false,
                None,
            );
            assert_eq!(t.state(ms(t0, 3650 + i * 100)), Activity::Working);
        }
        // The reply streams with the indicator gone, in chunks.
        for i in 0..10 {
            t.output(ms(t0, 6600 + i * 400), "⏺ Hello", false, None);
            assert_eq!(t.state(ms(t0, 6800 + i * 400)), Activity::Working);
        }
        assert_eq!(t.changes_at(ms(t0, 10300)), Some(ms(t0, 10200 + 1500)));
        assert_eq!(t.state(ms(t0, 12000)), Activity::Waiting, "turn over");
        t.typed(ms(t0, 13000));
        assert_eq!(t.state(ms(t0, 13001)), Activity::Idle);
    }

    #[test]
    fn a_redraw_after_a_resize_is_no_turn() {
        let t0 = Instant::now();
        let mut a = Tracker::new(None);
        a.typed(t0);
        a.output(ms(t0, 1000), "> ", false, None);
        // The turn ends; it waits.
        assert_eq!(a.state(ms(t0, 5000)), Activity::Waiting);
        a.typed(ms(t0, 6000));
        // Zoomed: the program redraws, then is quiet. Not a new turn.
        a.resized(ms(t0, 7000));
        a.output(ms(t0, 7050), "> ", false, None);
        assert_eq!(a.state(ms(t0, 9000)), Activity::Idle);
        // Output well after the resize is work again.
        a.output(ms(t0, 9000), "answer", false, None);
        assert_eq!(a.state(ms(t0, 9100)), Activity::Working);
    }

    #[test]
    fn a_dialog_waits_however_busy_the_screen_is() {
        let t0 = Instant::now();
        let mut t = Tracker::new(Some(Template::Codex));
        t.output(
            t0,
            "Would you like to run the following command?\n› 1. Yes, proceed",
            false,
            None,
        );
        assert_eq!(t.state(ms(t0, 1)), Activity::Waiting);
        t.output(ms(t0, 10), "• Working (3s • esc to interrupt)", false, None);
        assert_eq!(t.state(ms(t0, 20)), Activity::Working);
    }

    #[test]
    fn a_refusal_on_a_quiet_screen_is_blocked() {
        let t0 = Instant::now();
        let mut t = Tracker::new(None);
        t.typed(t0);
        t.output(
            ms(t0, 500),
            "403 Forbidden | bb egress blocked this request: host x is not in this bottle's egress allowlist",
            false,
            None,
        );
        assert_eq!(t.state(ms(t0, 600)), Activity::Working);
        assert_eq!(t.state(ms(t0, 2500)), Activity::Blocked);
        t.typed(ms(t0, 3000));
        t.output(ms(t0, 3400), "$ ", false, None);
        assert_eq!(t.state(ms(t0, 5000)), Activity::Waiting);
    }

    #[test]
    fn a_bell_or_notification_calls_for_you_until_you_type() {
        let t0 = Instant::now();
        let mut t = Tracker::new(None);
        t.output(t0, "$ ", true, None);
        assert_eq!(t.state(ms(t0, 5000)), Activity::Waiting);
        t.typed(ms(t0, 6000));
        assert_eq!(t.state(ms(t0, 6001)), Activity::Idle);
    }

    #[test]
    fn rules_are_per_provider_and_read_only_what_they_name() {
        assert_eq!(
            cue(Some(Template::Claude), "Do you want to proceed?"),
            Cue::Asking
        );
        assert_eq!(
            cue(Some(Template::Codex), "Do you want to proceed?"),
            Cue::Other
        );
        assert_eq!(cue(None, "esc to interrupt"), Cue::Other);
        let refusal = "fetch: HTTP/1.1 403 Forbidden | bb egress blocked this request: host pypi.org is not in this bottle's egress allowlist";
        assert_eq!(cue(None, refusal), Cue::Refused);
        assert_eq!(cue(Some(Template::Claude), refusal), Cue::Refused);
        assert_eq!(
            cue(
                Some(Template::Claude),
                &format!("{refusal}\n✻ Thinking… (esc to interrupt)")
            ),
            Cue::Busy,
            "still working on it"
        );
        assert_eq!(
            cue(Some(Template::Codex), "• Working (12s • Esc to interrupt)"),
            Cue::Busy
        );
    }
}

#[cfg(test)]
mod recorded {
    use super::*;
    use crate::session::Term;

    /// The real Claude Code answering one prompt (tests/panes/): read
    /// chunk by chunk as a pane would, its screen never says it asks, and
    /// after the turn, quiet, it waits for you.
    #[test]
    fn a_real_claude_code_turn_reads_as_work_then_waiting() {
        let bytes = include_bytes!("../../tests/panes/claude-code.bytes");
        let mut term = Term::new(38, 120, 1000);
        let t0 = Instant::now();
        let mut t = Tracker::new(Some(Template::Claude));
        // The prompt was typed before the reply came.
        t.typed(t0);
        for (i, chunk) in bytes.chunks(64).enumerate() {
            let _ = term.feed(chunk);
            let now = t0 + ECHO + Duration::from_millis(10 * i as u64);
            let bottom = term.bottom_text(BOTTOM_ROWS);
            t.output(now, &bottom, term.take_calls().any(), None);
            assert_ne!(
                cue(Some(Template::Claude), &bottom),
                Cue::Asking,
                "{bottom}"
            );
            assert_eq!(t.state(now), Activity::Working);
        }
        let end = t0 + ECHO + Duration::from_millis(10 * bytes.len() as u64 / 64) + QUIET;
        assert_eq!(t.state(end), Activity::Waiting);
    }

    /// The real Codex answering one prompt with its reply held 2.5 s: it
    /// says it works (OSC 7501 and its indicator) until the reply, then
    /// idle; quiet after that turn, it waits for you.
    #[test]
    fn a_real_codex_turn_reads_as_work_then_waiting() {
        let bytes = include_bytes!("../../tests/panes/codex.bytes");
        let mut term = Term::new(38, 120, 1000);
        let t0 = Instant::now();
        let mut t = Tracker::new(Some(Template::Codex));
        let mut saw = Vec::new();
        for (i, chunk) in bytes.chunks(64).enumerate() {
            let _ = term.feed(chunk);
            let now = t0 + Duration::from_millis(10 * i as u64);
            let bottom = term.bottom_text(BOTTOM_ROWS);
            let reported = term.reported_state();
            t.output(now, &bottom, term.take_calls().any(), reported.as_deref());
            assert_ne!(t.cue, Cue::Asking, "{bottom}");
            if saw.last() != Some(&t.cue) {
                saw.push(t.cue);
            }
        }
        assert!(saw.contains(&Cue::Busy), "its working indicator: {saw:?}");
        assert_eq!(saw.last(), Some(&Cue::Other), "idle at the end");
        assert_eq!(term.reported_state().as_deref(), Some("idle"));
        let end = t0 + Duration::from_millis(10 * bytes.len() as u64 / 64) + QUIET;
        assert_eq!(t.state(end), Activity::Waiting);
    }
}
