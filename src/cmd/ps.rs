//! `labctl ps`: the lab's containers, like `docker ps`.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{presets, Table};
use serde::Serialize;

use super::Context;
use crate::cli::{Format, FormatArgs};
use crate::labels;
use crate::runtime::ContainerInfo;

/// One row of `ps`.
#[derive(Debug, Serialize)]
pub struct Row {
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
pub fn rows(ctx: &Context, containers: &[ContainerInfo]) -> Vec<Row> {
    let network = ctx.lab.names().network();
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

pub async fn run(ctx: &Context, args: &FormatArgs) -> Result<ExitCode> {
    if let Some(lab) = super::swarm::find(ctx).await? {
        return super::swarm::ps(&lab, args).await;
    }
    let containers = ctx.lab.containers().await?;
    let rows = rows(ctx, &containers);
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&rows)?)?,
        Format::Table => {
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
            for r in &rows {
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
            crate::outln!("{table}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// After `up`: where the lab answers.
pub async fn print_endpoints(ctx: &Context) -> Result<()> {
    let containers = ctx.lab.containers().await?;
    let ha = containers
        .iter()
        .find(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(crate::naming::HA));
    let webapps = containers
        .iter()
        .filter(|c| {
            c.labels.get(labels::ROLE).map(String::as_str) == Some(crate::contract::BACKEND)
        })
        .count();
    crate::outln!(
        "lab `{}` is up: ha + {webapps} web app(s)",
        ctx.lab.names().lab()
    )?;
    if let Some(ha) = ha {
        for p in &ha.ports {
            if let (Some(ip), Some(port)) = (&p.host_ip, p.host_port) {
                let what = if p.container == 1936 {
                    "stats page"
                } else {
                    "web app   "
                };
                crate::outln!("  {what}  http://{ip}:{port}/")?;
            }
        }
    }
    Ok(())
}
