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
            None => eprintln!("{}", msg.as_ref()),
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
