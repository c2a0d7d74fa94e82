//! The agent's console: a small session holder, the agent container's
//! main process. It runs the agent CLI in a PTY it owns and keeps the
//! screen (and history) in an emulator, so a session that attaches later
//! gets the screen as it is now, then the live output, and leaving never
//! ends the agent. Sessions reach it through `console attach`, which relays
//! a session's stdin and stdout (a `docker exec`) to the holder's socket.
//!
//! A session sends frames (keys, window sizes) and receives plain terminal
//! output. Its first frame is its window size: the agent starts at the
//! first session's size, and each new session's snapshot is drawn at its
//! own size.

use std::io::{self, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};

pub mod cli;
mod screen;
use screen::Screen;

/// Where the holder listens, inside the agent container.
pub const SOCKET: &str = "/tmp/bb-console.sock";
/// Where bb puts the holder (`bb-console`) in the agent container.
pub const GUEST_BINARY: &str = "/opt/bb/bb-console";
/// Where an older bb put it (then the whole `bb-sidecar`): bottles it
/// started still run it, and answer a session as the new one does.
pub const LEGACY_GUEST_BINARY: &str = "/opt/bb/bb-sidecar";
/// History the holder keeps for a session that attaches later.
pub const SCROLLBACK: usize = 5_000;

const INPUT: u8 = 0;
const RESIZE: u8 = 1;
/// Larger frames are a broken client, not keys.
const MAX_FRAME: usize = 1 << 20;
/// Output chunks queued for a session that does not read; past this it is
/// dropped (it can attach again) rather than stalling the agent.
const QUEUE: usize = 4096;

/// What a session sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Input(Vec<u8>),
    Resize { rows: u16, cols: u16 },
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Input(bytes) => {
                let mut out = Vec::with_capacity(5 + bytes.len());
                out.push(INPUT);
                out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
                out.extend_from_slice(bytes);
                out
            }
            Frame::Resize { rows, cols } => {
                let mut out = vec![RESIZE];
                out.extend_from_slice(&rows.to_be_bytes());
                out.extend_from_slice(&cols.to_be_bytes());
                out
            }
        }
    }
}

/// Frames out of a byte stream, however it is split.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame; an error for a stream that is not frames.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let Some(&kind) = self.buf.first() else {
            return Ok(None);
        };
        match kind {
            INPUT => {
                let Some(len) = self.buf.get(1..5) else {
                    return Ok(None);
                };
                let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                if len > MAX_FRAME {
                    return Err(bad("an input frame over 1 MiB"));
                }
                if self.buf.len() < 5 + len {
                    return Ok(None);
                }
                let bytes = self.buf[5..5 + len].to_vec();
                self.buf.drain(..5 + len);
                Ok(Some(Frame::Input(bytes)))
            }
            RESIZE => {
                let Some(b) = self.buf.get(1..5) else {
                    return Ok(None);
                };
                let rows = u16::from_be_bytes([b[0], b[1]]).max(1);
                let cols = u16::from_be_bytes([b[2], b[3]]).max(1);
                self.buf.drain(..5);
                Ok(Some(Frame::Resize { rows, cols }))
            }
            _ => Err(bad("not a console frame")),
        }
    }
}

struct Shared {
    /// None until the first session gives a size and the agent starts.
    screen: Option<Screen>,
    master: Option<Box<dyn MasterPty + Send>>,
    sessions: Vec<(u64, SyncSender<Arc<[u8]>>)>,
    /// Taken by the session whose size starts the agent.
    start: Option<mpsc::Sender<(u16, u16)>>,
    next_id: u64,
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Input = Arc<Mutex<Option<Box<dyn Write + Send>>>>;

/// Apply a session's window size: start the agent at it, or resize.
fn apply_size(shared: &Mutex<Shared>, rows: u16, cols: u16) {
    let mut s = lock(shared);
    if let Some(start) = s.start.take() {
        let _ = start.send((rows, cols));
        return;
    }
    if let Some(master) = &s.master {
        let _ = master.resize(PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        });
    }
    if let Some(screen) = s.screen.as_mut() {
        screen.resize(rows, cols);
    }
}

