//! Exclusive locks on files (flock): one labctl command changes a lab at a
//! time, and one reconciliation runs at a time inside `ha`.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::output::Progress;

/// Holds the lock until dropped (closing the file releases it).
pub struct FileLock {
    _file: File,
}

/// Opens (or creates) a lock file that every user of the machine may lock:
/// created readable and writable by all, and opened read-only when another
/// user created it (flock needs no write access).
fn open(path: &Path) -> Result<File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let created = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o666)
        .open(path);
    if let Ok(file) = created {
        // The umask may have taken write access from the others.
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o666));
        return Ok(file);
    }
    File::open(path).with_context(|| format!("opening lock file `{}`", path.display()))
}

fn flock(file: &File, flags: libc::c_int) -> std::io::Result<()> {
    // SAFETY: flock on a descriptor owned by `file`, valid for the call.
    if unsafe { libc::flock(file.as_raw_fd(), flags) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl FileLock {
    /// Waits as long as it takes for the lock.
    pub fn acquire(path: &Path) -> Result<Self> {
        let file = open(path)?;
        flock(&file, libc::LOCK_EX).with_context(|| format!("locking `{}`", path.display()))?;
        Ok(Self { _file: file })
    }

    /// Takes the lock if it is free, else `None`.
    pub fn try_acquire(path: &Path) -> Result<Option<Self>> {
        let file = open(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("locking `{}`", path.display())),
        }
    }
}

/// Where the lock of lab `lab` lives.
pub fn lab_lock_path(lab: &str) -> PathBuf {
    std::env::temp_dir().join(format!("labctl-{lab}.lock"))
}

/// Takes lab `lab`'s lock, saying so and waiting (up to `timeout`) while
/// another labctl command holds it.
pub async fn lock_lab(lab: &str, timeout: Duration, progress: &Progress) -> Result<FileLock> {
    let path = lab_lock_path(lab);
    let started = Instant::now();
    let mut told = false;
    loop {
        if let Some(lock) = FileLock::try_acquire(&path)? {
            return Ok(lock);
        }
        if !told {
            progress.info(format!(
                "another labctl command is changing lab `{lab}`; waiting for it to finish"
            ));
            told = true;
        }
        if started.elapsed() > timeout {
            bail!(
                "lab `{lab}` stayed busy for {} s: another labctl command holds `{}`; let it \
                 finish, or stop it",
                timeout.as_secs(),
                path.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_not_taken_twice() {
        let path = std::env::temp_dir().join(format!("labctl-lock-test-{}", std::process::id()));
        let first = FileLock::try_acquire(&path).unwrap();
        assert!(first.is_some());
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        drop(first);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
        let _ = std::fs::remove_file(&path);
    }
}
