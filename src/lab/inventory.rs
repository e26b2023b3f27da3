//! Every lab on a runtime, found by labctl's labels: for `labctl ls` and
//! `labctl down --all`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::Serialize;

use crate::contract;
use crate::labels;
use crate::naming::HA;
use crate::output::Progress;
use crate::runtime::{ContainerInfo, NetworkInfo, Runtime};

use super::Lab;
use crate::naming::LabNames;

/// One lab, as its resources show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabSummary {
    /// The lab's name.
    pub lab: String,
    /// Its web apps (containers), and how many of them run.
    pub webapps: usize,
    /// Web apps that run.
    pub running: usize,
    /// Whether `ha` runs.
    pub ha_running: bool,
    /// The stage `ha` runs, when there is an `ha`.
    pub stage: Option<String>,
    /// `host:port` of the web app and of the stats page, when published.
    pub http: Option<String>,
    /// `host:port` of the stats page.
    pub stats: Option<String>,
    /// The lab's subnet, when its network exists.
    pub subnet: Option<String>,
}

/// The labs in what a runtime listed (only labctl's resources count).
pub fn summarize(containers: &[ContainerInfo], networks: &[NetworkInfo]) -> Vec<LabSummary> {
    let managed = |labels: &std::collections::HashMap<String, String>| {
        labels.get(labels::MANAGED).map(String::as_str) == Some("true")
    };
    let mut labs: BTreeMap<String, LabSummary> = BTreeMap::new();
    fn entry<'a>(labs: &'a mut BTreeMap<String, LabSummary>, lab: &str) -> &'a mut LabSummary {
        labs.entry(lab.to_string()).or_insert_with(|| LabSummary {
            lab: lab.to_string(),
            webapps: 0,
            running: 0,
            ha_running: false,
            stage: None,
            http: None,
            stats: None,
            subnet: None,
        })
    }
    // A Swarm lab's overlay is the Swarm's (see [`swarm_labs`]).
    let own = |l: &std::collections::HashMap<String, String>| {
        managed(l) && l.get(labels::ENGINE).map(String::as_str) != Some("swarm")
    };
    for n in networks.iter().filter(|n| own(&n.labels)) {
        if let Some(lab) = n.labels.get(labels::LAB) {
            entry(&mut labs, lab).subnet = n.subnets.first().map(ToString::to_string);
        }
    }
    for c in containers.iter().filter(|c| managed(&c.labels)) {
        let Some(lab) = c.label(labels::LAB) else {
            continue;
        };
        let summary = entry(&mut labs, lab);
        if c.label(labels::ROLE) == Some(contract::BACKEND) {
            summary.webapps += 1;
            summary.running += usize::from(c.state.is_running());
        } else if c.label(labels::NODE) == Some(HA) {
            summary.ha_running = c.state.is_running();
            summary.stage = c.label(labels::STAGE).map(String::from);
            let published = |port: u16| {
                c.ports
                    .iter()
                    .find(|p| p.container == port)
                    .and_then(|p| Some(format!("{}:{}", p.host_ip.as_deref()?, p.host_port?)))
            };
            summary.http = published(80);
            summary.stats = published(crate::naming::STATS_PORT);
        }
    }
    labs.into_values().collect()
}

/// Every lab on `runtime`: labs of containers, then the labs on the Swarm
/// it manages.
pub async fn labs(runtime: &dyn Runtime) -> Result<Vec<LabSummary>> {
    let (containers, networks) = tokio::try_join!(
        runtime.containers_with_label(labels::MANAGED, "true"),
        runtime.networks()
    )?;
    let mut all = summarize(&containers, &networks);
    all.extend(swarm_labs(runtime, &networks).await?);
    Ok(all)
}

/// The labs on the Swarm `runtime` manages, from their services and tasks.
async fn swarm_labs(runtime: &dyn Runtime, networks: &[NetworkInfo]) -> Result<Vec<LabSummary>> {
    let Some(swarm) = runtime.as_swarm() else {
        return Ok(Vec::new());
    };
    if !matches!(swarm.local_node().await, Ok(Some((_, true)))) {
        return Ok(Vec::new());
    }
    let mut labs: BTreeMap<String, LabSummary> = BTreeMap::new();
    for service in swarm.services_with_label(labels::ENGINE, "swarm").await? {
        let Some(lab) = service.label(labels::LAB).map(String::from) else {
            continue;
        };
        let running = swarm
            .tasks(&service.name)
            .await?
            .iter()
            .filter(|t| t.is_running())
            .count();
        let summary = labs.entry(lab.clone()).or_insert_with(|| LabSummary {
            lab: lab.clone(),
            webapps: 0,
            running: 0,
            ha_running: false,
            stage: Some("6 (Swarm)".into()),
            http: None,
            stats: None,
            subnet: networks
                .iter()
                .find(|n| {
                    n.labels.get(labels::LAB) == Some(&lab)
                        && n.labels.get(labels::ENGINE).map(String::as_str) == Some("swarm")
                })
                .and_then(|n| n.subnets.first().map(ToString::to_string)),
        });
        if service.label(labels::ROLE) == Some(contract::BACKEND) {
            summary.webapps = service.replicas as usize;
            summary.running = running;
        } else {
            summary.ha_running = running > 0;
        }
    }
    Ok(labs.into_values().collect())
}

/// Removes every lab on `runtime`, one after the other; one that fails does
/// not stop the others. Returns each lab's name and what its `down` did.
pub async fn down_all(
    runtime: &std::sync::Arc<dyn Runtime>,
    progress: &Progress,
) -> Result<Vec<(String, Result<Vec<String>>)>> {
    let mut results = Vec::new();
    for summary in labs(runtime.as_ref()).await? {
        let names = LabNames::new(&summary.lab)?;
        let result = match crate::swarm::SwarmLab::find(runtime, &names).await? {
            Some(swarm) => swarm.down(progress).await,
            None => Lab::new(runtime.clone(), names).down(progress).await,
        };
        results.push((summary.lab, result));
    }
    Ok(results)
}
