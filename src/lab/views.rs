//! What `ps` and `status` show of a lab on one engine, as a table and as
//! JSON; and where `up` says the lab answers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::Result;
use comfy_table::{presets, Table};
use serde::Serialize;

use super::{Backends, Lab};
use crate::labels;
use crate::naming::{LabNames, STATS_PORT};
use crate::reach::EngineAt;
use crate::runtime::ContainerInfo;
use crate::service::View;

/// One row of `ps`.
#[derive(Debug, Serialize)]
pub(super) struct Row {
    /// Short container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Node name.
    pub node: String,
    /// `balancer` or `backend`.
    pub role: String,
    /// Image.
    pub image: String,
    /// `running`, `exited`, …
    pub state: String,
    /// Docker's status text.
    pub status: String,
    /// Address on the lab's network.
    pub ip: String,
    /// Published ports, `host:port->port/tcp`.
    pub ports: Vec<String>,
}

/// The rows of the lab's containers.
pub(super) fn rows(names: &LabNames, containers: &[ContainerInfo]) -> Vec<Row> {
    let network = names.network();
    containers
        .iter()
        .map(|c| Row {
            id: c.id.chars().take(12).collect(),
            name: c.name.clone(),
            node: c.labels.get(labels::NODE).cloned().unwrap_or_default(),
            role: c.labels.get(labels::ROLE).cloned().unwrap_or_default(),
            image: c.image.clone(),
            state: c.state.to_string(),
            status: c.status.clone(),
            ip: c
                .addresses
                .get(&network)
                .map(ToString::to_string)
                .unwrap_or_default(),
            ports: c
                .ports
                .iter()
                .filter_map(|p| {
                    Some(format!(
                        "{}:{}->{}/tcp",
                        p.host_ip.as_deref()?,
                        p.host_port?,
                        p.container
                    ))
                })
                .collect(),
        })
        .collect()
}

/// One node's state.
#[derive(Debug, Serialize)]
pub struct NodeStatus {
    /// Node name.
    pub node: String,
    /// Container name.
    pub container: String,
    /// Container state (`running`, `exited`, … or `absent`).
    pub state: String,
    /// Address on the lab's network.
    pub ip: String,
    /// Serf status as `ha` sees it (`alive`, `left`, `failed`, or `-`).
    pub serf: String,
    /// HAProxy server state (`UP`, `DOWN`, … or `-`).
    pub haproxy: String,
    /// Requests HAProxy sent it.
    pub requests: Option<u64>,
}

/// The whole report.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The lab.
    pub lab: String,
    /// Per node.
    pub nodes: Vec<NodeStatus>,
    /// The last error of `ha`'s reconciliation, if its last attempt failed.
    pub last_error: Option<String>,
    /// Why HAProxy has not taken the configuration on file yet (its reload
    /// is retried).
    pub reload_pending: Option<String>,
    /// Where haproxy.cfg and the running HAProxy disagree, one line each.
    pub differences: Vec<String>,
    /// What `ha` still waits for before HAProxy runs what the file says.
    pub waiting: Vec<String>,
    /// HAProxy's reloads and worker processes.
    pub haproxy: Option<crate::contract::Processes>,
    /// Problems reading Serf or HAProxy.
    pub warnings: Vec<String>,
}

/// The `ps` table of `rows`.
pub(super) fn ps_table(rows: &[Row]) -> String {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header([
        "CONTAINER ID",
        "NAME",
        "NODE",
        "IMAGE",
        "STATUS",
        "IP",
        "PORTS",
    ]);
    for r in rows {
        table.add_row([
            r.id.as_str(),
            &r.name,
            &r.node,
            &r.image,
            &r.status,
            &r.ip,
            &r.ports.join(", "),
        ]);
    }
    table.to_string()
}

/// The `status` text of `report`.
pub(super) fn status_text(report: &Report) -> String {
    if report.nodes.is_empty() {
        return format!("lab `{}` is not up; start it with `labctl up`", report.lab);
    }
    let mut table = Table::new();
    table.load_preset(presets::NOTHING);
    table.set_header([
        "NODE",
        "CONTAINER",
        "STATE",
        "IP",
        "SERF",
        "HAPROXY",
        "REQUESTS",
    ]);
    for n in &report.nodes {
        table.add_row([
            n.node.as_str(),
            &n.container,
            &n.state,
            &n.ip,
            &n.serf,
            &n.haproxy,
            &n.requests.map_or_else(|| "-".into(), |r| r.to_string()),
        ]);
    }
    let mut out = table.to_string();
    if let Some(e) = &report.last_error {
        let _ = write!(
            out,
            "\n\nha: the last configuration change failed (the previous configuration keeps running):\n  {e}"
        );
    }
    if let Some(e) = &report.reload_pending {
        let _ = write!(
            out,
            "\n\nha: HAProxy has not taken the new configuration yet; its reload is retried:\n  {e}"
        );
    }
    if !report.differences.is_empty() {
        out.push_str("\n\nha: haproxy.cfg and the running HAProxy differ (being applied):");
        for d in &report.differences {
            let _ = write!(out, "\n  {d}");
        }
    }
    if !report.waiting.is_empty() {
        out.push_str("\n\nha: waiting for:");
        for w in &report.waiting {
            let _ = write!(out, "\n  {w}");
        }
    }
    for w in &report.warnings {
        let _ = write!(out, "\nwarning: {w}");
    }
    out
}

