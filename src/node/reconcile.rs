//! The balancer's reconciliation: from the live backends to `/nodes`, then to
//! a checked `haproxy.cfg` swapped in atomically, then a seamless reload.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::stats::ServerState;
use crate::templates::{render_haproxy, HaproxyContext, Server};

use super::membership::valid_node_name;
use super::servers::{self, ServerLine, Step};

/// Where the balancer keeps its files.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// One file per backend, `name ip` (the lab's registry).
    pub nodes_dir: PathBuf,
    /// The HAProxy template.
    pub template: PathBuf,
    /// HAProxy's configuration.
    pub config: PathBuf,
    /// labctl's own state: the lock and the last error.
    pub state_dir: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            nodes_dir: "/nodes".into(),
            template: "/config/haproxy.cfg.tera".into(),
            config: "/usr/local/etc/haproxy/haproxy.cfg".into(),
            state_dir: "/run/labctl".into(),
        }
    }
}

impl Layout {
    /// The file that holds the last reconciliation error, if any.
    pub(crate) fn error_file(&self) -> PathBuf {
        self.state_dir.join("last-error")
    }

    /// Present while a configuration that needs a reload is written but
    /// HAProxy has not taken it yet (its reload failed, e.g. HAProxy was
    /// still starting): the reload is retried until it succeeds.
    pub(crate) fn reload_pending_file(&self) -> PathBuf {
        self.state_dir.join("reload-pending")
    }

    /// What the last pass left for the next one (one line each), if any.
    pub(crate) fn waiting_file(&self) -> PathBuf {
        self.state_dir.join("waiting")
    }
}

/// What a reconciliation does to the running HAProxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Write `/nodes` and the configuration only (stage 5 of the lab).
    Write,
    /// Also bring the running HAProxy in line: servers through its runtime
    /// API, anything else by a seamless reload (stage 6).
    Apply,
}

/// The running HAProxy, as a reconciliation uses it.
pub(crate) trait Haproxy {
    /// Checks a candidate configuration file (`haproxy -c`).
    fn check(&self, candidate: &Path) -> Result<()>;
    /// Reloads HAProxy on the configuration in place.
    fn reload(&self) -> Result<()>;
    /// The servers of backend `nodes` that HAProxy runs, from its statistics.
    fn servers(&self) -> Result<Vec<ServerState>>;
    /// Sends one runtime API command; returns HAProxy's answer.
    fn command(&self, command: &str) -> Result<String>;
    /// Runs the backend's health check once, now, from `ha` (what HAProxy's
    /// next check of `addr` would find). HAProxy pauses the checks of a
    /// server taken out of rotation (`disable server`) until it is enabled
    /// again, so a server that comes back (a member that was failed, a name
    /// at a new address) is checked this way before it is enabled.
    fn answers(&self, addr: &str) -> bool;
}

/// What a reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Everything already matched the backends.
    Unchanged,
    /// A new configuration was written; HAProxy was not touched (stage 5).
    Written,
    /// HAProxy was reloaded on a configuration that changed in more than its
    /// servers.
    Reloaded,
    /// HAProxy still could not be reloaded; the next reconciliation tries
    /// again.
    ReloadPending,
    /// The running HAProxy's servers were changed through its runtime API.
    Live {
        /// The runtime API commands HAProxy took.
        done: Vec<String>,
        /// What is not done yet and needs another pass: a server waiting
        /// for a passed check, a deletion refused while connections drain.
        waiting: Vec<String>,
    },
}

impl Outcome {
    /// Whether nothing is left for a later pass.
    pub(crate) fn settled(&self) -> bool {
        match self {
            Outcome::ReloadPending => false,
            Outcome::Live { waiting, .. } => waiting.is_empty(),
            _ => true,
        }
    }
}

/// Writes `content` to `path` through a temporary file and a rename, so that
/// no reader ever sees half a file.
pub(crate) fn write_atomic(path: &Path, content: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut file =
        fs::File::create(&tmp).with_context(|| format!("writing `{}`", tmp.display()))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing `{}`", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("replacing `{}`", path.display()))
}

