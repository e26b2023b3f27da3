//! Exclusive locks on files: one labctl command changes a lab at a time,
//! and one reconciliation runs at a time inside `ha`. The lock file says
//! who holds it, so that a command that waits can tell.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::output::Progress;

/// Holds the lock until dropped (closing the file releases it).
pub struct FileLock {
    file: File,
}

/// Opens (or creates) a lock file that every user of the machine may lock:
/// created readable and writable by all, and opened read-only when another
/// user created it without (a lock needs no write access).
fn open(path: &Path) -> Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = OpenOptions::new()
        .create_new(true)
        .read(true)
        .write(true)
        .mode(0o666)
        .open(path);
    if let Ok(file) = created {
        // The umask may have taken write access from the others.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
        return Ok(file);
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .or_else(|_| File::open(path))
        .with_context(|| format!("opening lock file `{}`", path.display()))
}

impl FileLock {
    /// Waits as long as it takes for the lock.
    pub fn acquire(path: &Path) -> Result<Self> {
        let file = open(path)?;
        file.lock()
            .with_context(|| format!("locking `{}`", path.display()))?;
        Ok(Self { file })
    }

    /// Takes the lock if it is free, else `None`. Once taken, `holder` is
    /// written into the file (when it may be written).
    pub fn try_acquire(path: &Path, holder: &str) -> Result<Option<Self>> {
        let mut file = open(path)?;
        match file.try_lock() {
            Ok(()) => {
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(holder.as_bytes()));
                Ok(Some(Self { file }))
            }
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("locking `{}`", path.display()))
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // The next holder writes its own name; none is left meanwhile.
        let _ = self.file.set_len(0);
    }
}

/// Who holds a lock, as its holder wrote it, if it has yet.
fn holder_of(path: &Path) -> Option<String> {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// What this process writes into a lock it holds.
fn this_holder() -> String {
    let args: Vec<String> = std::env::args().collect();
    let command = if args.is_empty() {
        "labctl".to_string()
    } else {
        let mut words = args;
        if let Some(first) = words.first_mut() {
            *first = "labctl".to_string();
        }
        words.join(" ")
    };
    format!("process {} (`{command}`)", std::process::id())
}

/// The lock of one lab, shared by the operations of one process: taken by
/// the first of them, re-entered by the ones it runs, released when the
/// last lets go.
pub struct LabLock {
    path: PathBuf,
    lab: String,
    timeout: Duration,
    held: Mutex<(Option<FileLock>, usize)>,
}

/// Keeps a lab locked while alive.
pub struct LabGuard {
    lock: Arc<LabLock>,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let mut held = self
            .lock
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.1 -= 1;
        if held.1 == 0 {
            held.0 = None;
        }
    }
}

impl LabLock {
    /// The lock of lab `lab`, waited for up to `timeout`.
    pub fn new(lab: &str, timeout: Duration) -> Self {
        Self {
            path: lab_lock_path(lab),
            lab: lab.to_string(),
            timeout,
            held: Mutex::new((None, 0)),
        }
    }

    fn reenter(self: &Arc<Self>) -> Option<LabGuard> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.1 > 0 {
            held.1 += 1;
            return Some(LabGuard { lock: self.clone() });
        }
        None
    }

    /// Takes the lock (or enters it again), saying who holds it and
    /// waiting while another process does.
    pub async fn acquire(self: &Arc<Self>, progress: &Progress) -> Result<LabGuard> {
        let started = Instant::now();
        let mut told = false;
        loop {
            if let Some(guard) = self.reenter() {
                return Ok(guard);
            }
            if let Some(file) = FileLock::try_acquire(&self.path, &this_holder())? {
                let mut held = self
                    .held
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if held.1 == 0 {
                    held.0 = Some(file);
                }
                held.1 += 1;
                return Ok(LabGuard { lock: self.clone() });
            }
            // A holder writes its name just after it took the lock: a moment
            // later it is there to read.
            let named = holder_of(&self.path);
            let waited = started.elapsed();
            let holder = named
                .clone()
                .unwrap_or_else(|| "another labctl command".to_string());
            if !told && (named.is_some() || waited > Duration::from_secs(1)) {
                progress.info(format!(
                    "lab `{}` is being changed by {holder}; waiting for it to finish",
                    self.lab
                ));
                told = true;
            }
            if started.elapsed() > self.timeout {
                bail!(
                    "lab `{}` stayed busy for {} s: {holder} holds its lock `{}`; let it \
                     finish, or stop it",
                    self.lab,
                    self.timeout.as_secs(),
                    self.path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Where the lock of lab `lab` lives.
pub fn lab_lock_path(lab: &str) -> PathBuf {
    std::env::temp_dir().join(format!("labctl-{lab}.lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_not_taken_twice_and_names_its_holder() {
        let path = std::env::temp_dir().join(format!("labctl-lock-test-{}", std::process::id()));
        let first = FileLock::try_acquire(&path, "process 1 (`labctl up`)").unwrap();
        assert!(first.is_some());
        assert!(FileLock::try_acquire(&path, "x").unwrap().is_none());
        assert_eq!(holder_of(&path).as_deref(), Some("process 1 (`labctl up`)"));
        drop(first);
        assert_eq!(holder_of(&path), None);
        assert!(FileLock::try_acquire(&path, "y").unwrap().is_some());
        let _ = std::fs::remove_file(&path);
    }
}
