"""A curses screen: a boxed window with a title, a list and a status line,
drawn with the terminal's line-drawing characters (as dialog, mc and htop
draw theirs)."""
import curses, os, time

def main(scr):
    curses.start_color()
    curses.use_default_colors()
    curses.init_pair(1, curses.COLOR_YELLOW, curses.COLOR_BLUE)
    time.sleep(0.3)  # the recorder sets the size first
    rows, cols = scr.getmaxyx()
    scr.box()
    scr.addstr(0, 2, " Files ", curses.A_BOLD)
    win = curses.newwin(8, 30, 3, 4)
    win.box()
    for i, name in enumerate(["README.md", "src/main.rs", "Cargo.toml"]):
        win.addstr(1 + i, 2, name, curses.A_REVERSE if i == 1 else 0)
    win.hline(5, 1, curses.ACS_HLINE, 28)
    win.addch(5, 0, curses.ACS_LTEE)
    win.addch(5, 29, curses.ACS_RTEE)
    win.addstr(6, 2, "3 files", curses.color_pair(1))
    scr.addstr(rows - 2, 2, "q quit  %dx%d" % (cols, rows), curses.A_UNDERLINE)
    scr.noutrefresh()
    win.noutrefresh()
    curses.doupdate()

scr = curses.initscr()
main(scr)
# Leave without endwin: the recording ends on the curses screen, as a pane
# shows it while the program runs.
os._exit(0)
