//! Running the workspace on the real terminal: set it up, restore it on
//! every way out (leave, panic, SIGTERM, SIGHUP), feed events to the app and
//! draw when something changed.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    EventStream,
};
use crossterm::terminal::{
    self, disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures_util::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use super::app::{App, Paths, Suspend};
use super::config::Config;
use super::effect::{self, Effect};
use super::event::{AppEvent, Edited, EgressEdit};
use super::frame_output::FrameOutput;
use super::painter::{Painter, Term};
use crate::backend::SharedBackend;
use crate::supervise;

/// The shortest time between two frames drawn for program output; keys,
/// and the output that answers a key (its echo), draw at once.
const FRAME: Duration = Duration::from_millis(16);
/// How long after a key its program's output counts as the key's echo.
const ECHO: Duration = Duration::from_millis(100);

fn setup() -> io::Result<Term> {
    enable_raw_mode()?;
    let mut out = io::stdout();
    execute!(
        out,
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste
    )?;
    // A fixed viewport, resized on the terminal's resize events: the
    // full-screen one asks the terminal its size on every frame.
    let (w, h) = terminal::size()?;
    Terminal::with_options(
        CrosstermBackend::new(FrameOutput::stdout()?),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, w, h)),
        },
    )
}

/// How long the outer terminal gets to tell its colours at start.
const COLOUR_QUERY_WAIT: Duration = Duration::from_millis(200);

/// Ask the outer terminal its colours (OSC 10 and 11), so programs in
/// panes that ask get them (a light or dark theme). DA1 goes last: every
/// terminal answers it, so its answer ends the wait; a terminal that
/// answers nothing costs at most COLOUR_QUERY_WAIT, once.
fn query_outer_colours() {
    use std::os::fd::AsRawFd;
    let fd = io::stdin().as_raw_fd();
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(fd) } != 1 {
        return;
    }
    let mut out = io::stdout();
    if out
        .write_all(b"\x1b]10;?\x1b\\\x1b]11;?\x1b\\\x1b[c")
        .and_then(|_| out.flush())
        .is_err()
    {
        return;
    }
    let deadline = Instant::now() + COLOUR_QUERY_WAIT;
    let mut got = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, alive for the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis() as i32) };
        if ready <= 0 {
            break;
        }
        let mut buf = [0u8; 512];
        // SAFETY: reads at most buf.len() bytes into a buffer we own.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        got.extend_from_slice(&buf[..n as usize]);
        let da1 = got
            .windows(3)
            .position(|w| w == b"\x1b[?")
            .is_some_and(|at| got[at..].contains(&b'c'));
        if da1 {
            break;
        }
    }
    if let Some(colours) = crate::session::parse_outer_colours(&got) {
        crate::session::set_outer_colours(colours);
    }
}

/// Put the user's terminal back as it was. Safe to call more than once.
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

/// A panic on the UI thread restores the terminal, prints one line and
/// appends the details to the logs; a panic in a background task is only
/// logged (the workspace goes on).
fn install_panic_hook(logs: PathBuf) {
    let ui_thread = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        let _ = std::fs::create_dir_all(&logs);
        let path = logs.join("crash.log");
        let when = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            let _ = writeln!(
                f,
                "--- {when} (unix time) thread {thread}\n{info}\n{backtrace}"
            );
        }
        if std::thread::current().id() == ui_thread {
            restore();
            // Not eprintln!: a second panic here (no terminal) aborts.
            let _ = writeln!(
                io::stderr(),
                "bb crashed: {}; bottles keep running; details in {}",
                info.to_string().lines().next().unwrap_or("panic"),
                path.display()
            );
        }
    }));
}

/// Open the workspace and run it until the user leaves. `attach`: a bottle
/// (just launched by `bb start`) to focus and start a session in.
pub async fn run(
    paths: Paths,
    config: Config,
    backends: Vec<SharedBackend>,
    attach: Option<String>,
) -> anyhow::Result<usize> {
    install_panic_hook(crate::home::logs_dir(&paths.home));
    let mut painter = Painter::new(setup()?);
    query_outer_colours();
    let result = event_loop(&mut painter, paths, config, backends, attach).await;
    restore();
    // When the outer terminal is gone (closed window: SIGHUP), ratatui's
    // Drop would report the failed cursor restore with eprintln!, which
    // panics on a dead tty; then there is nothing left to restore.
    if !painter.show_cursor() {
        std::mem::forget(painter);
    }
    result
}

