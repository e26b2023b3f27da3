//! Waiting until a lab serves what it should: a pure readiness decision on
//! what `ha` reports, a polling loop around it, and a timeout message that
//! says which node is not ready and why.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::Lab;
use crate::contract;
use crate::contract::Backends;
use crate::naming::{self, HA};
use crate::node::membership::{natural_key, Member};
use crate::output::Progress;
use crate::runtime::LogsRequest;
use crate::stage::{self, Stage};
use crate::stats::ServerState;

/// How long `wait` gives a web app to appear before it asks it to join again.
const NUDGE_AFTER: Duration = Duration::from_secs(3);
/// How many web apps are asked to join again at once: each ask is an exec,
/// and a hundred of them at once would slow the very agents that are joining.
const NUDGE_AT_ONCE: usize = 8;

/// What `ha` reported, as much as the stage needs.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// HAProxy's state.
    pub backends: Backends,
    /// `/nodes` (read at stage 5).
    pub registry: Option<Vec<String>>,
    /// Serf's members (read at stages 1 to 4).
    pub members: Option<Vec<Member>>,
}

/// Whether the lab serves exactly `expected`, and what it still waits for.
pub fn readiness(stage: Stage, expected: &[String], probe: &Probe) -> (bool, String) {
    let servers = &probe.backends.servers;
    if stage == stage::FINAL {
        let up = servers.iter().filter(|s| s.is_up()).count();
        let msg = format!(
            "waiting for HAProxy to serve {} web app(s): {up} UP, {} listed",
            expected.len(),
            servers.len()
        );
        return (converged(servers, expected), msg);
    }
    if stage.config_on_file_only() {
        // HAProxy is not changed at stage 5: the registry tells.
        let msg = format!("waiting for /nodes to list {} web app(s)", expected.len());
        return (probe.registry.as_deref() == Some(expected), msg);
    }
    // Stages 0 to 4: HAProxy's static s1 and s2, and Serf's members.
    let statics_up = expected
        .iter()
        .filter(|e| *e == "s1" || *e == "s2")
        .all(|e| servers.iter().any(|s| &s.name == e && s.is_verified_up()));
    let members_ok = match &probe.members {
        Some(members) => {
            let mut alive: Vec<&str> = members
                .iter()
                .filter(|m| {
                    m.status == "alive"
                        && m.tags.get("role").map(String::as_str) == Some(contract::BACKEND)
                })
                .map(|m| m.name.as_str())
                .collect();
            alive.sort_by_key(|n| natural_key(n));
            alive == expected
        }
        None => true,
    };
    let msg = format!(
        "waiting for {} web app(s) (stage {})",
        expected.len(),
        stage.number()
    );
    (statics_up && members_ok, msg)
}

/// Whether HAProxy serves exactly `expected`, every one UP with a passed
/// health check.
pub fn converged(servers: &[ServerState], expected: &[String]) -> bool {
    servers.len() == expected.len()
        && expected
            .iter()
            .all(|e| servers.iter().any(|s| &s.name == e && s.is_verified_up()))
}

/// The expected web apps that `ha`'s Serf agent does not count as alive.
pub(super) fn not_alive<'a>(expected: &'a [String], members: &[Member]) -> Vec<&'a String> {
    expected
        .iter()
        .filter(|node| {
            !members
                .iter()
                .any(|m| &m.name == *node && m.status == "alive")
        })
        .collect()
}

/// Why a wait ended without the lab being ready: one line per node that is
/// not, then what `ha` said.
pub(super) fn timeout_lines(expected: &[String], last: &Backends) -> Vec<(Option<String>, String)> {
    let mut lines = Vec::new();
    for node in expected {
        let state = last.servers.iter().find(|s| &s.name == node);
        if state.is_some_and(ServerState::is_up) {
            continue;
        }
        let line = match state {
            Some(s) => format!("`{node}` is {} in HAProxy", s.status),
            None => {
                format!("`{node}` is not in HAProxy's configuration (not a Serf member yet?)")
            }
        };
        lines.push((Some(node.clone()), line));
    }
    for s in &last.servers {
        if !expected.contains(&s.name) {
            lines.push((
                None,
                format!("`{}` is still in HAProxy's configuration", s.name),
            ));
        }
    }
    if let Some(e) = &last.last_error {
        lines.push((
            None,
            format!("last reconciliation error in `ha`: {}", e.trim()),
        ));
    }
    if let Some(e) = &last.reload_pending {
        lines.push((
            None,
            format!(
                "HAProxy in `ha` has not taken the new configuration yet: {}",
                e.trim()
            ),
        ));
    }
    lines
}