fn session(stream: UnixStream, shared: Arc<Mutex<Shared>>, input: Input) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = stream;
    let mut decoder = Decoder::default();
    let mut buf = [0u8; 8192];
    let mut id = None;
    let (tx, rx) = mpsc::sync_channel::<Arc<[u8]>>(QUEUE);
    let mut tx = Some(tx);
    std::thread::spawn(move || {
        for chunk in rx {
            if out.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = out.shutdown(std::net::Shutdown::Both);
    });
    'read: loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        decoder.push(&buf[..n]);
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            if let Frame::Resize { rows, cols } = frame {
                apply_size(&shared, rows, cols);
            }
            // Joined after its first frame (its size): the screen it is
            // sent is drawn at that size, and output follows from there.
            if let Some(tx) = tx.take() {
                let mut s = lock(&shared);
                let snap = s.screen.as_mut().map(Screen::snapshot).unwrap_or_default();
                let _ = tx.try_send(snap.into());
                let n = s.next_id;
                s.next_id += 1;
                s.sessions.push((n, tx));
                id = Some(n);
            }
            if let Frame::Input(bytes) = frame {
                let mut w = input.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(w) = w.as_mut() {
                    let _ = w.write_all(&bytes).and_then(|_| w.flush());
                }
            }
        }
    }
    if let Some(id) = id {
        lock(&shared).sessions.retain(|(n, _)| *n != id);
    }
}

/// Hold `argv` (the agent) until it exits; its exit code.
pub fn serve(socket: &Path, argv: &[String]) -> io::Result<i32> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command to hold"))?;
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    }
    let (start_tx, start_rx) = mpsc::channel();
    let shared = Arc::new(Mutex::new(Shared {
        screen: None,
        master: None,
        sessions: Vec::new(),
        start: Some(start_tx),
        next_id: 0,
    }));
    let input: Input = Arc::new(Mutex::new(None));
    {
        let shared = shared.clone();
        let input = input.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                let input = input.clone();
                std::thread::spawn(move || session(stream, shared, input));
            }
        });
    }
    let (rows, cols) = start_rx
        .recv()
        .map_err(|_| io::Error::other("the listener ended before a session came"))?;
    let size = PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    };
    let pair = native_pty_system()
        .openpty(size)
        .map_err(|e| io::Error::other(e.to_string()))?;
    let mut cmd = CommandBuilder::new(program);
    cmd.args(args);
    if let Ok(dir) = std::env::current_dir() {
        cmd.cwd(dir);
    }
    let mut child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| io::Error::other(e.to_string()))?;
    drop(pair.slave);
    let mut reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| io::Error::other(e.to_string()))?;
    *input.lock().unwrap_or_else(|p| p.into_inner()) = Some(
        pair.master
            .take_writer()
            .map_err(|e| io::Error::other(e.to_string()))?,
    );
    {
        let mut s = lock(&shared);
        s.screen = Some(Screen::new(rows, cols, SCROLLBACK));
        s.master = Some(pair.master);
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk: Arc<[u8]> = buf[..n].into();
        let mut s = lock(&shared);
        if let Some(screen) = s.screen.as_mut() {
            screen.feed(&chunk);
        }
        // A session that cannot keep up is let go, not waited for.
        s.sessions
            .retain(|(_, tx)| tx.try_send(chunk.clone()).is_ok());
    }
    let status = child.wait()?;
    // Sessions see the end of the stream and the container stops.
    lock(&shared).sessions.clear();
    Ok(status.exit_code() as i32)
}

