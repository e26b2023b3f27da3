//! Exclusive locks: one labctl command changes a lab (a cluster, the
//! images) of one engine at a time, whoever runs it and wherever, and one
//! reconciliation runs at a time inside `ha`. A lock says who holds it, so
//! that a command that waits can tell.
//!
//! A lab's lock is two: a lock file in this machine's shared temporary
//! folder, so that the users of this machine wait for each other cheaply,
//! then a claim on the engine (see [`engine`]), so that users of one engine
//! on other machines do too. Lock files are opened without following links
//! (a link planted at the path is refused, never written through), created
//! 0644 by their holder, and removed by it when it lets go; a waiter that
//! locked a file removed meanwhile notices and starts again.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::output::Progress;
use crate::runtime::{Claim, Runtime};

mod engine;
pub use engine::{claim_name, settle, HOLDER};

/// Holds the lock until dropped (the file is removed, then closed, which
/// releases it).
pub struct FileLock {
    file: File,
    path: PathBuf,
    writable: bool,
}

/// How a lock file was opened.
struct Opened {
    file: File,
    writable: bool,
}

/// Opens the lock file at `path` without following a link: created 0644
/// when it is not there, else opened for writing when this user may, and
/// for reading otherwise (a lock needs no write access).
fn open(path: &Path) -> Result<Opened> {
    // A holder may remove the file between our two tries (create, open):
    // then the next round creates it.
    for _ in 0..100 {
        if let Some(opened) = open_once(path)? {
            return Ok(opened);
        }
    }
    bail!(
        "lock file `{}` kept appearing and disappearing; run the command again",
        path.display()
    )
}

/// One try of [`open`]: `None` when the file was removed meanwhile.
fn open_once(path: &Path) -> Result<Option<Opened>> {
    let no_follow = libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let refused = |e: std::io::Error| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            anyhow::anyhow!(
                "lock file `{}` is a symbolic link, which labctl does not follow; remove it \
                 (`rm {}`) and run the command again",
                path.display(),
                path.display()
            )
        } else {
            anyhow::Error::new(e).context(format!("opening lock file `{}`", path.display()))
        }
    };
    let created = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(no_follow)
        .open(path);
    let opened = match created {
        Ok(file) => Opened {
            file,
            writable: true,
        },
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(no_follow)
                .open(path)
            {
                Ok(file) => Opened {
                    file,
                    writable: true,
                },
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    match OpenOptions::new()
                        .read(true)
                        .custom_flags(no_follow)
                        .open(path)
                    {
                        Ok(file) => Opened {
                            file,
                            writable: false,
                        },
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                        Err(e) => return Err(refused(e)),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(refused(e)),
            }
        }
        Err(e) => return Err(refused(e)),
    };
    let meta = opened
        .file
        .metadata()
        .with_context(|| format!("reading lock file `{}`", path.display()))?;
    if !meta.is_file() {
        bail!(
            "lock file `{}` is not a regular file; remove it and run the command again",
            path.display()
        );
    }
    Ok(Some(opened))
}

/// Whether `file` is still the file at `path` (its holder may have removed
/// it between our open and our lock).
fn still_at(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(ours), Ok(there)) => ours.dev() == there.dev() && ours.ino() == there.ino(),
        _ => false,
    }
}

impl FileLock {
    /// Waits as long as it takes for the lock (inside a node, where one
    /// reconciliation waits for the other).
    pub fn acquire(path: &Path) -> Result<Self> {
        loop {
            let Opened { file, writable } = open(path)?;
            file.lock()
                .with_context(|| format!("locking `{}`", path.display()))?;
            if still_at(&file, path) {
                return Ok(Self {
                    file,
                    path: path.to_path_buf(),
                    writable,
                });
            }
        }
    }

    /// Takes the lock if it is free, else `None`. Once taken, `holder` is
    /// written into the file (when it may be written).
    pub fn try_acquire(path: &Path, holder: &str) -> Result<Option<Self>> {
        // A file removed under us is tried again; a few times is plenty,
        // as each round means another holder came and went.
        for _ in 0..100 {
            let Opened { mut file, writable } = open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("locking `{}`", path.display()))
                }
            }
            if !still_at(&file, path) {
                continue;
            }
            if writable {
                let _ = file
                    .set_len(0)
                    .and_then(|()| file.rewind())
                    .and_then(|()| file.write_all(holder.as_bytes()));
            }
            return Ok(Some(Self {
                file,
                path: path.to_path_buf(),
                writable,
            }));
        }
        Ok(None)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed while still held, so that nobody takes a file on its way
        // out; where this user may not remove it, it is emptied instead.
        if std::fs::remove_file(&self.path).is_err() && self.writable {
            let _ = self.file.set_len(0);
        }
    }
}

/// Who holds a lock, as its holder wrote it, if it has yet.
fn holder_of(path: &Path) -> Option<String> {
    let mut text = String::new();
    let _ = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut text));
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
    let user = std::env::var("USER").unwrap_or_else(|_| {
        // SAFETY: getuid has no preconditions.
        format!("uid {}", unsafe { libc::getuid() })
    });
    format!("process {} of {user} (`{command}`)", std::process::id())
}

/// What one process holds of a lab's lock: the file and the claim while
/// held, and how many of its operations are inside it.
#[derive(Default)]
struct HeldState {
    file: Option<FileLock>,
    claim: Option<(String, Claim)>,
    count: usize,
}

type Held = Arc<Mutex<HeldState>>;

