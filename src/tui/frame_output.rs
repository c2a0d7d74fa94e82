//! The outer terminal's output, written once per frame: a frame (with its
//! synchronized-update marks) reaches the terminal in one write, not one
//! per mark and one per flush, so the terminal wakes once for it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;

pub struct FrameOutput {
    out: File,
    buf: Vec<u8>,
    /// Inside a frame: flushes wait for its end.
    held: bool,
}

impl FrameOutput {
    /// The process's standard output, unbuffered underneath.
    pub fn stdout() -> io::Result<FrameOutput> {
        Ok(FrameOutput::to(File::from(
            io::stdout().as_fd().try_clone_to_owned()?,
        )))
    }

    pub fn to(out: File) -> FrameOutput {
        FrameOutput {
            out,
            buf: Vec::with_capacity(16 * 1024),
            held: false,
        }
    }

    /// Hold what is written until [`FrameOutput::release`].
    pub fn hold(&mut self) {
        self.held = true;
    }

    /// Write everything held, in one go.
    pub fn release(&mut self) -> io::Result<()> {
        self.held = false;
        self.flush()
    }
}

impl Write for FrameOutput {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.held || self.buf.is_empty() {
            return Ok(());
        }
        // What could not be written is dropped either way: a terminal that
        // failed once must not get a growing backlog.
        let wrote = self.out.write_all(&self.buf);
        self.buf.clear();
        wrote
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_held_frame_is_written_once_at_release() {
        let (mut r, w) = std::io::pipe().unwrap();
        let mut out = FrameOutput::to(File::from(std::os::fd::OwnedFd::from(w)));
        out.hold();
        out.write_all(b"begin ").unwrap();
        out.flush().unwrap();
        out.write_all(b"frame end").unwrap();
        assert!(out.buf.len() == 15, "held, not written");
        out.release().unwrap();
        out.write_all(b"; after").unwrap();
        out.flush().unwrap();
        drop(out);
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "begin frame end; after");
    }
}