/// Whether a holder answers on `socket` (a second `serve` would start a
/// second agent).
pub fn held(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// Connect to the holder, waiting a little for one that is starting.
fn connect(socket: &Path) -> io::Result<UnixStream> {
    let started = Instant::now();
    loop {
        match UnixStream::connect(socket) {
            Ok(s) => return Ok(s),
            Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Copy the holder's output to stdout until either ends.
fn relay_down(mut down: UnixStream) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match down.read(&mut buf) {
            Ok(0) | Err(_) => return Ok(()),
            Ok(n) => {
                stdout.write_all(&buf[..n])?;
                stdout.flush()?;
            }
        }
    }
}

/// Relay this process's stdin and stdout (a session's `docker exec`) to
/// the holder: stdin carries frames already.
pub fn attach(socket: &Path) -> io::Result<()> {
    let stream = connect(socket)?;
    let mut up = stream.try_clone()?;
    // The session left (stdin closed): so does the relay, at once.
    std::thread::spawn(move || {
        let _ = io::copy(&mut io::stdin().lock(), &mut up);
        std::process::exit(0);
    });
    relay_down(stream)
}

/// Relay a terminal to the holder (a session through `smolvm machine exec
/// -it`, whose guest PTY is this process's stdin): keys become input
/// frames, and the terminal's size, at the start and on each SIGWINCH,
/// becomes a resize frame. The window size travels the way the terminal
/// itself carries it, so there is no side channel.
pub fn attach_tty(socket: &Path) -> io::Result<()> {
    let stream = connect(socket)?;
    let raw = tty::Raw::enter(0)?;
    let up = Arc::new(Mutex::new(stream.try_clone()?));
    let send = |up: &Mutex<UnixStream>, frame: Frame| {
        let mut s = up.lock().unwrap_or_else(|p| p.into_inner());
        s.write_all(&frame.encode())
    };
    let (rows, cols) = tty::size(0)?;
    send(&up, Frame::Resize { rows, cols })?;
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGWINCH])?;
    {
        let up = up.clone();
        std::thread::spawn(move || {
            for _ in signals.forever() {
                let Ok((rows, cols)) = tty::size(0) else {
                    continue;
                };
                if send(&up, Frame::Resize { rows, cols }).is_err() {
                    break;
                }
            }
        });
    }
    {
        let up = up.clone();
        std::thread::spawn(move || {
            let mut stdin = io::stdin().lock();
            let mut buf = [0u8; 8192];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if send(&up, Frame::Input(buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
            let s = up.lock().unwrap_or_else(|p| p.into_inner());
            let _ = s.shutdown(std::net::Shutdown::Both);
        });
    }
    let result = relay_down(stream);
    drop(raw);
    result
}

/// The terminal a tty relay runs in: raw mode (restored on drop) and its
/// window size.
mod tty {
    use std::io;

    pub struct Raw {
        fd: i32,
        saved: libc::termios,
    }

    impl Raw {
        pub fn enter(fd: i32) -> io::Result<Raw> {
            // SAFETY: termios is plain data, filled by tcgetattr before use.
            let mut saved: libc::termios = unsafe { std::mem::zeroed() };
            // SAFETY: fd is this process's stdin; saved is a valid pointer.
            if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
                return Err(io::Error::last_os_error());
            }
            let mut raw = saved;
            // SAFETY: raw is a valid termios.
            unsafe { libc::cfmakeraw(&mut raw) };
            // SAFETY: as above.
            if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Raw { fd, saved })
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            // SAFETY: restores what enter read from the same fd.
            unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
        }
    }

    /// (rows, cols) of the terminal on `fd`.
    pub fn size(fd: i32) -> io::Result<(u16, u16)> {
        // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: fd is a terminal fd of this process; ws is valid.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((ws.ws_row.max(1), ws.ws_col.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_any_split() {
        let frames = vec![
            Frame::Resize { rows: 24, cols: 80 },
            Frame::Input(b"hello\r".to_vec()),
            Frame::Input(Vec::new()),
            Frame::Resize { rows: 0, cols: 3 },
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        for split in 0..bytes.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in [&bytes[..split], &bytes[split..]] {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            // A zero size is no size: at least one row and column.
            let mut want = frames.clone();
            want[3] = Frame::Resize { rows: 1, cols: 3 };
            assert_eq!(got, want, "split at {split}");
        }
        let mut d = Decoder::default();
        d.push(b"GET / HTTP/1.1");
        assert!(d.next_frame().is_err());
        let mut d = Decoder::default();
        d.push(&[INPUT, 0xff, 0xff, 0xff, 0xff]);
        assert!(d.next_frame().is_err());
    }
}
