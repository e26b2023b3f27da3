//! The balancer's reconciliation: from the live backends to `/nodes`, then to
//! a checked `haproxy.cfg` swapped in atomically, then a seamless reload.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::templates::{render_haproxy, HaproxyContext, Server};

use super::membership::valid_node_name;

/// Where the balancer keeps its files.
#[derive(Debug, Clone)]
pub struct Layout {
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
    pub fn error_file(&self) -> PathBuf {
        self.state_dir.join("last-error")
    }

    /// Present while a configuration is written but HAProxy has not taken
    /// it yet (its reload failed, e.g. HAProxy was still starting): the
    /// reload is retried until it succeeds.
    pub fn reload_pending_file(&self) -> PathBuf {
        self.state_dir.join("reload-pending")
    }
}

/// What a reconciliation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The configuration already matched the backends.
    Unchanged,
    /// A new configuration was written (and handed to HAProxy when `reloaded`).
    Applied {
        /// Whether HAProxy was reloaded.
        reloaded: bool,
    },
    /// The configuration was written earlier and HAProxy still could not be
    /// reloaded; the next reconciliation tries again.
    ReloadPending,
}

/// Writes `content` to `path` through a temporary file and a rename, so that
/// no reader ever sees half a file.
pub fn write_atomic(path: &Path, content: &str) -> Result<()> {
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
pub fn sync_registry(dir: &Path, servers: &[Server]) -> Result<bool> {
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
pub fn read_registry(dir: &Path) -> Vec<Server> {
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
pub fn context_for(servers: &[Server]) -> HaproxyContext {
    HaproxyContext {
        servers: servers.to_vec(),
        stats_auth: std::env::var("STATS_AUTH").unwrap_or_default(),
    }
}

/// HAProxy's configuration for `servers`, from the layout's template.
pub fn render_config(layout: &Layout, servers: &[Server]) -> Result<String> {
    let template = fs::read_to_string(&layout.template)
        .with_context(|| format!("reading template `{}`", layout.template.display()))?;
    render_haproxy(
        &crate::templates::normalize_line_endings(&template),
        &context_for(servers),
    )
}

/// Brings `/nodes` and HAProxy's configuration in line with `servers`.
/// `check` validates a candidate configuration file and `reload` hands the
/// new one to HAProxy (`Ok(false)`: not meant to, as at stage 5). A rejected
/// configuration leaves the running one in place and is recorded in the
/// error file; a failed reload is remembered and retried by the next call,
/// even when the configuration has not changed since.
pub fn reconcile(
    layout: &Layout,
    servers: &[Server],
    check: impl Fn(&Path) -> Result<()>,
    reload: impl Fn() -> Result<bool>,
) -> Result<Outcome> {
    fs::create_dir_all(&layout.state_dir)
        .with_context(|| format!("creating `{}`", layout.state_dir.display()))?;
    // Event handlers and the watcher may run at once: one change at a time.
    let _lock = crate::lock::FileLock::acquire(&layout.state_dir.join("reconcile.lock"))?;
    let result = apply(layout, servers, check, reload);
    match &result {
        Ok(_) => {
            let _ = fs::remove_file(layout.error_file());
        }
        Err(e) => {
            let _ = fs::write(layout.error_file(), format!("{e:#}\n"));
        }
    }
    result
}

fn apply(
    layout: &Layout,
    servers: &[Server],
    check: impl Fn(&Path) -> Result<()>,
    reload: impl Fn() -> Result<bool>,
) -> Result<Outcome> {
    sync_registry(&layout.nodes_dir, servers)?;
    let rendered = render_config(layout, servers)?;
    if fs::read_to_string(&layout.config).ok().as_deref() == Some(rendered.as_str()) {
        if layout.reload_pending_file().exists() {
            return Ok(hand_over(layout, reload, true));
        }
        return Ok(Outcome::Unchanged);
    }
    let dir = layout.config.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let candidate = dir.join(".haproxy.cfg.candidate");
    fs::write(&candidate, &rendered)
        .with_context(|| format!("writing `{}`", candidate.display()))?;
    if let Err(e) = check(&candidate) {
        let _ = fs::remove_file(&candidate);
        return Err(
            e.context("the new configuration was not applied; the last good one keeps running")
        );
    }
    fs::rename(&candidate, &layout.config)
        .with_context(|| format!("replacing `{}`", layout.config.display()))?;
    Ok(hand_over(layout, reload, false))
}

/// Reloads HAProxy on the configuration in place. A failure is not an error
/// of the reconciliation (the file is good), but it must not be forgotten:
/// a HAProxy that parsed the previous file just before this one replaced it
/// would otherwise serve the old backends until the next change.
fn hand_over(layout: &Layout, reload: impl Fn() -> Result<bool>, retry: bool) -> Outcome {
    let pending = layout.reload_pending_file();
    match reload() {
        Ok(reloaded) => {
            let _ = fs::remove_file(&pending);
            Outcome::Applied { reloaded }
        }
        Err(e) => {
            let _ = fs::write(&pending, format!("{e:#}\n"));
            if retry {
                Outcome::ReloadPending
            } else {
                eprintln!("labctl: {e:#}; the reload will be retried");
                Outcome::Applied { reloaded: false }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn layout(tag: &str) -> (Layout, Scratch) {
        let root = std::env::temp_dir().join(format!("labctl-rec-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("haproxy.cfg.tera"),
            "backend nodes\n{% for s in servers %}    server {{ s.name }} {{ s.ip }}:{{ s.port }} check\n{% endfor %}",
        )
        .unwrap();
        let l = Layout {
            nodes_dir: root.join("nodes"),
            template: root.join("haproxy.cfg.tera"),
            config: root.join("etc/haproxy.cfg"),
            state_dir: root.join("state"),
        };
        (l, Scratch(root))
    }

    fn server(name: &str, ip: &str) -> Server {
        Server {
            name: name.into(),
            ip: ip.into(),
            port: 3000,
        }
    }

    #[test]
    fn applies_then_is_idempotent() {
        let (l, _s) = layout("idem");
        let reloads = Cell::new(0);
        let reload = || {
            reloads.set(reloads.get() + 1);
            Ok(true)
        };
        let servers = [server("s1", "10.0.0.11"), server("s2", "10.0.0.22")];
        let out = reconcile(&l, &servers, |_| Ok(()), reload).unwrap();
        assert_eq!(out, Outcome::Applied { reloaded: true });
        assert_eq!(
            fs::read_to_string(&l.config).unwrap(),
            "backend nodes\n    server s1 10.0.0.11:3000 check\n    server s2 10.0.0.22:3000 check\n"
        );
        assert_eq!(
            fs::read_to_string(l.nodes_dir.join("s2")).unwrap(),
            "s2 10.0.0.22\n"
        );
        assert_eq!(
            reconcile(&l, &servers, |_| Ok(()), reload).unwrap(),
            Outcome::Unchanged
        );
        assert_eq!(reloads.get(), 1);

        // s1 leaves: its registry file goes, the config follows.
        let out = reconcile(&l, &servers[1..], |_| Ok(()), reload).unwrap();
        assert_eq!(out, Outcome::Applied { reloaded: true });
        assert!(!l.nodes_dir.join("s1").exists());
        assert_eq!(read_registry(&l.nodes_dir), servers[1..].to_vec());
        assert!(!fs::read_to_string(&l.config).unwrap().contains("s1"));
    }

    #[test]
    fn a_failed_reload_is_retried_until_haproxy_takes_the_config() {
        let (l, _s) = layout("pending");
        let servers = [server("s1", "10.0.0.11")];
        let attempts = Cell::new(0);
        let not_yet = || {
            attempts.set(attempts.get() + 1);
            anyhow::bail!("HAProxy is not running yet")
        };
        let out = reconcile(&l, &servers, |_| Ok(()), not_yet).unwrap();
        assert_eq!(out, Outcome::Applied { reloaded: false });
        assert!(l.reload_pending_file().exists());
        // Same servers, file unchanged: the reload is still attempted.
        let out = reconcile(&l, &servers, |_| Ok(()), not_yet).unwrap();
        assert_eq!(out, Outcome::ReloadPending);
        assert_eq!(attempts.get(), 2);
        let out = reconcile(&l, &servers, |_| Ok(()), || Ok(true)).unwrap();
        assert_eq!(out, Outcome::Applied { reloaded: true });
        assert!(!l.reload_pending_file().exists());
        // Taken: nothing more to do.
        let out = reconcile(&l, &servers, |_| Ok(()), || panic!("no reload needed")).unwrap();
        assert_eq!(out, Outcome::Unchanged);
        // Stage 5 (no reload wanted) leaves nothing pending.
        let out = reconcile(&l, &[], |_| Ok(()), || Ok(false)).unwrap();
        assert_eq!(out, Outcome::Applied { reloaded: false });
        assert!(!l.reload_pending_file().exists());
    }

    #[test]
    fn a_rejected_config_keeps_the_last_good_one() {
        let (l, _s) = layout("reject");
        let good = [server("s1", "10.0.0.11")];
        reconcile(&l, &good, |_| Ok(()), || Ok(true)).unwrap();
        let before = fs::read_to_string(&l.config).unwrap();
        let err = reconcile(
            &l,
            &[server("s9", "10.0.0.9")],
            |_| anyhow::bail!("HAProxy rejects the configuration: parse error"),
            || panic!("must not reload a rejected configuration"),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("last good one keeps running"));
        assert_eq!(fs::read_to_string(&l.config).unwrap(), before);
        assert!(fs::read_to_string(l.error_file())
            .unwrap()
            .contains("parse error"));
        // The next good reconciliation clears the error.
        reconcile(&l, &good, |_| Ok(()), || Ok(true)).unwrap();
        assert!(!l.error_file().exists());
    }

    #[test]
    fn a_broken_template_keeps_the_last_good_config() {
        let (l, _s) = layout("tpl");
        reconcile(&l, &[server("s1", "10.0.0.11")], |_| Ok(()), || Ok(true)).unwrap();
        let before = fs::read_to_string(&l.config).unwrap();
        fs::write(&l.template, "{% for s in %}").unwrap();
        assert!(reconcile(&l, &[], |_| Ok(()), || Ok(true)).is_err());
        assert_eq!(fs::read_to_string(&l.config).unwrap(), before);
    }

    #[test]
    fn unrelated_files_in_the_registry_are_kept() {
        let (l, _s) = layout("keep");
        fs::create_dir_all(&l.nodes_dir).unwrap();
        fs::write(l.nodes_dir.join(".keep"), "").unwrap();
        sync_registry(&l.nodes_dir, &[server("s1", "10.0.0.11")]).unwrap();
        assert!(l.nodes_dir.join(".keep").exists());
        assert_eq!(read_registry(&l.nodes_dir).len(), 1);
    }
}