/// The workspace's sources other than the keyboard: signals and each
/// backend's bottles, each on its own task. (Each bottle's own state is
/// followed by an effect, once the bottle is listed.)
fn spawn_sources(tx: &UnboundedSender<AppEvent>, backends: &[SharedBackend]) {
    for (kind, name) in [
        (tokio::signal::unix::SignalKind::terminate(), "SIGTERM"),
        (tokio::signal::unix::SignalKind::hangup(), "SIGHUP"),
    ] {
        let t = tx.clone();
        if let Ok(mut sig) = tokio::signal::unix::signal(kind) {
            tokio::spawn(async move {
                if sig.recv().await.is_some() {
                    let _ = t.send(AppEvent::Signal(name));
                }
            });
        }
    }
    let t = tx.clone();
    let all = backends.to_vec();
    tokio::spawn(async move {
        // Asked all at once: a slow answer does not hold up the others.
        let checks = all
            .iter()
            .map(|b| async move { b.unavailable().await.is_none().then(|| b.place()) });
        let usable: Vec<_> = futures_util::future::join_all(checks)
            .await
            .into_iter()
            .flatten()
            .collect();
        let _ = t.send(AppEvent::Usable(usable.clone()));
        for b in all {
            let ok = usable.contains(&b.place());
            tokio::spawn(follow(t.clone(), b, ok));
        }
    });
}

/// How long a backend may take to list its bottles before it counts as
/// not answering (its engine cut off hangs rather than fails).
const LIST_PATIENCE: Duration = Duration::from_secs(8);
/// How often an engine that shows bottles is asked whether it answers.
const HEARTBEAT: Duration = Duration::from_secs(3);
/// The longest wait before asking again an engine that does not answer.
const RETRY_MAX: Duration = Duration::from_secs(8);

/// One backend's bottles: listed at start, again whenever they may have
/// changed; when it stops answering, said (its bottles are unreachable,
/// not gone), and asked again, less and less often, until it answers. A
/// backend without an engine that cannot run bottles here is listed once.
async fn follow(t: UnboundedSender<AppEvent>, b: SharedBackend, usable: bool) {
    let mut down_for: Option<Duration> = None;
    loop {
        if let Some(wait) = down_for {
            tokio::time::sleep(wait).await;
        }
        let since = std::time::SystemTime::now();
        let listed = match tokio::time::timeout(LIST_PATIENCE, b.list()).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(_) => Err(format!("no answer in {} s", LIST_PATIENCE.as_secs())),
        };
        let sent = match listed {
            Ok(found) => {
                down_for = None;
                t.send(AppEvent::Discovered(b.place(), found))
            }
            Err(why) => {
                down_for =
                    Some(down_for.map_or(crate::backend::LIST_POLL, |d| (d * 2).min(RETRY_MAX)));
                t.send(AppEvent::Unreachable(b.place(), why))
            }
        };
        if sent.is_err() || (!usable && b.engine().is_none()) {
            return;
        }
        if down_for.is_some() {
            continue;
        }
        // Until its bottles may have changed, or it stops answering.
        tokio::select! {
            () = b.changed(since) => {}
            () = heartbeat(&b) => {
                down_for = Some(crate::backend::LIST_POLL);
                let why = "it stopped answering".to_string();
                if t.send(AppEvent::Unreachable(b.place(), why)).is_err() {
                    return;
                }
            }
        }
    }
}

/// Returns when `b` stops answering.
async fn heartbeat(b: &SharedBackend) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        if !b.alive().await {
            return;
        }
    }
}

/// The next event from the terminal; never, while the keyboard is let go
/// (another program has the terminal) or after the terminal is gone.
async fn next_key(keys: &mut Option<EventStream>) -> AppEvent {
    if let Some(stream) = keys {
        match stream.next().await {
            Some(Ok(ev)) => return AppEvent::Term(ev),
            _ => *keys = None,
        }
    }
    std::future::pending().await
}