impl Lab {
    /// Waits until HAProxy serves exactly web apps `1..=wanted`, all UP.
    pub async fn wait_converged(
        &self,
        wanted: u32,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Duration> {
        let expected: Vec<String> = (1..=wanted).map(naming::webapp_name).collect();
        self.wait_for(&expected, timeout, progress).await
    }

    /// Waits until the lab serves exactly the web apps `expected`, as far as
    /// its stage can tell.
    pub async fn wait_for(
        &self,
        expected: &[String],
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Duration> {
        let stage = self.observe().await?.require_stage()?;
        let started = Instant::now();
        let mut last = Backends::default();
        let mut last_err = None;
        let mut next_nudge = NUDGE_AFTER;
        while started.elapsed() < timeout {
            match self.probe(stage).await {
                Ok(probe) => {
                    let (ready, msg) = readiness(stage, expected, &probe);
                    if ready {
                        return Ok(started.elapsed());
                    }
                    progress.set(msg);
                    if stage.has_serf() && started.elapsed() > next_nudge {
                        next_nudge += NUDGE_AFTER;
                        self.nudge(expected, progress).await;
                    }
                    last = probe.backends;
                    last_err = None;
                }
                Err(e) => {
                    progress.set(format!("waiting for `ha` to answer: {e:#}"));
                    last_err = Some(e);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(self
            .explain_timeout(expected, &last, last_err, timeout)
            .await)
    }

    /// What `ha` reports, as much as `stage` needs to decide.
    async fn probe(&self, stage: Stage) -> Result<Probe> {
        let backends = self.backends().await?;
        let registry = if stage.config_on_file_only() {
            Some(self.registry().await?)
        } else {
            None
        };
        let members = if stage.has_serf() && !stage.keeps_registry() {
            Some(self.members().await?)
        } else {
            None
        };
        Ok(Probe {
            backends,
            registry,
            members,
        })
    }

    /// Makes expected web apps that `ha`'s Serf agent does not count as
    /// alive announce themselves again. Serf remembers a node's leave for a
    /// while; a new node that reuses the name (s5 removed, later s5 created
    /// again) can be taken for the one that left until it joins once more.
    async fn nudge(&self, expected: &[String], progress: &Progress) {
        let Ok(members) = self.members().await else {
            return;
        };
        for node in not_alive(expected, &members)
            .into_iter()
            .take(NUDGE_AT_ONCE)
        {
            progress.info(format!(
                "`{node}` is not alive in ha's Serf view yet; it joins again"
            ));
            let join = format!("serf join \"${}\"", contract::SERF_JOIN);
            let _ = self.exec(node, &["sh", "-c", &join]).await;
        }
    }

    /// Says which node is not ready and why, with its last logs.
    async fn explain_timeout(
        &self,
        expected: &[String],
        last: &Backends,
        err: Option<anyhow::Error>,
        timeout: Duration,
    ) -> anyhow::Error {
        let mut lines = vec![format!(
            "lab `{}` did not converge within {} s",
            self.names().lab(),
            timeout.as_secs()
        )];
        // A server `ha` holds in maintenance: what `ha` did is in its log.
        let held = last.servers.iter().any(|s| s.status.starts_with("MAINT"));
        if let Some(e) = &err {
            lines.push(format!("`ha` did not answer: {e:#}"));
        }
        if err.is_some() || held {
            let logs = self
                .logs(HA, &LogsRequest::last(12))
                .await
                .unwrap_or_default();
            lines.push(format!("last logs of `ha`:\n{}", indent(&logs)));
        }
        for (node, line) in timeout_lines(expected, last) {
            lines.push(line);
            if let Some(node) = node {
                let logs = self
                    .logs(&node, &LogsRequest::last(8))
                    .await
                    .unwrap_or_else(|e| format!("{e:#}"));
                lines.push(format!("last logs of `{node}`:\n{}", indent(&logs)));
            }
        }
        lines.push(
            "`labctl status` shows the lab's state; run the command again to keep waiting".into(),
        );
        anyhow::anyhow!(lines.join("\n"))
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, status: &str) -> ServerState {
        ServerState {
            name: name.into(),
            status: status.into(),
            addr: String::new(),
            total: 0,
            check: "L7OK".into(),
            last_change_s: 0,
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn convergence_needs_exactly_the_expected_servers_up() {
        let want = names(&["s1", "s2"]);
        assert!(converged(&[state("s1", "UP"), state("s2", "UP")], &want));
        assert!(!converged(&[state("s1", "UP"), state("s2", "DOWN")], &want));
        assert!(!converged(&[state("s1", "UP")], &want));
        assert!(!converged(
            &[state("s1", "UP"), state("s2", "UP"), state("s3", "UP")],
            &want
        ));
        assert!(converged(&[], &[]));
        let unchecked = ServerState {
            check: "INI".into(),
            ..state("s2", "UP")
        };
        assert!(!converged(&[state("s1", "UP"), unchecked], &want));
    }

    fn member(name: &str, role: &str, status: &str) -> Member {
        Member {
            name: name.into(),
            addr: String::new(),
            tags: [("role".to_string(), role.to_string())].into(),
            status: status.into(),
        }
    }

    #[test]
    fn early_stages_need_the_static_servers_up_and_the_members_alive() {
        let stage = Stage::new(4).unwrap();
        let want = names(&["s1", "s2", "s3"]);
        let probe = Probe {
            backends: Backends {
                servers: vec![state("s1", "UP"), state("s2", "UP")],
                ..Backends::default()
            },
            registry: None,
            members: Some(vec![
                member("ha", "balancer", "alive"),
                member("s3", "backend", "alive"),
                member("s2", "backend", "alive"),
                member("s1", "backend", "alive"),
            ]),
        };
        assert_eq!(
            readiness(stage, &want, &probe),
            (true, "waiting for 3 web app(s) (stage 4)".to_string())
        );
        let mut failed = probe.clone();
        failed.members.as_mut().unwrap()[1].status = "failed".into();
        assert!(!readiness(stage, &want, &failed).0);
        let mut down = probe;
        down.backends.servers[1].status = "DOWN".into();
        assert!(!readiness(stage, &want, &down).0);
    }

    #[test]
    fn stage_5_waits_for_the_registry_and_stage_6_for_haproxy() {
        let want = names(&["s1"]);
        let probe = Probe {
            registry: Some(names(&["s1"])),
            ..Probe::default()
        };
        assert!(readiness(Stage::new(5).unwrap(), &want, &probe).0);
        assert_eq!(
            readiness(stage::FINAL, &want, &probe),
            (
                false,
                "waiting for HAProxy to serve 1 web app(s): 0 UP, 0 listed".to_string()
            )
        );
    }

    #[test]
    fn a_timeout_names_each_node_that_is_not_ready() {
        let last = Backends {
            servers: vec![state("s1", "UP"), state("s2", "DOWN"), state("s4", "UP")],
            last_error: Some("haproxy -c refused it\n".into()),
            ..Backends::default()
        };
        let lines: Vec<String> = timeout_lines(&names(&["s1", "s2", "s3"]), &last)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert_eq!(
            lines,
            [
                "`s2` is DOWN in HAProxy",
                "`s3` is not in HAProxy's configuration (not a Serf member yet?)",
                "`s4` is still in HAProxy's configuration",
                "last reconciliation error in `ha`: haproxy -c refused it",
            ]
        );
    }

    #[test]
    fn only_members_not_alive_are_nudged() {
        let members = vec![
            member("s1", "backend", "alive"),
            member("s2", "backend", "left"),
        ];
        let want = names(&["s1", "s2", "s3"]);
        assert_eq!(not_alive(&want, &members), [&want[1], &want[2]]);
    }
}
