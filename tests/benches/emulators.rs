//! The pane emulator, measured against the one it replaced: throughput on
//! output agents and tools produce, and memory per pane with a full
//! history, for alacritty_terminal (behind `bb::session::Term`, as panes
//! use it) and vt100 0.18 (the first emulator). Same process, same bytes.
//! Memory per pane is also measured in tmux (the reference terminal),
//! where it is installed: its server's growth with panes holding the same
//! history.
//!
//! `cargo bench --bench emulators`. Printed as MB/s and KB, with ratios.

use std::time::Instant;

const ROWS: u16 = 38;
const COLS: u16 = 120;
const HISTORY: usize = 10_000;

fn rss_kb() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4)
}

/// A tmux server's resident memory, KB.
fn tmux_rss_kb(socket: &str) -> Option<usize> {
    let out = std::process::Command::new("tmux")
        .args(["-L", socket, "display", "-p", "#{pid}"])
        .output()
        .ok()?;
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// tmux's memory per pane: (with `history` shown and scrolled into its
/// history, empty), KB, each the server's growth over `panes` panes.
fn tmux_pane_kb(history: &[u8], panes: usize) -> Option<(usize, usize)> {
    let dir = tempfile::tempdir().ok()?;
    let file = dir.path().join("history");
    std::fs::write(&file, history).ok()?;
    let socket = format!("bb-emulators-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .args(["-L", &socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let (rows, cols) = (ROWS.to_string(), COLS.to_string());
    tmux(&["new-session", "-d", "-x", &cols, "-y", &rows, "sleep 600"])?;
    let result = (|| {
        tmux(&["set", "-g", "history-limit", &HISTORY.to_string()])?;
        let grow = |program: &str, wait_history: bool| -> Option<usize> {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let before = tmux_rss_kb(&socket)?;
            for _ in 0..panes {
                tmux(&["new-window", "-d", program])?;
            }
            if wait_history {
                // Until every new pane holds the whole history.
                for _ in 0..600 {
                    let out = tmux(&["list-panes", "-a", "-F", "#{history_size}"])?;
                    let full = String::from_utf8_lossy(&out.stdout)
                        .lines()
                        .filter(|l| l.trim() == HISTORY.to_string())
                        .count();
                    if full >= panes {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            } else {
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            Some(tmux_rss_kb(&socket)?.saturating_sub(before) / panes)
        };
        let empty = grow("sleep 600", false)?;
        let full = grow(&format!("cat {}; sleep 600", file.display()), true)?;
        Some((full, empty))
    })();
    tmux(&["kill-server"]);
    result
}

fn streams() -> Vec<(&'static str, Vec<u8>)> {
    let seq: Vec<u8> = (1..=2_000_000)
        .map(|i| format!("{i}\r\n"))
        .collect::<String>()
        .into_bytes();
    let mut coloured = Vec::new();
    let mut i = 0u32;
    while coloured.len() < 50_000_000 {
        coloured.extend_from_slice(
            format!(
                "\x1b[3{}m{:<70}\x1b[0m word {i}\r\n",
                i % 8,
                "the quick brown fox jumps over the lazy dog"
            )
            .as_bytes(),
        );
        i += 1;
    }
    // A full-screen program redrawing in place (an Ink-style frame).
    let mut redraw = Vec::new();
    let mut frame = 0u32;
    while redraw.len() < 20_000_000 {
        redraw.extend_from_slice(b"\x1b[?2026h\x1b[H");
        for row in 1..=ROWS {
            redraw.extend_from_slice(
                format!(
                    "\x1b[{row};1H\x1b[K\x1b[1;3{}m│\x1b[0m frame {frame} row {row} {:>60}",
                    row % 8,
                    "·"
                )
                .as_bytes(),
            );
        }
        redraw.extend_from_slice(b"\x1b[?2026l");
        frame += 1;
    }
    vec![
        ("seq 1 2000000", seq),
        ("50 MB of coloured lines", coloured),
        ("20 MB of synchronized redraws", redraw),
    ]
}

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn main() {
    println!("pane emulator: alacritty_terminal (bb's Term) vs vt100 0.18, {COLS}x{ROWS}");
    for (name, bytes) in streams() {
        let mut term = bb::session::Term::new(ROWS, COLS, HISTORY);
        let start = Instant::now();
        for chunk in bytes.chunks(4096) {
            term.feed(chunk);
        }
        let ours = mb_per_s(bytes.len(), start.elapsed().as_secs_f64());
        let mut vt = vt100::Parser::new(
            ROWS.try_into().unwrap_or(std::num::NonZeroU16::MIN),
            COLS.try_into().unwrap_or(std::num::NonZeroU16::MIN),
            HISTORY,
        );
        let start = Instant::now();
        for chunk in bytes.chunks(4096) {
            vt.process(chunk);
        }
        let theirs = mb_per_s(bytes.len(), start.elapsed().as_secs_f64());
        println!(
            "  {name:<32} bb {ours:>7.1} MB/s   vt100 {theirs:>7.1} MB/s   {:.2}x",
            ours / theirs
        );
    }
    let history: Vec<u8> = (0..HISTORY + 100)
        .map(|i| format!("line {i:>6} {}\r\n", "x".repeat(50)))
        .collect::<String>()
        .into_bytes();
    let panes = 10;
    let before = rss_kb();
    let ours: Vec<_> = (0..panes)
        .map(|_| {
            let mut t = bb::session::Term::new(ROWS, COLS, HISTORY);
            t.feed(&history);
            t
        })
        .collect();
    let ours_kb = (rss_kb() - before) / panes;
    let before = rss_kb();
    let theirs: Vec<_> = (0..panes)
        .map(|_| {
            let mut p = vt100::Parser::new(
                ROWS.try_into().unwrap_or(std::num::NonZeroU16::MIN),
                COLS.try_into().unwrap_or(std::num::NonZeroU16::MIN),
                HISTORY,
            );
            p.process(&history);
            p
        })
        .collect();
    let theirs_kb = (rss_kb() - before) / panes;
    println!(
        "  memory per pane, {HISTORY} lines of history: bb {ours_kb} KB   vt100 {theirs_kb} KB   {:.2}x",
        ours_kb as f64 / theirs_kb.max(1) as f64
    );
    match tmux_pane_kb(&history, panes) {
        Some((full, empty)) => println!(
            "  tmux, same history: {full} KB per pane (bb/tmux {:.2}x); empty pane {empty} KB",
            ours_kb as f64 / full.max(1) as f64
        ),
        None => println!("  tmux is not installed: no reference for memory per pane"),
    }
    drop((ours, theirs));
    let before = rss_kb();
    let empty: Vec<_> = (0..100)
        .map(|_| bb::session::Term::new(ROWS, COLS, HISTORY))
        .collect();
    let ours_kb = (rss_kb() - before) / 100;
    let before = rss_kb();
    let empty_vt: Vec<_> = (0..100)
        .map(|_| {
            vt100::Parser::new(
                ROWS.try_into().unwrap_or(std::num::NonZeroU16::MIN),
                COLS.try_into().unwrap_or(std::num::NonZeroU16::MIN),
                HISTORY,
            )
        })
        .collect();
    let theirs_kb = (rss_kb() - before) / 100;
    println!("  memory per empty pane: bb {ours_kb} KB   vt100 {theirs_kb} KB");
    drop((empty, empty_vt));
}