/// Whether a write failed because the outer terminal is gone (a closed
/// window: the tty answers EIO, or the pipe is broken).
fn terminal_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || e.raw_os_error() == Some(libc::EIO)
}

fn is_input(ev: &AppEvent) -> bool {
    matches!(ev, AppEvent::Term(_))
}

async fn event_loop(
    painter: &mut Painter,
    paths: Paths,
    config: Config,
    backends: Vec<SharedBackend>,
    attach: Option<String>,
) -> anyhow::Result<usize> {
    let (tx, mut rx) = unbounded_channel();
    spawn_sources(&tx, &backends);
    // The keyboard is read here, not on a task of its own: a key wakes
    // this loop directly, one thread hop sooner.
    let mut keys = Some(EventStream::new());
    let size = painter.size()?;
    let mut app = App::new(
        paths,
        config,
        backends,
        Rect::new(0, 0, size.width, size.height),
        tx.clone(),
    );
    app.attach_on_discovery = attach;
    let mut last_draw = Instant::now() - FRAME;
    let mut keyed: Option<Instant> = None;
    loop {
        // Sleep until an event, the next frame a change waits for, or the
        // app's next timed work; an idle workspace does not wake.
        let frame = app.needs_draw().then(|| last_draw + FRAME);
        let due = [frame, app.next_due()].into_iter().flatten().min();
        let wake = async {
            match due {
                Some(due) => tokio::time::sleep_until(due.into()).await,
                None => std::future::pending().await,
            }
        };
        let ev = tokio::select! {
            ev = rx.recv() => ev,
            key = next_key(&mut keys) => Some(key),
            _ = wake => Some(AppEvent::Tick),
        };
        let Some(ev) = ev else { break };
        let mut input = is_input(&ev);
        let mut effects = app.update(ev);
        while let Ok(ev) = rx.try_recv() {
            input |= is_input(&ev);
            effects.extend(app.update(ev));
        }
        input |= perform(painter, &mut app, effects, &tx, &mut keys).await?;
        if app.quit {
            break;
        }
        let echo = !input && keyed.is_some_and(|at| at.elapsed() < ECHO);
        if input {
            keyed = Some(Instant::now());
        }
        if app.needs_draw() && (input || echo || last_draw.elapsed() >= FRAME) {
            // The answer is the program's output: a frame without any (a
            // debounced resize applied) leaves the answer to come at once.
            if echo && app.pane_changed {
                keyed = None;
            }
            let whole = app.dirty;
            app.drawn();
            last_draw = Instant::now();
            if let Err(e) = painter.frame(&app, whole) {
                // The outer terminal closed before its SIGHUP reached the
                // loop: leave as the hang-up would, cleanly.
                if terminal_gone(&e) {
                    break;
                }
                return Err(e.into());
            }
        }
    }
    Ok(app
        .entries
        .iter()
        .filter(|e| e.backend != crate::plan::BackendKind::Local)
        .count())
}

/// The one runner of what `update` asks for: background work is spawned
/// (its results come back as events); what needs the terminal is done
/// here, between frames. Whether the terminal was handed over.
async fn perform(
    painter: &mut Painter,
    app: &mut App,
    effects: Vec<Effect>,
    tx: &UnboundedSender<AppEvent>,
    keys: &mut Option<EventStream>,
) -> anyhow::Result<bool> {
    let mut queue: std::collections::VecDeque<Effect> = effects.into();
    let mut suspended = false;
    while let Some(effect) = queue.pop_front() {
        match effect::spawn(effect, tx) {
            None => {}
            Some(Effect::Outer(bytes)) => {
                painter.write_outer(&bytes);
            }
            Some(Effect::Suspend(job)) => {
                // What the operator did in the editor is an event like any
                // other; what it asks for joins the queue.
                // Let go of the keyboard (dropping the stream stops
                // crossterm's reader), so nothing typed in the editor
                // reaches bb or an agent.
                *keys = None;
                let edited = run_suspended(painter, app, job).await;
                *keys = Some(EventStream::new());
                let edited = edited?;
                queue.extend(app.update(AppEvent::Edited(edited)));
                suspended = true;
            }
            Some(_) => {}
        }
    }
    Ok(suspended)
}

