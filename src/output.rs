//! What the user sees while labctl works: progress on stderr (animated only
//! on a terminal, silent with `--quiet`), results on stdout.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress reporting for one command. The spinner appears only once
/// there is something going on to show, so that a command that only prints
/// a result (a table) leaves no stray line above it.
pub struct Progress {
    spinner: std::sync::Mutex<Option<ProgressBar>>,
    animated: bool,
    quiet: bool,
}

impl Progress {
    /// A spinner on a terminal, plain lines otherwise, nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            spinner: std::sync::Mutex::new(None),
            animated: !quiet && std::io::stderr().is_terminal(),
            quiet,
        }
    }

    fn spinner(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.spinner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What is going on now (shown on a terminal only; it changes often).
    pub fn set(&self, msg: impl Into<String>) {
        if !self.animated {
            return;
        }
        let mut spinner = self.spinner();
        let bar = spinner.get_or_insert_with(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        bar.set_message(msg.into());
    }

    /// A line that stays: a step begun or done.
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        match &*self.spinner() {
            Some(s) => s.println(msg.as_ref()),
            None => write_err(format_args!("{}", msg.as_ref())),
        }
    }

    /// Removes the spinner (a later `set` shows a new one).
    pub fn finish(&self) {
        if let Some(s) = self.spinner().take() {
            s.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A list for a progress line: the first few items, then how many more.
pub fn some_of(items: impl Iterator<Item = String>) -> String {
    const SHOWN: usize = 6;
    let items: Vec<String> = items.collect();
    if items.len() <= SHOWN {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..SHOWN].join(", "),
        items.len() - SHOWN
    )
}

/// stdout was closed by whoever read it (`labctl ps | head -1`): labctl
/// stops quietly, as a tool ended by SIGPIPE does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedStdout;

impl std::fmt::Display for ClosedStdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for ClosedStdout {}

/// The exit code of a command whose stdout was closed: what a shell
/// reports for a command ended by SIGPIPE (128 + 13).
pub const EXIT_CLOSED: u8 = 141;

/// An error writing to stdout: [`ClosedStdout`] when its reader went away.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(ClosedStdout)
    } else {
        anyhow::Error::new(e).context("writing to stdout")
    }
}

/// Whether `err` is, or wraps, a closed stdout.
pub fn is_closed_stdout(err: &anyhow::Error) -> bool {
    err.chain().any(|e| e.is::<ClosedStdout>())
}

/// Writes a result to stdout (and flushes it).
pub fn write_out(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// Writes bytes to stdout (and flushes them).
pub fn write_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(stdout_error)
}

/// A line on stderr; a closed stderr is no reason to stop.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

/// `println!` for results: returns [`ClosedStdout`] instead of panicking
/// when stdout is closed.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics (a closed stderr is ignored).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::write_err(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_shortened_in_progress_lines() {
        let names = |n: u32| (1..=n).map(|i| format!("s{i}"));
        assert_eq!(some_of(names(2)), "s1, s2");
        assert_eq!(some_of(names(6)), "s1, s2, s3, s4, s5, s6");
        assert_eq!(some_of(names(100)), "s1, s2, s3, s4, s5, s6 and 94 more");
    }
}
