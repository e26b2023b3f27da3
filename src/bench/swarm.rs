//! The Swarm benchmark: on a local 3-node cluster, `scale webapp=N` from 2
//! until every web app is UP in HAProxy, against the Swarm's own floor
//! measured in the same run (every task of the service running); the join
//! of each web app across nodes; requests lost while scaling 2 → N → 2.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::load::{Load, LoadRun, Mix};
use super::stats::{summarize, Summary};
use crate::cluster::ClusterSummary;
use crate::contract::Role;
use crate::naming::LabNames;
use crate::output::Progress;
use crate::runtime::{self, Runtime};
use crate::swarm::{plan, SwarmLab, SwarmUp};

/// The local cluster the benchmark makes (and removes).
pub const CLUSTER: &str = "bench-swarm";
/// Its nodes.
pub const NODES: u32 = 3;

/// What the Swarm benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct SwarmFigures {
    /// Swarm nodes.
    pub nodes: u32,
    /// Web apps at the top.
    pub to: u32,
    /// From the scale request until every task of the service runs (the
    /// Swarm's floor), ms, per run.
    pub tasks_running: Summary,
    /// From the scale request until HAProxy has every web app UP, ms, per
    /// run.
    pub all_up: Summary,
    /// `all_up / tasks_running`, median of the runs' ratios.
    pub ratio: f64,
    /// Per web app: its task running (the Swarm's timestamp) → UP in
    /// HAProxy, ms.
    pub join: Summary,
    /// Nodes the web apps ran on at the top.
    pub spread: usize,
    /// `scale webapp=2` from N until HAProxy serves exactly 2, ms, per run.
    pub down: Summary,
    /// What non-retrying clients saw during all the runs.
    pub load: LoadRun,
}

fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()
}

/// Scales 2 → `to` → 2 `runs` times under load on the cluster `cluster`.
pub async fn swarm(
    cluster: &ClusterSummary,
    runs: usize,
    to: u32,
    progress: &Progress,
) -> Result<SwarmFigures> {
    let manager = cluster
        .manager
        .as_deref()
        .context("the benchmark's cluster publishes no engine")?;
    let port = |p: &Option<String>| -> Result<u16> {
        p.as_deref()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .context("the benchmark's cluster publishes no lab port")
    };
    let (http, stats) = (port(&cluster.web)?, port(&cluster.stats)?);
    let runtime: Arc<dyn Runtime> = runtime::connect_to(manager).await?;
    let lab = SwarmLab::new(runtime.clone(), LabNames::new(crate::naming::DEFAULT_LAB)?).await?;
    let wait = Duration::from_secs(300);
    lab.down(progress).await?;
    let req = SwarmUp {
        subnet: crate::naming::DEFAULT_SUBNET.parse()?,
        webapps: 2,
        http_port: crate::naming::HTTP_PORT,
        stats_port: crate::naming::STATS_PORT,
        stats_auth: None,
        registry: None,
    };
    lab.up(&req, Some(wait), progress).await?;
    let swarm = runtime
        .as_swarm()
        .context("the manager is no Swarm manager")?;
    let service = plan::service(lab.names(), Role::Webapp);
    let load = Load::start(
        http,
        Mix {
            keep_alive: 1,
            close: 1,
            idle: 8,
        },
        u64::MAX,
        Duration::from_secs(30 * 60),
    );
    let (mut running_t, mut up_t, mut down_t, mut joins) = (vec![], vec![], vec![], vec![]);
    let mut spread = 0;
    for run in 1..=runs {
        progress.set(format!("swarm: run {run}: 2 → {to}"));
        let before: BTreeSet<String> = plan::expected_webapps(&swarm.tasks(&service).await?)
            .into_iter()
            .collect();
        let started = Instant::now();
        let started_at = SystemTime::now();
        swarm.scale_service(&service, u64::from(to)).await?;
        let mut first_up: BTreeMap<String, SystemTime> = BTreeMap::new();
        let mut all_running = None;
        loop {
            if started.elapsed() > wait {
                bail!("swarm: {to} web apps not all UP after {} s", wait.as_secs());
            }
            if all_running.is_none() {
                let tasks = swarm.tasks(&service).await?;
                if plan::expected_webapps(&tasks).len() == to as usize {
                    all_running = Some(started.elapsed());
                }
            }
            if let Ok(r) = crate::http::get_path(stats, "/;csv", &[], Duration::from_secs(2)).await
            {
                let servers = crate::stats::servers(&r.body, crate::node::servers::BACKEND);
                for s in servers.iter().filter(|s| s.is_up()) {
                    first_up
                        .entry(s.name.clone())
                        .or_insert_with(SystemTime::now);
                }
                let up = servers.iter().filter(|s| s.is_up()).count();
                if all_running.is_some() && up == to as usize && servers.len() == to as usize {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        up_t.push(started.elapsed());
        running_t.push(all_running.unwrap_or_default());
        let tasks = swarm.tasks(&service).await?;
        spread = tasks
            .iter()
            .filter(|t| t.is_running())
            .map(|t| t.node_id.clone())
            .collect::<BTreeSet<_>>()
            .len();
        for t in tasks.iter().filter(|t| t.is_running()) {
            let name = plan::webapp_node(t);
            if before.contains(&name) {
                continue;
            }
            if let (Some(running), Some(up)) = (parse_time(&t.since), first_up.get(&name)) {
                // A task whose running time is before the scale request
                // is not one of this run's.
                if running >= started_at {
                    joins.push(up.duration_since(running).unwrap_or_default());
                }
            }
        }
        progress.set(format!("swarm: run {run}: {to} → 2"));
        let t = Instant::now();
        lab.scale(2, Some(wait), progress).await?;
        down_t.push(t.elapsed());
    }
    let load = load.finish().await;
    lab.down(progress).await?;
    let mut ratios: Vec<f64> = up_t
        .iter()
        .zip(&running_t)
        .map(|(up, running)| up.as_secs_f64() / running.as_secs_f64().max(1e-3))
        .collect();
    ratios.sort_by(f64::total_cmp);
    Ok(SwarmFigures {
        nodes: cluster.nodes.len() as u32,
        to,
        tasks_running: summarize(&running_t),
        all_up: summarize(&up_t),
        ratio: super::stats::percentile(&ratios, 50.0),
        join: summarize(&joins),
        spread,
        down: summarize(&down_t),
        load,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swarms_timestamps_are_read() {
        let t = parse_time("2026-11-30T08:27:17.826261353Z").unwrap();
        let base = parse_time("2026-11-30T08:27:17Z").unwrap();
        let d = t.duration_since(base).unwrap();
        assert_eq!(d.as_millis(), 826);
        assert!(parse_time("").is_none());
    }
}
