#!/usr/bin/env python3
"""Record what a program writes to its terminal, at a given size, into a
file the pane fidelity test replays (tests/pane_fidelity.rs).

    python3 tests/panes/record.py ROWS COLS OUT -- PROGRAM [ARGS...]

The program runs in a fresh PTY with TERM=xterm-256color; nothing is typed
into it, so it must end by itself.
"""
import fcntl, os, pty, struct, sys, termios

rows, cols, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
argv = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm-256color"
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
data = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
os.waitpid(pid, 0)
open(out, "wb").write(data)
