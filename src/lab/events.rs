//! What happens in a lab, as events, for `labctl events`: from `ha`'s own
//! output as it writes it (a node joining, leaving or failing in Serf; a
//! server added, UP, DOWN or removed in HAProxy; the backends applied, a
//! reload, an error), so that nothing is missed between two looks; and a
//! container started, stopped or removed, from comparing two listings.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::naming::HA;

/// One look at the lab's containers: state by node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Look {
    /// Container state by node.
    pub containers: BTreeMap<String, String>,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The node it concerns (`ha` for HAProxy itself).
    pub node: String,
    /// `container`, `serf` or `haproxy`.
    pub source: &'static str,
    /// What happened: `started`, `joined`, `UP`, …
    pub what: String,
}

/// The containers that changed from `before` to `after`, in node order.
pub fn changes(before: &Look, after: &Look) -> Vec<Event> {
    let mut events = Vec::new();
    for (node, state) in &after.containers {
        if before.containers.get(node) != Some(state) {
            events.push(Event {
                node: node.clone(),
                source: "container",
                what: match state.as_str() {
                    "running" => "started".into(),
                    "exited" => "stopped".into(),
                    other => other.into(),
                },
            });
        }
    }
    for node in before
        .containers
        .keys()
        .filter(|n| !after.containers.contains_key(*n))
    {
        events.push(Event {
            node: node.clone(),
            source: "container",
            what: "removed".into(),
        });
    }
    events
}

/// The event a line of `ha`'s output tells, if any. HAProxy writes its
/// warnings twice (with and without its `[WARNING]  (pid) :` prefix): only
/// the prefixed one counts.
pub fn from_ha_line(line: &str) -> Option<Event> {
    let line = line.trim();
    let ha = |what: String| Event {
        node: HA.into(),
        source: "haproxy",
        what,
    };
    if let Some(rest) = line.split("serf: EventMember").nth(1) {
        let (kind, rest) = rest.split_once(':')?;
        let node = rest.split_whitespace().next()?.to_string();
        let what = match kind {
            "Join" => "joined",
            "Leave" => "left",
            "Failed" => "failed",
            "Reap" => "reaped",
            "Update" => "updated",
            _ => return None,
        };
        return Some(Event {
            node,
            source: "serf",
            what: what.into(),
        });
    }
    if line.starts_with('[') {
        let message = line.split_once(") : ").map_or(line, |(_, m)| m);
        let message = message.strip_prefix("CLI : ").unwrap_or(message);
        if let Some(rest) = message.strip_prefix("Server nodes/") {
            let (node, state) = rest.split_once(" is ")?;
            let what = if state.starts_with("UP") {
                "UP"
            } else if state.starts_with("DOWN") || state.starts_with("going DOWN") {
                "DOWN"
            } else {
                return None;
            };
            return Some(Event {
                node: node.into(),
                source: "haproxy",
                what: what.into(),
            });
        }
        if let Some(rest) = message.strip_prefix("'server nodes/") {
            let (node, what) = rest.split_once("' : ")?;
            return what.starts_with("New server registered").then(|| Event {
                node: node.into(),
                source: "haproxy",
                what: "added".into(),
            });
        }
        return None;
    }
    let rest = line.strip_prefix("labctl: ")?;
    if let Some(node) = rest.strip_prefix("runtime API: del server nodes/") {
        return Some(Event {
            node: node.trim().into(),
            source: "haproxy",
            what: "removed".into(),
        });
    }
    if let Some(rest) = rest.strip_prefix("backends now [") {
        let (list, after) = rest.split_once(']')?;
        let reloaded = after.contains("HAProxy reloaded");
        return Some(ha(format!(
            "backends [{list}] {}",
            if reloaded {
                "applied by a reload"
            } else if after.contains("not applied") {
                "written (not applied at this stage)"
            } else {
                "applied"
            }
        )));
    }
    if rest.starts_with("HAProxy could not be reloaded yet") {
        return Some(ha("reload refused for now; retried".into()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }

    #[test]
    fn what_ha_writes_reads_as_events() {
        let lines = [
            "    2026/11/30 05:59:47 [INFO] serf: EventMemberJoin: s3 192.168.42.2",
            "[NOTICE]   (33) : CLI : 'server nodes/s3' : New server registered.",
            "labctl: runtime API: add server nodes/s3 192.168.42.2:3000 check inter 150ms",
            "[WARNING]  (33) : CLI : Server nodes/s3 is UP/READY (leaving forced maintenance).",
            "Server nodes/s3 is UP/READY (leaving forced maintenance).",
            "labctl: backends now [s1, s2, s3]",
            "    2026/11/30 05:59:47 [INFO] serf: EventMemberLeave: s3 192.168.42.2",
            "[WARNING]  (33) : Server nodes/s2 is DOWN, reason: Layer4 timeout, check duration: 151ms.",
            "[WARNING]  (33) : CLI : Server nodes/s3 is going DOWN for maintenance. 2 active",
            "labctl: runtime API: del server nodes/s3",
            "    2026/11/30 05:59:50 [INFO] serf: EventMemberFailed: s2 192.168.42.22",
            "labctl: backends now [s1]; HAProxy reloaded (its configuration changed in more than its servers)",
            "[NOTICE]   (11) : New worker (33) forked",
        ];
        let events: Vec<String> = lines
            .iter()
            .filter_map(|l| from_ha_line(l))
            .map(|e| format!("{} {} {}", e.node, e.source, e.what))
            .collect();
        assert_eq!(
            events,
            [
                "s3 serf joined",
                "s3 haproxy added",
                "s3 haproxy UP",
                "ha haproxy backends [s1, s2, s3] applied",
                "s3 serf left",
                "s2 haproxy DOWN",
                "s3 haproxy DOWN",
                "s3 haproxy removed",
                "s2 serf failed",
                "ha haproxy backends [s1] applied by a reload",
            ]
        );
    }

    #[test]
    fn containers_that_change_read_as_events() {
        let before = Look {
            containers: map(&[("ha", "running"), ("s1", "running"), ("s2", "running")]),
        };
        let after = Look {
            containers: map(&[("ha", "running"), ("s1", "exited"), ("s3", "created")]),
        };
        let line = |e: &Event| format!("{} {} {}", e.node, e.source, e.what);
        assert_eq!(
            changes(&before, &after)
                .iter()
                .map(line)
                .collect::<Vec<_>>(),
            [
                "s1 container stopped",
                "s3 container created",
                "s2 container removed"
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }
}
