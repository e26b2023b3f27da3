//! Carrying out a plan on the runtime: the lab's network (with the race for
//! a free subnet), containers created and started with nothing left
//! half-made, web apps made to leave the cluster before they go.

use anyhow::{Context, Result};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ipnet::Ipv4Net;

use super::observe::Observation;
use super::plan::{self, ScaleWork};
use super::Lab;
use crate::naming::{self, Addressing, HA};
use crate::output::{some_of, Progress};
use crate::runtime::{refused, ContainerSpec, NetworkInfo, Refusal};

/// How many containers are created or removed at once.
const PARALLEL: usize = 16;
/// How long a stopping web app gets to finish its requests.
pub(super) const STOP_TIMEOUT_S: i32 = 10;
/// How many times a subnet picked for the user may be lost to another lab
/// created at the same moment.
const SUBNET_RACES: usize = 8;
/// How long removing web apps waits for `ha` to have seen them leave.
const LEAVE_SEEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The supervisor's service directory of the Serf agent in every node.
const SERF_SERVICE: &str = "/run/s6/serf";

impl Lab {
    /// Creates the lab's network on `subnet`, or on a free subnet picked
    /// for the user. A picked subnet may be taken by another lab starting
    /// at the same moment: the engine refuses it, and the next one is tried.
    pub(super) async fn create_network(
        &self,
        obs: &Observation,
        subnet: Option<Ipv4Net>,
        webapps: u32,
        progress: &Progress,
    ) -> Result<NetworkInfo> {
        let name = self.names().network();
        let labels = plan::network_labels(self.names(), new_serf_key()?);
        let chosen = subnet.map(|s| s.trunc()).or_else(|| {
            self.names()
                .is_default()
                .then(|| naming::DEFAULT_SUBNET.parse().ok())
                .flatten()
        });
        let mut taken: Vec<Ipv4Net> = obs
            .networks
            .iter()
            .flat_map(|n| n.subnets.clone())
            .collect();
        let mut races = 0;
        loop {
            let subnet = match chosen {
                Some(s) => s,
                None => naming::free_subnet(&taken).context(
                    "no free 192.168.x.0/24 subnet is left for this lab; name one with --subnet",
                )?,
            };
            plan::check_capacity(Addressing::new(subnet)?, webapps)?;
            if chosen.is_some() {
                if let Some(other) = obs
                    .networks
                    .iter()
                    .find(|n| n.subnets.iter().any(|s| naming::overlaps(*s, subnet)))
                {
                    anyhow::bail!(
                        "subnet {subnet} overlaps network `{}` ({}); choose another with --subnet",
                        other.name,
                        other
                            .subnets
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            progress.info(format!("creating network {name} ({subnet})"));
            let gateway = Addressing::new(subnet)?.gateway();
            match self
                .runtime
                .create_network(&name, subnet, gateway, &labels)
                .await
            {
                Ok(()) => {
                    return Ok(NetworkInfo {
                        name,
                        labels,
                        subnets: vec![subnet],
                    })
                }
                Err(e)
                    if chosen.is_none()
                        && races < SUBNET_RACES
                        && refused(&e, |r| matches!(r, Refusal::Overlaps(_))) =>
                {
                    races += 1;
                    taken.push(subnet);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates and starts one container; one that cannot start is removed
    /// again, so that no half-made node is left.
    pub(super) async fn create_and_start(&self, spec: &ContainerSpec) -> Result<()> {
        self.runtime.create_container(spec).await?;
        if let Err(e) = self.runtime.start_container(&spec.name).await {
            let _ = self.runtime.remove_container(&spec.name).await;
            if refused(&e, |r| matches!(r, Refusal::PortTaken(_))) {
                return Err(e.context(
                    "a host port of the lab is taken; choose others with --http-port and --stats-port",
                ));
            }
            return Err(e);
        }
        Ok(())
    }

    /// Creates and starts containers, in parallel.
    pub(super) async fn start_specs(
        &self,
        specs: &[ContainerSpec],
        progress: &Progress,
    ) -> Result<()> {
        if !specs.is_empty() {
            progress.info(format!(
                "starting {}",
                some_of(specs.iter().map(|s| format!("{} at {}", s.name, s.ip)))
            ));
        }
        stream::iter(specs.iter().map(|s| self.create_and_start(s)))
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Applies a scale step: new web apps created, stopped ones started,
    /// extra ones told to leave the cluster (removed by `finish_scale`).
    pub(super) async fn apply_scale(&self, work: &ScaleWork, progress: &Progress) -> Result<()> {
        self.start_specs(&work.create, progress).await?;
        for name in &work.start {
            progress.info(format!("starting {name}"));
            self.runtime.start_container(name).await?;
        }
        if !work.remove.is_empty() {
            progress.info(format!(
                "removing {} (leaving the cluster first)",
                some_of(work.remove.iter().map(|(name, _)| name.clone()))
            ));
            stream::iter(
                work.remove
                    .iter()
                    .filter(|(_, running)| *running)
                    .map(|(name, _)| self.leave(name)),
            )
            .buffer_unordered(PARALLEL)
            .collect::<Vec<()>>()
            .await;
        }
        Ok(())
    }

    /// Makes a web app leave the cluster gracefully, as a scale down does,
    /// without stopping its container. Best effort.
    pub async fn leave_node(&self, node: &str) {
        self.leave(&self.names().container(node)).await;
    }

    /// Makes a running web app leave the cluster gracefully: `ha` is told
    /// first, and takes it out of its backends at once (the leave would
    /// otherwise reach it by gossip, a few hundred milliseconds later); then
    /// its Serf agent is taken down by the supervisor, and leaves on SIGTERM.
    /// Best effort.
    async fn leave(&self, container: &str) {
        self.drain(self.names().node_of(container)).await;
        let _ = self
            .runtime
            .exec(container, &["s6-svc", "-d", SERF_SERVICE])
            .await;
    }

    /// Tells `ha` that web app `node` is leaving: it takes it out of its
    /// backends at once. Best effort (an `ha` that is down has nothing to
    /// take out).
    pub(super) async fn drain(&self, node: &str) {
        if naming::webapp_number(node).is_some() {
            let _ = self
                .runtime
                .exec(
                    &self.names().container(HA),
                    &["labctl", "node", "drain", node],
                )
                .await;
        }
    }

    /// Stops and removes web apps that were told to leave. `ha` drops a web
    /// app before its agent has told the cluster: stopped before it is done,
    /// the node would be seen as failed, not left. So the supervisor is
    /// asked to wait for each agent to exit (up to 15 s: Serf's leave waits
    /// up to 5 s for its own broadcast and 5 s more for its membership
    /// layer's), and then `ha`'s agent to have heard the leaves.
    pub(super) async fn remove_left(&self, containers: &[(String, bool)]) -> Result<()> {
        let running: Vec<&String> = containers
            .iter()
            .filter(|(_, running)| *running)
            .map(|(name, _)| name)
            .collect();
        stream::iter(running.iter().map(|name| async move {
            let _ = self
                .runtime
                .exec(name, &["s6-svc", "-wD", "-T", "15000", "-d", SERF_SERVICE])
                .await;
        }))
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
        let nodes: Vec<&str> = running.iter().map(|c| self.names().node_of(c)).collect();
        self.wait_left(&nodes).await;
        stream::iter(containers.iter().map(|(name, _)| async move {
            self.runtime.stop_container(name, STOP_TIMEOUT_S).await?;
            self.runtime.remove_container(name).await
        }))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
        Ok(())
    }

    /// Waits (up to [`LEAVE_SEEN_TIMEOUT`]) until `ha`'s Serf agent has seen
    /// `nodes` leave. Leaves travel by gossip, and several web apps leaving
    /// at once gossip partly to each other: stopped before `ha` has heard,
    /// a node's leave can be lost with them, and `ha` then finds it failed.
    async fn wait_left(&self, nodes: &[&str]) {
        if nodes.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        while started.elapsed() < LEAVE_SEEN_TIMEOUT {
            let Ok(members) = self.members().await else {
                return;
            };
            let still = members.iter().any(|m| {
                nodes.contains(&m.name.as_str()) && matches!(m.status.as_str(), "alive" | "leaving")
            });
            if !still {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    /// Removes containers, in parallel.
    pub(super) async fn remove_all(&self, names: &[String]) -> Result<()> {
        stream::iter(names.iter().map(|n| self.runtime.remove_container(n)))
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }
}

/// A fresh Serf encryption key: 32 random bytes, base64.
pub fn new_serf_key() -> Result<String> {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no randomness for the Serf key: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key))
}