/// A published port: what it is, and its URL from the user's machine or
/// why there is none.
pub(super) type Published = (&'static str, Result<String, String>);

/// What `up` says once the lab serves: its size, and for each published
/// port what it is and its URL from the user's machine (the engine being
/// `at`), or why there is none.
pub(super) fn endpoints(
    names: &LabNames,
    containers: &[ContainerInfo],
    at: &EngineAt,
) -> (String, Vec<Published>) {
    let ha = containers
        .iter()
        .find(|c| c.label(labels::NODE) == Some(crate::naming::HA));
    let webapps = containers
        .iter()
        .filter(|c| c.label(labels::ROLE) == Some(crate::contract::BACKEND))
        .count();
    let said = format!("lab `{}` is up: ha + {webapps} web app(s)", names.lab());
    let mut out = Vec::new();
    if let Some(ha) = ha {
        for p in &ha.ports {
            if let (Some(ip), Some(port)) = (&p.host_ip, p.host_port) {
                let what = if p.container == STATS_PORT {
                    "stats page"
                } else {
                    "web app   "
                };
                out.push((what, crate::reach::url(at, ip, port)));
            }
        }
    }
    (said, out)
}

impl Lab {
    /// `ps` of the lab.
    pub(super) async fn ps_view(&self) -> Result<View> {
        let rows = rows(self.names(), &self.containers().await?);
        Ok(View {
            table: ps_table(&rows),
            json: serde_json::to_value(&rows)?,
        })
    }

    /// `status` of the lab.
    pub(super) async fn status_view(&self) -> Result<View> {
        let report = self.status_report().await?;
        Ok(View {
            table: status_text(&report),
            json: serde_json::to_value(&report)?,
        })
    }

    /// Per node, what the engine, Serf and HAProxy say.
    pub async fn status_report(&self) -> Result<Report> {
        let containers = self.containers().await?;
        let network = self.names().network();
        let mut warnings = Vec::new();
        let ha_running = containers.iter().any(|c| {
            c.labels.get(labels::NODE).map(String::as_str) == Some(crate::naming::HA)
                && c.state.is_running()
        });
        let (members, backends) = if ha_running {
            let members = self.members().await.unwrap_or_else(|e| {
                warnings.push(format!("Serf: {e:#}"));
                Vec::new()
            });
            let backends = self.backends().await.unwrap_or_else(|e| {
                warnings.push(format!("HAProxy: {e:#}"));
                Backends::default()
            });
            (members, backends)
        } else {
            (Vec::new(), Backends::default())
        };
        let mut nodes: Vec<NodeStatus> = containers
            .iter()
            .map(|c| {
                let node = c.labels.get(labels::NODE).cloned().unwrap_or_default();
                let member = members.iter().find(|m| m.name == node);
                let server = backends.servers.iter().find(|s| s.name == node);
                NodeStatus {
                    container: c.name.clone(),
                    state: c.state.to_string(),
                    ip: c
                        .addresses
                        .get(&network)
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    serf: member.map_or_else(|| "-".into(), |m| m.status.clone()),
                    haproxy: server.map_or_else(|| "-".into(), |s| s.status.clone()),
                    requests: server.map(|s| s.total),
                    node,
                }
            })
            .collect();
        // Members and servers with no container of the lab behind them.
        let known: BTreeSet<String> = nodes.iter().map(|n| n.node.clone()).collect();
        let mut strays: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
        strays.extend(backends.servers.iter().map(|s| s.name.clone()));
        for name in strays.difference(&known) {
            let member = members.iter().find(|m| &m.name == name);
            let server = backends.servers.iter().find(|s| &s.name == name);
            nodes.push(NodeStatus {
                node: name.clone(),
                container: "-".into(),
                state: "absent".into(),
                ip: member
                    .map(|m| m.addr.split(':').next().unwrap_or_default().to_string())
                    .unwrap_or_default(),
                serf: member.map_or_else(|| "-".into(), |m| m.status.clone()),
                haproxy: server.map_or_else(|| "-".into(), |s| s.status.clone()),
                requests: server.map(|s| s.total),
            });
        }
        let report = Report {
            lab: self.names().lab().to_string(),
            nodes,
            last_error: backends.last_error.map(|e| e.trim().to_string()),
            reload_pending: backends.reload_pending.map(|e| e.trim().to_string()),
            differences: backends.differences,
            waiting: backends
                .waiting
                .unwrap_or_default()
                .lines()
                .map(String::from)
                .collect(),
            haproxy: backends.processes,
            warnings,
        };
        Ok(report)
    }
}
