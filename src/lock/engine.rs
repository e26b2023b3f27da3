//! A lock's claim on the engine itself. Lock files keep apart the users of
//! one machine; two students on two laptops sharing a teacher's engine, or
//! two CI jobs in two containers of one runner, do not see each other's
//! files. The engine sees them all: a claim is a container of a fixed name
//! (the engine gives a name to one container only) that runs while its
//! holder's connection lasts, so that it ends with its holder, whatever
//! machine the holder is on and however it ends.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use tokio::task::JoinHandle;

use crate::contract::Role;
use crate::labels;
use crate::runtime::{Claim, ClaimSpec, Claimed, ContainerInfo, ContainerState, Runtime};

/// The label that names a claim's holder.
pub const HOLDER: &str = "io.labctl.holder";
/// The label that says which lock a claim is.
const LOCK: &str = "io.labctl.lock";
/// What claims are called on the engine: this, then the lock's key.
const NAME_PREFIX: &str = "labctl-lock.";
/// How long a claim may stay created and not started before a waiter takes
/// it for one whose holder went between the two (it starts within
/// milliseconds otherwise).
const CREATED_GRACE: Duration = Duration::from_secs(5);
/// How long labctl waits, at its end, for its claims to be removed.
const SETTLE: Duration = Duration::from_secs(10);

/// The claim container's name of the lock `key`.
pub fn claim_name(key: &str) -> String {
    format!("{NAME_PREFIX}{key}")
}

/// An image on the engine that a claim can run (it needs `cat`): the lab's
/// images, then the bases they are built from, then the images of a lab
/// run under emulation. `None` before the first build: then nothing of a
/// lab is on the engine for a claim to guard.
async fn claim_image(runtime: &dyn Runtime) -> Result<Option<String>> {
    let mut candidates = vec![
        Role::Ha.image().to_string(),
        Role::Webapp.image().to_string(),
        crate::base_image::made_name(None),
        crate::images::DEFAULT_BASE.to_string(),
    ];
    candidates.extend(
        crate::platform::Arch::ALL
            .into_iter()
            .map(|arch| crate::images::image_name(Role::Ha, Some(arch))),
    );
    for image in candidates {
        if runtime.image_labels(&image).await?.is_some() {
            return Ok(Some(image));
        }
    }
    Ok(None)
}

/// What one try at a claim gave.
pub(super) enum Attempt {
    /// The claim is this process's (`None`: no image to claim from yet).
    Held(Option<Claim>),
    /// Another holder has it: who, as its claim says.
    Busy(Option<String>),
}

/// What a waiter remembers between its tries: when it first found each
/// claim created and not started.
#[derive(Default)]
pub(super) struct Seen {
    created: HashMap<String, Instant>,
}

impl Seen {
    /// Whether the claim `info` was left by a holder that is gone: it ended
    /// (its holder's connection closed), or it never started within the
    /// grace time.
    fn stale(&mut self, info: &ContainerInfo) -> bool {
        match info.state {
            ContainerState::Exited | ContainerState::Dead => true,
            ContainerState::Created => {
                let first = *self
                    .created
                    .entry(info.id.clone())
                    .or_insert_with(Instant::now);
                first.elapsed() >= CREATED_GRACE
            }
            _ => false,
        }
    }
}

/// Tries once (and again at once when the claim it found was stale or went
/// meanwhile) to take the claim of lock `key` for `holder`.
pub(super) async fn attempt(
    runtime: &dyn Runtime,
    key: &str,
    holder: &str,
    seen: &mut Seen,
) -> Result<Attempt> {
    let name = claim_name(key);
    // This process's own last claim of it may still be on its way out.
    settle_name(&name).await;
    let Some(image) = claim_image(runtime).await? else {
        return Ok(Attempt::Held(None));
    };
    let spec = ClaimSpec {
        name: name.clone(),
        image,
        labels: [
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::ROLE.to_string(), "lock".to_string()),
            (LOCK.to_string(), key.to_string()),
            (HOLDER.to_string(), holder.to_string()),
        ]
        .into_iter()
        .collect(),
    };
    let mut found = None;
    for _ in 0..3 {
        match runtime.claim(&spec).await? {
            Claimed::Held(claim) => return Ok(Attempt::Held(Some(claim))),
            Claimed::Taken(None) => continue,
            Claimed::Taken(Some(info)) => {
                if info.label(labels::MANAGED) != Some("true") {
                    bail!(
                        "a container that labctl did not make is named `{name}`, the name of \
                         labctl's claim on this engine; rename or remove it (`docker rm -f \
                         {name}`) and run the command again"
                    );
                }
                if seen.stale(&info) {
                    runtime.remove_container(&info.id).await?;
                    continue;
                }
                found = info.label(HOLDER).map(str::to_string);
                break;
            }
        }
    }
    Ok(Attempt::Busy(found))
}

/// Removals of claims on their way, by claim name.
type Removals = Vec<(String, JoinHandle<()>)>;

/// The removals of this process's claims that are on their way.
fn pending() -> &'static Mutex<Removals> {
    static PENDING: OnceLock<Mutex<Removals>> = OnceLock::new();
    PENDING.get_or_init(Mutex::default)
}

fn take_pending(only: Option<&str>) -> Vec<JoinHandle<()>> {
    let mut all = pending()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *all)
        .into_iter()
        .partition(|(name, _)| only.is_none_or(|only| only == name));
    *all = kept;
    taken.into_iter().map(|(_, task)| task).collect()
}

/// Lets go of claim `name`: its connection closes now, and its removal runs
/// (awaited by the next claim of the same name and by [`settle`]). Outside
/// an async runtime the engine removes it by itself.
pub(super) fn release(name: String, claim: Claim) {
    let remove = claim.release();
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let task = handle.spawn(remove);
        pending()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((name, task));
    }
}

async fn settle_name(name: &str) {
    for task in take_pending(Some(name)) {
        let _ = task.await;
    }
}

/// Waits (a few seconds at most) until every claim this process let go of
/// is removed from the engine: labctl's last step, so that nothing of its
/// own is left behind when it ends.
pub async fn settle() {
    let all = take_pending(None);
    let _ = tokio::time::timeout(SETTLE, futures_util::future::join_all(all)).await;
}

/// This machine's name, for a claim's holder.
pub(super) fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
    if rc == 0 && !name.is_empty() {
        name
    } else {
        "an unnamed machine".to_string()
    }
}
