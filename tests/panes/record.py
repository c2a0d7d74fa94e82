#!/usr/bin/env python3
"""Record what a program writes to its terminal, at a given size, into a
file the pane fidelity test replays (tests/pane_fidelity.rs).

    python3 tests/panes/record.py ROWS COLS OUT [--type SECS TEXT]...
                                  [--stop SECS] -- PROGRAM [ARGS...]

The program runs in a fresh PTY with TERM=xterm-256color. `--type` writes
TEXT (Python escapes: \\r is Enter) SECS seconds after the start; `--stop`
ends the recording (and the program) then. Without them nothing is typed
and the program must end by itself.
"""
import fcntl, os, pty, select, signal, struct, sys, termios, time

rows, cols, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
opts = sys.argv[4:sys.argv.index("--")]
argv = sys.argv[sys.argv.index("--") + 1:]
steps, stop = [], None
i = 0
while i < len(opts):
    if opts[i] == "--type":
        steps.append((float(opts[i + 1]), opts[i + 2].encode().decode("unicode_escape").encode()))
        i += 3
    elif opts[i] == "--stop":
        stop = float(opts[i + 1])
        i += 2
    else:
        sys.exit(f"record.py: unknown option {opts[i]}")
steps.sort()

pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm-256color"
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
start = time.monotonic()
data = b""
while True:
    now = time.monotonic() - start
    while steps and steps[0][0] <= now:
        os.write(fd, steps.pop(0)[1])
    if stop is not None and now >= stop:
        os.kill(pid, signal.SIGKILL)
        break
    ready, _, _ = select.select([fd], [], [], 0.05)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
os.waitpid(pid, 0)
open(out, "wb").write(data)
