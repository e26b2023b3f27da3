//! Web apps on their way out. `labctl scale` (and `stop`) mark a web app in
//! `ha` (`labctl node drain NAME`) just before its Serf agent leaves: `ha`
//! takes it out of its backends at once, without waiting for the leave to
//! reach it by gossip. A mark ends when the member is no longer alive in
//! Serf (it left), or after [`MARK_TTL`] (a leave that never came).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

use super::membership::{valid_node_name, Member};
use super::reconcile::Layout;
use crate::templates::Server;

/// How long a mark holds a member out while it is still alive in Serf.
pub(crate) const MARK_TTL: Duration = Duration::from_secs(30);

fn dir(layout: &Layout) -> PathBuf {
    layout.state_dir.join("leaving")
}

/// Marks `name` as leaving.
pub(crate) fn mark(layout: &Layout, name: &str) -> Result<()> {
    if !valid_node_name(name) {
        bail!("`{}` is not a node name", name.escape_debug());
    }
    let dir = dir(layout);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating `{}`", dir.display()))?;
    std::fs::write(dir.join(name), b"").with_context(|| format!("marking `{name}` as leaving"))
}

/// Which marks hold a server out (`held`) and which are over (`ended`):
/// a mark holds while its member is alive and it is younger than the TTL.
/// The mark of a member Serf found failed stays (until the TTL): its leave
/// was lost on the way, and the event handler turns the failure into the
/// leave it was.
pub(crate) fn sort_marks(
    marks: &[(String, Duration)],
    alive: &HashSet<&str>,
    failed: &HashSet<&str>,
) -> (HashSet<String>, Vec<String>) {
    let mut held = HashSet::new();
    let mut ended = Vec::new();
    for (name, age) in marks {
        if *age >= MARK_TTL {
            ended.push(name.clone());
        } else if alive.contains(name.as_str()) {
            held.insert(name.clone());
        } else if !failed.contains(name.as_str()) {
            ended.push(name.clone());
        }
    }
    (held, ended)
}

/// Whether `name` is marked as leaving.
pub(crate) fn is_marked(layout: &Layout, name: &str) -> bool {
    valid_node_name(name) && dir(layout).join(name).exists()
}

/// `servers` without the ones marked as leaving; marks that are over are
/// removed.
pub(crate) fn without_leaving(
    layout: &Layout,
    servers: Vec<Server>,
    members: &[Member],
) -> Vec<Server> {
    let dir = dir(layout);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return servers;
    };
    let now = SystemTime::now();
    let marks: Vec<(String, Duration)> = entries
        .flatten()
        .filter_map(|e| {
            let age = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            Some((e.file_name().into_string().ok()?, age))
        })
        .collect();
    if marks.is_empty() {
        return servers;
    }
    let with = |status: &str| -> HashSet<&str> {
        members
            .iter()
            .filter(|m| m.status == status)
            .map(|m| m.name.as_str())
            .collect()
    };
    let (held, ended) = sort_marks(&marks, &with("alive"), &with("failed"));
    for name in ended {
        let _ = std::fs::remove_file(dir.join(name));
    }
    servers
        .into_iter()
        .filter(|s| !held.contains(&s.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_holds_while_its_member_is_alive_and_young() {
        let alive: HashSet<&str> = ["s1", "s2"].into();
        let failed: HashSet<&str> = ["s4", "s5"].into();
        let marks = vec![
            ("s1".to_string(), Duration::from_secs(1)),
            ("s2".to_string(), MARK_TTL),
            ("s3".to_string(), Duration::from_secs(1)),
            ("s4".to_string(), Duration::from_secs(1)),
            ("s5".to_string(), MARK_TTL),
        ];
        let (held, ended) = sort_marks(&marks, &alive, &failed);
        assert_eq!(held, ["s1".to_string()].into());
        // s4 failed with a young mark: kept for the handler, holding nothing.
        assert_eq!(ended, ["s2", "s3", "s5"]);
    }

    #[test]
    fn marked_servers_are_left_out_until_they_are_gone() {
        let root = std::env::temp_dir().join(format!("labctl-leaving-{}", std::process::id()));
        let layout = Layout {
            state_dir: root.clone(),
            ..Layout::default()
        };
        let server = |n: &str| Server {
            name: n.into(),
            ip: "10.0.0.1".into(),
            port: 3000,
        };
        let member = |n: &str, status: &str| Member {
            name: n.into(),
            addr: String::new(),
            tags: Default::default(),
            status: status.into(),
        };
        mark(&layout, "s2").unwrap();
        assert!(mark(&layout, "../x").is_err());
        let both = vec![server("s1"), server("s2")];
        let alive = [member("s1", "alive"), member("s2", "alive")];
        let kept = without_leaving(&layout, both.clone(), &alive);
        assert_eq!(kept, [server("s1")]);
        // Once it has left, the mark is over: a new s2 is taken again.
        let left = [member("s1", "alive"), member("s2", "left")];
        assert_eq!(
            without_leaving(&layout, vec![server("s1")], &left),
            [server("s1")]
        );
        assert_eq!(without_leaving(&layout, both.clone(), &alive), both);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