/// Hand the terminal to $EDITOR, then take it back; what was edited.
async fn run_suspended(
    painter: &mut Painter,
    app: &mut App,
    job: Suspend,
) -> anyhow::Result<Edited> {
    Ok(match job {
        Suspend::EditEgress(slug) => {
            let result = edit_egress(painter, app, &slug).await?;
            Edited::Egress { slug, result }
        }
        Suspend::EditProposal(p) => {
            let dir = crate::home::edits_dir(&app.paths.home)?;
            let path = dir.join(format!("proposal-{}-{}.yaml", p.slug, p.id));
            let result = edit_text(painter, app, &path, &supervise::edit::render(&p.request))?
                .and_then(|text| {
                    supervise::edit::parse(&p.request, &text)
                        .map_err(|e| format!("the edited change is invalid ({e})"))
                });
            Edited::Proposal {
                proposal: p,
                result,
            }
        }
    })
}

/// Let the operator edit `initial` in $EDITOR (via a file at `path`,
/// removed after); the edited text, or why there is none.
fn edit_text(
    painter: &mut Painter,
    app: &mut App,
    path: &std::path::Path,
    initial: &str,
) -> anyhow::Result<Result<String, String>> {
    if let Err(e) = std::fs::write(path, initial) {
        return Ok(Err(format!("cannot write {}: {e}", path.display())));
    }
    let ran = run_editor(painter, path)?;
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    let size = terminal::size()?;
    app.area = Rect::new(0, 0, size.0, size.1);
    app.dirty = true;
    Ok(ran.map(|()| text))
}

/// Run $EDITOR on `path`, the terminal handed over and taken back.
fn run_editor(painter: &mut Painter, path: &std::path::Path) -> anyhow::Result<Result<(), String>> {
    restore();
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_string());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(path)
        .status();
    // Cleared (not by `clear()`: it asks the terminal for the cursor
    // position, and the event reader would swallow the answer).
    painter.restart(setup()?)?;
    Ok(match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("{editor} exited with {s}")),
        Err(e) => Err(format!("cannot run {editor}: {e} (set $EDITOR)")),
    })
}

/// `e`: the bottle's live routes in $EDITOR, validated by the manifest's
/// rules; the edit (None: unchanged), or why there is none.
async fn edit_egress(
    painter: &mut Painter,
    app: &mut App,
    slug: &str,
) -> anyhow::Result<Result<Option<EgressEdit>, String>> {
    let live = match app.backend_of(slug) {
        Some(backend) => backend.live_egress(slug).await.map_err(|e| e.to_string()),
        None => Err(format!("no backend runs {slug}")),
    };
    let live = match live {
        Ok(e) => e,
        Err(e) => return Ok(Err(e)),
    };
    let before = crate::manifest::render_egress_block(&live);
    let path = crate::home::edits_dir(&app.paths.home)?.join(format!("egress-{slug}.yaml"));
    let header = format!(
        "# The live egress of {slug}, in the manifest's shape. Save and quit to apply\n# (validated first, then egress reloads; open connections stay up).\n"
    );
    // An invalid edit opens again with the error on top and the
    // operator's text kept; leaving it as it was gives up.
    let mut shown = format!("{header}{before}");
    let egress = loop {
        let text = match edit_text(painter, app, &path, &shown)? {
            Ok(t) => t,
            Err(e) => return Ok(Err(format!("{e}; nothing changed"))),
        };
        let e = match crate::manifest::parse_egress_block(&text) {
            Ok(egress) => break egress,
            Err(e) => e,
        };
        if text == shown {
            return Ok(Err(format!(
                "the edited egress is invalid ({e}); nothing changed"
            )));
        }
        let kept: String = text
            .lines()
            .filter(|l| !l.starts_with("# INVALID"))
            .map(|l| format!("{l}\n"))
            .collect();
        shown = format!(
            "# INVALID: {}\n# INVALID: fix it and save, or quit without saving to give up.\n{kept}",
            e.to_string().replace('\n', " ")
        );
    };
    let after = crate::manifest::render_egress_block(&egress);
    Ok(Ok((after != before).then_some(EgressEdit {
        egress,
        before,
        after,
    })))
}
