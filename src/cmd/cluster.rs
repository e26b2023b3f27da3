//! `labctl cluster up|down|ls`: a local multi-node Swarm in containers.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use comfy_table::{presets, Table};

use crate::cli::{ClusterArgs, ClusterCommand, Format, Global};
use crate::cluster::{self, ClusterRequest};
use crate::output::Progress;
use crate::templates::Templates;

/// How long `cluster up` or `down` waits for another one on the same
/// cluster.
const CLUSTER_WAIT: std::time::Duration = std::time::Duration::from_secs(1800);

pub(super) async fn run(global: &Global, args: &ClusterArgs) -> Result<ExitCode> {
    cluster::plan::check_name(&args.name).map_err(crate::usage::usage)?;
    // What can be checked without the engine is, before connecting.
    let req = match &args.command {
        ClusterCommand::Up(up) => {
            let req = ClusterRequest {
                name: args.name.clone(),
                nodes: up.nodes,
                subnet: up.subnet,
                bind: up.bind,
                api_port: up.api_port,
                http_port: up.http_port,
                stats_port: up.stats_port,
                registry_port: up.registry.then_some(up.registry_port),
            };
            req.check().map_err(crate::usage::usage)?;
            if let Some(p) = up.build.platform {
                return Err(crate::usage::usage(format!(
                    "--platform {p}: a local cluster's nodes run this engine's own platform; \
                     leave out --platform"
                )));
            }
            Some(req)
        }
        _ => None,
    };
    let progress = Progress::new(global.quiet);
    let host = crate::runtime::connect().await?;
    // `up` and `down` change the cluster: one at a time, whoever runs them.
    let lock = crate::lock::LabLock::cluster(host.engine_id(), &args.name, CLUSTER_WAIT);
    let _held = match &args.command {
        ClusterCommand::Up(_) | ClusterCommand::Down => {
            Some(lock.acquire(host.as_ref(), &progress).await?)
        }
        ClusterCommand::Ls { .. } => None,
    };
    match &args.command {
        ClusterCommand::Up(up) => {
            let req = req.context("cluster request")?;
            let templates = Templates::load(global.templates.as_deref())?;
            let made = cluster::up(
                host.as_ref(),
                &templates,
                &up.build.options(),
                &req,
                &progress,
            )
            .await?;
            progress.finish();
            crate::outln!(
                "cluster `{}` is up: {} node(s), node1 manages; the lab answers on {} (stats {})",
                made.name,
                made.nodes.len(),
                made.web.as_deref().unwrap_or("?"),
                made.stats.as_deref().unwrap_or("?"),
            )?;
            crate::outln!("run the lab on it:")?;
            crate::outln!(
                "  export DOCKER_HOST={}",
                made.manager.as_deref().unwrap_or("?")
            )?;
            match &made.registry {
                Some(registry) => {
                    crate::outln!("  labctl up --engine swarm --registry {registry}")?;
                    crate::outln!(
                        "(the nodes pull the lab's images from the cluster's registry, {registry}; \
                         this host pushes to it on {})",
                        made.registry_host.as_deref().unwrap_or("?")
                    )?;
                }
                None => crate::outln!("  labctl up --engine swarm")?,
            }
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Down => {
            let removed = cluster::down(host.as_ref(), &args.name, &progress).await?;
            progress.finish();
            if removed.is_empty() {
                crate::outln!("cluster `{}` has nothing to remove", args.name)?;
            } else {
                crate::outln!("removed {}", removed.join(", "))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Ls { format } => {
            let clusters = cluster::list(host.as_ref()).await?;
            match format {
                Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&clusters)?)?,
                Format::Table => {
                    let mut table = Table::new();
                    table.load_preset(presets::NOTHING);
                    table.set_header([
                        "CLUSTER",
                        "NODES",
                        "DOCKER_HOST",
                        "WEB",
                        "STATS",
                        "REGISTRY",
                    ]);
                    for c in &clusters {
                        let nodes: Vec<String> = c
                            .nodes
                            .iter()
                            .map(|(n, _, state)| format!("node{n} {state}"))
                            .collect();
                        table.add_row([
                            c.name.clone(),
                            nodes.join(", "),
                            c.manager.clone().unwrap_or_default(),
                            c.web.clone().unwrap_or_default(),
                            c.stats.clone().unwrap_or_default(),
                            c.registry.clone().unwrap_or_default(),
                        ]);
                    }
                    crate::outln!("{table}")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