/// Makes `/nodes` hold exactly one file per backend, `name ip`. Returns
/// whether anything changed.
pub(crate) fn sync_registry(dir: &Path, servers: &[Server]) -> Result<bool> {
    fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let mut changed = false;
    for s in servers {
        let path = dir.join(&s.name);
        let line = format!("{} {}\n", s.name, s.ip);
        if fs::read_to_string(&path).ok().as_deref() != Some(line.as_str()) {
            write_atomic(&path, &line)?;
            changed = true;
        }
    }
    for entry in fs::read_dir(dir).with_context(|| format!("listing `{}`", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if valid_node_name(&name) && !servers.iter().any(|s| s.name == name) {
            fs::remove_file(entry.path())
                .with_context(|| format!("removing `{}`", entry.path().display()))?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Reads the registry back: the backends `/nodes` lists.
pub(crate) fn read_registry(dir: &Path) -> Vec<Server> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut servers: Vec<Server> = entries
        .filter_map(Result::ok)
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next()?.to_string();
            let ip: std::net::Ipv4Addr = parts.next()?.parse().ok()?;
            valid_node_name(&name).then(|| Server {
                name,
                ip: ip.to_string(),
                port: crate::naming::WEBAPP_PORT,
            })
        })
        .collect();
    servers.sort_by_key(|s| super::membership::natural_key(&s.name));
    servers
}

/// The variables HAProxy's template is rendered with.
pub(crate) fn context_for(servers: &[Server]) -> HaproxyContext {
    HaproxyContext {
        servers: servers.to_vec(),
        stats_auth: std::env::var(crate::contract::STATS_AUTH).unwrap_or_default(),
    }
}

/// HAProxy's configuration for `servers`, from the layout's template.
pub(crate) fn render_config(layout: &Layout, servers: &[Server]) -> Result<String> {
    let template = fs::read_to_string(&layout.template)
        .with_context(|| format!("reading template `{}`", layout.template.display()))?;
    render_haproxy(
        &crate::templates::normalize_line_endings(&template),
        &context_for(servers),
    )
}

/// Brings `/nodes`, HAProxy's configuration and (in [`Mode::Apply`]) the
/// running HAProxy in line with `servers`. A rejected configuration leaves
/// the running one in place and is recorded in the error file; a failed
/// reload is remembered and retried by the next call, even when the
/// configuration has not changed since; what a pass could not finish is
/// recorded in the waiting file.
pub(crate) fn reconcile(
    layout: &Layout,
    servers: &[Server],
    mode: Mode,
    haproxy: &impl Haproxy,
) -> Result<Outcome> {
    fs::create_dir_all(&layout.state_dir)
        .with_context(|| format!("creating `{}`", layout.state_dir.display()))?;
    // Event handlers and the watcher may run at once: one change at a time.
    let _lock = crate::lock::FileLock::acquire(&layout.state_dir.join("reconcile.lock"))?;
    let result = apply(layout, servers, mode, haproxy);
    match &result {
        Ok(_) => {
            let _ = fs::remove_file(layout.error_file());
        }
        Err(e) => {
            let _ = fs::write(layout.error_file(), format!("{e:#}\n"));
        }
    }
    record_waiting(layout, &result);
    result
}

/// Finishes what the last pass left waiting (a new server's first passed
/// check, a deletion refused while connections drain, a pending reload)
/// from the configuration on file, without rendering it again: the cheap
/// pass the watcher repeats while something waits.
pub(crate) fn settle(layout: &Layout, haproxy: &impl Haproxy) -> Result<Outcome> {
    let _lock = crate::lock::FileLock::acquire(&layout.state_dir.join("reconcile.lock"))?;
    let config = fs::read_to_string(&layout.config)
        .with_context(|| format!("reading `{}`", layout.config.display()))?;
    let result = apply_live(layout, &config, haproxy);
    record_waiting(layout, &result);
    result
}

fn record_waiting(layout: &Layout, result: &Result<Outcome>) {
    let waiting = match result {
        Ok(Outcome::Live { waiting, .. }) => waiting.clone(),
        _ => Vec::new(),
    };
    if waiting.is_empty() {
        let _ = fs::remove_file(layout.waiting_file());
    } else {
        let _ = fs::write(layout.waiting_file(), waiting.join("\n") + "\n");
    }
}

fn apply(
    layout: &Layout,
    servers: &[Server],
    mode: Mode,
    haproxy: &impl Haproxy,
) -> Result<Outcome> {
    sync_registry(&layout.nodes_dir, servers)?;
    let rendered = render_config(layout, servers)?;
    let old = fs::read_to_string(&layout.config).ok();
    let written = old.as_deref() != Some(rendered.as_str());
    if written {
        let dir = layout.config.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
        let candidate = dir.join(".haproxy.cfg.candidate");
        fs::write(&candidate, &rendered)
            .with_context(|| format!("writing `{}`", candidate.display()))?;
        if let Err(e) = haproxy.check(&candidate) {
            let _ = fs::remove_file(&candidate);
            return Err(e.context(
                "the new configuration was not applied; the last good one keeps running",
            ));
        }
        fs::rename(&candidate, &layout.config)
            .with_context(|| format!("replacing `{}`", layout.config.display()))?;
        if mode == Mode::Apply && servers::needs_reload(old.as_deref(), &rendered) {
            mark_reload(layout, "the configuration changed in more than its servers");
        }
    }
    if mode == Mode::Write {
        return Ok(if written {
            Outcome::Written
        } else {
            Outcome::Unchanged
        });
    }
    apply_live(layout, &rendered, haproxy)
}

/// Brings the running HAProxy in line with `config` (the file in place):
/// a pending reload first, else its servers through the runtime API.
fn apply_live(layout: &Layout, config: &str, haproxy: &impl Haproxy) -> Result<Outcome> {
    if layout.reload_pending_file().exists() {
        return Ok(hand_over(layout, haproxy));
    }
    let running = match haproxy.servers() {
        Ok(running) => running,
        // HAProxy is (re)starting: it loads the file, and the next pass
        // compares again.
        Err(e) => {
            return Ok(Outcome::Live {
                done: Vec::new(),
                waiting: vec![format!("HAProxy does not answer yet: {e:#}")],
            })
        }
    };
    let wanted = servers::split(config).servers;
    match run_steps(&servers::plan(&wanted, &running), &wanted, haproxy)? {
        Pass::Done { done, waiting } if done.is_empty() && waiting.is_empty() => {
            Ok(Outcome::Unchanged)
        }
        Pass::Done { done, waiting } => Ok(Outcome::Live { done, waiting }),
        // The file is checked and good: what the runtime API would not
        // take, a reload does.
        Pass::Refused(why) => {
            mark_reload(layout, &why);
            Ok(hand_over(layout, haproxy))
        }
    }
}

/// What one pass of runtime API steps came to.
enum Pass {
    /// The commands HAProxy took, and what is left for a later pass.
    Done {
        done: Vec<String>,
        waiting: Vec<String>,
    },
    /// HAProxy refused a step that only a reload can get past.
    Refused(String),
}

/// Runs the runtime API steps of one pass. A server whose step cannot be
/// done yet is left for the next pass.
fn run_steps(steps: &[Step], wanted: &[ServerLine], haproxy: &impl Haproxy) -> Result<Pass> {
    let mut done = Vec::new();
    let mut waiting = Vec::new();
    let mut held: Vec<&str> = Vec::new();
    for step in steps {
        let name = step.server();
        if held.contains(&name) {
            continue;
        }
        if let Step::AwaitCheck(_) = step {
            if !enable_if_answering(name, wanted, haproxy, &mut done)? {
                waiting.push(format!(
                    "`{name}`: in maintenance until a health check passes"
                ));
            }
            continue;
        }
        let command = servers::command(step);
        let answer = haproxy.command(&command)?;
        if servers::accepted(step, &answer) {
            done.push(command);
            if matches!(step, Step::EnableHealth(_))
                && !enable_if_answering(name, wanted, haproxy, &mut done)?
            {
                waiting.push(format!(
                    "`{name}`: in maintenance until a health check passes"
                ));
            }
            continue;
        }
        held.push(name);
        let Step::Delete { drained_s, .. } = step else {
            return Ok(Pass::Refused(format!(
                "HAProxy's runtime API refused `{command}`: {}",
                answer.trim()
            )));
        };
        if drained_s.is_some_and(|s| s >= servers::DRAIN_DEADLINE_S) {
            // Out of rotation long enough: what still holds on is cut.
            let shutdown = format!("shutdown sessions server {}/{name}", servers::BACKEND);
            haproxy.command(&shutdown)?;
            done.push(shutdown);
            let again = haproxy.command(&command)?;
            if servers::accepted(step, &again) {
                done.push(command);
                continue;
            }
        }
        waiting.push(format!(
            "`{name}`: out of rotation, not deleted yet: {}",
            answer.trim()
        ));
    }
    Ok(Pass::Done { done, waiting })
}

/// A server in maintenance whose checks should run goes into rotation once
/// its web app answers `ha`'s own check: HAProxy's checks do not run for a
/// server it took out of rotation. Else a later pass tries again (or
/// HAProxy's own check, for a new server, passes first).
fn enable_if_answering(
    name: &str,
    wanted: &[ServerLine],
    haproxy: &impl Haproxy,
    done: &mut Vec<String>,
) -> Result<bool> {
    let Some(w) = wanted.iter().find(|w| w.name == name) else {
        return Ok(false);
    };
    if !haproxy.answers(&w.addr) {
        return Ok(false);
    }
    let enable = Step::Enable(name.to_string());
    let command = servers::command(&enable);
    if servers::accepted(&enable, &haproxy.command(&command)?) {
        done.push(command);
        return Ok(true);
    }
    Ok(false)
}

fn mark_reload(layout: &Layout, why: &str) {
    let _ = fs::write(layout.reload_pending_file(), format!("{why}\n"));
}

/// Reloads HAProxy on the configuration in place. A failure is not an error
/// of the reconciliation (the file is good), but it must not be forgotten:
/// the reload is retried by the next pass.
fn hand_over(layout: &Layout, haproxy: &impl Haproxy) -> Outcome {
    match haproxy.reload() {
        Ok(()) => {
            let _ = fs::remove_file(layout.reload_pending_file());
            Outcome::Reloaded
        }
        Err(e) => {
            let _ = fs::write(layout.reload_pending_file(), format!("{e:#}\n"));
            Outcome::ReloadPending
        }
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
