//! This process's terminal, for `labctl exec` with a TTY: raw mode while a
//! command runs in a node (restored however the command ends), and the
//! window size to give it.

use std::os::fd::AsRawFd;

/// Puts the terminal on stdin in raw mode until dropped.
pub(crate) struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    /// Raw mode, if stdin is a terminal.
    pub(crate) fn enable() -> Option<Self> {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: tcgetattr writes a termios into the zeroed value on success;
        // `fd` is this process's stdin, open for the whole call.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw only changes the flags of the value it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: a termios derived from the one the terminal gave.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(Self { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let fd = std::io::stdin().as_raw_fd();
        // SAFETY: restores the settings read from this same terminal.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &self.saved) };
    }
}

/// The terminal's size on stdout (rows, columns), if it is a terminal.
pub(crate) fn size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize; the zeroed value is valid input.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    let fd = std::io::stdout().as_raw_fd();
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } != 0 || ws.ws_row == 0 {
        return None;
    }
    Some((ws.ws_row, ws.ws_col))
}