/// The state of every lock file this process uses, by path: every handle
/// on one lab in this process (a lab of containers, a lab on a Swarm, a
/// scenario's) enters the same lock again instead of waiting for itself.
fn held(path: &Path) -> Held {
    static ALL: OnceLock<Mutex<HashMap<PathBuf, Held>>> = OnceLock::new();
    ALL.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .entry(path.to_path_buf())
        .or_default()
        .clone()
}

/// The lock of one lab (a cluster, the images) on one engine, shared by
/// the operations of one process: taken by the first of them, re-entered
/// by the ones it runs, released when the last lets go.
pub struct LabLock {
    path: PathBuf,
    key: String,
    what: String,
    timeout: Duration,
    held: Held,
}

/// Keeps a lab locked while alive.
pub struct LabGuard {
    held: Held,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        held.count -= 1;
        if held.count == 0 {
            // The claim first: a waiter here that gets the file finds the
            // claim on its way out.
            if let Some((name, claim)) = held.claim.take() {
                engine::release(name, claim);
            }
            held.file = None;
        }
    }
}

impl LabLock {
    /// The lock of lab `lab` on the engine `engine` (its ID), waited for up
    /// to `timeout`.
    pub fn new(engine: &str, lab: &str, timeout: Duration) -> Self {
        Self::named(engine, &lab_key(lab), &format!("lab `{lab}`"), timeout)
    }

    /// The lock of local cluster `name` on engine `engine`.
    pub fn cluster(engine: &str, name: &str, timeout: Duration) -> Self {
        Self::named(
            engine,
            &format!("cluster.{name}"),
            &format!("cluster `{name}`"),
            timeout,
        )
    }

    /// The lock of the lab's images on engine `engine` (`build`, and `up`
    /// while it builds).
    pub fn images(engine: &str, timeout: Duration) -> Self {
        Self::named(engine, "images", "the lab's images", timeout)
    }

    fn named(engine: &str, key: &str, what: &str, timeout: Duration) -> Self {
        let path = lock_path(engine, key);
        Self {
            held: held(&path),
            path,
            key: key.to_string(),
            what: what.to_string(),
            timeout,
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reenter(&self) -> Option<LabGuard> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.count > 0 {
            held.count += 1;
            return Some(LabGuard {
                held: self.held.clone(),
            });
        }
        None
    }

    /// Enters the lock with what this process just took of it.
    fn enter(&self, file: FileLock, claim: Option<Claim>) -> LabGuard {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.count == 0 {
            held.file = Some(file);
            held.claim = claim.map(|c| (engine::claim_name(&self.key), c));
        }
        held.count += 1;
        LabGuard {
            held: self.held.clone(),
        }
    }

    /// Takes the lock on `runtime`'s engine (or enters it again), saying
    /// who holds it and waiting while another process does, on this
    /// machine or another.
    pub async fn acquire(&self, runtime: &dyn Runtime, progress: &Progress) -> Result<LabGuard> {
        let started = Instant::now();
        let mut told = false;
        let mut seen = engine::Seen::default();
        let me = this_holder();
        let on_engine = format!("{me} on {}", engine::host_name());
        loop {
            if let Some(guard) = self.reenter() {
                return Ok(guard);
            }
            // Who has it: named, and whether by its claim on the engine.
            let (named, claimed) = match FileLock::try_acquire(&self.path, &me)? {
                Some(file) => {
                    match engine::attempt(runtime, &self.key, &on_engine, &mut seen).await? {
                        engine::Attempt::Held(claim) => return Ok(self.enter(file, claim)),
                        engine::Attempt::Busy(holder) => (holder, true),
                    }
                }
                // A holder writes its name just after it took the lock: a
                // moment later it is there to read.
                None => (holder_of(&self.path), false),
            };
            let waited = started.elapsed();
            let holder = named
                .clone()
                .unwrap_or_else(|| "another labctl command".to_string());
            if !told && (named.is_some() || waited > Duration::from_secs(1)) {
                progress.info(format!(
                    "{} is being changed by {holder}; waiting for it to finish",
                    self.what
                ));
                told = true;
            }
            if waited > self.timeout {
                let name = engine::claim_name(&self.key);
                let held_by = if claimed {
                    format!(
                        "its claim on the engine, container `{name}`; let it finish, or stop                          it (if it is gone and its claim stays, `docker rm -f {name}`)"
                    )
                } else {
                    format!(
                        "its lock `{}`; let it finish, or stop it",
                        self.path.display()
                    )
                };
                bail!(
                    "{} stayed busy for {} s: {holder} holds {held_by}",
                    self.what,
                    self.timeout.as_secs(),
                );
            }
            let pause = if claimed { 250 } else { 100 };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
    }
}

/// The lock key of lab `lab` (apart from `cluster.NAME` and `images`, so
/// that no lab name meets them).
fn lab_key(lab: &str) -> String {
    format!("lab.{lab}")
}

/// A short, stable, file-name-safe form of an engine's ID.
fn engine_key(engine: &str) -> String {
    crate::fnv::short_key(engine.bytes())
}

/// Where the lock `key` (`lab.NAME`, `cluster.NAME`, `images`) of the
/// engine `engine` lives.
fn lock_path(engine: &str, key: &str) -> PathBuf {
    std::env::temp_dir().join(format!("labctl-{}-{key}.lock", engine_key(engine)))
}

/// The name of lab `lab`'s claim on its engine.
pub fn lab_claim_name(lab: &str) -> String {
    engine::claim_name(&lab_key(lab))
}

/// Where the lock of lab `lab` on engine `engine` lives.
pub fn lab_lock_path(engine: &str, lab: &str) -> PathBuf {
    lock_path(engine, &lab_key(lab))
}

#[cfg(test)]
mod tests;
