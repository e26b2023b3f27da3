//! `labctl status`: per node, what Docker, Serf and HAProxy say of it.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{presets, Table};
use serde::Serialize;

use super::Context;
use crate::cli::{Format, FormatArgs};
use crate::lab::Backends;
use crate::labels;

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
    pub haproxy: Option<crate::node::haproxy::Processes>,
    /// Problems reading Serf or HAProxy.
    pub warnings: Vec<String>,
}

pub async fn run(ctx: &Context, args: &FormatArgs) -> Result<ExitCode> {
    if let Some(lab) = super::swarm::find(ctx).await? {
        return super::swarm::status(&lab, args).await;
    }
    let containers = ctx.lab.containers().await?;
    let network = ctx.lab.names().network();
    let mut warnings = Vec::new();
    let ha_running = containers.iter().any(|c| {
        c.labels.get(labels::NODE).map(String::as_str) == Some(crate::naming::HA)
            && c.state.is_running()
    });
    let (members, backends) = if ha_running {
        let members = ctx.lab.members().await.unwrap_or_else(|e| {
            warnings.push(format!("Serf: {e:#}"));
            Vec::new()
        });
        let backends = ctx.lab.backends().await.unwrap_or_else(|e| {
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
        lab: ctx.lab.names().lab().to_string(),
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
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&report)?)?,
        Format::Table => {
            if report.nodes.is_empty() {
                crate::outln!("lab `{}` is not up; start it with `labctl up`", report.lab)?;
                return Ok(ExitCode::SUCCESS);
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
            crate::outln!("{table}")?;
            if let Some(e) = &report.last_error {
                crate::outln!("\nha: the last configuration change failed (the previous configuration keeps running):\n  {e}")?;
            }
            if let Some(e) = &report.reload_pending {
                crate::outln!("\nha: HAProxy has not taken the new configuration yet; its reload is retried:\n  {e}")?;
            }
            if !report.differences.is_empty() {
                crate::outln!("\nha: haproxy.cfg and the running HAProxy differ (being applied):")?;
                for d in &report.differences {
                    crate::outln!("  {d}")?;
                }
            }
            if !report.waiting.is_empty() {
                crate::outln!("\nha: waiting for:")?;
                for w in &report.waiting {
                    crate::outln!("  {w}")?;
                }
            }
            for w in &report.warnings {
                crate::outln!("warning: {w}")?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
