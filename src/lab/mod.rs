//! A lab on a runtime, as whole operations: `up`, `scale_to`, `down`, a
//! node started or stopped. Each observes the lab once, plans with pure
//! functions (`plan`), applies the plan (`apply`) and waits (`wait`), under
//! the lab's lock. The verbs, the scenario runner and the benchmarks all
//! call these; none of them reaches the runtime past them.

mod apply;
mod events;
mod helper;

mod inventory;
mod observe;
mod plan;
mod query;
mod service;
mod views;
mod wait;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;

pub use crate::contract::{Backends, ConfigServer};
pub use apply::new_serf_key;
pub use events::{changes, from_ha_line, Event, Look};
pub use inventory::{down_all, labs, summarize, LabSummary};
pub use observe::{node_order, Observation};
pub use plan::{check_capacity, Publish, ScalePlan};
pub use query::in_ha;
pub use wait::{converged, readiness, Probe};

use crate::lock::{LabGuard, LabLock};
use crate::naming::{self, LabNames, HA};
use crate::output::{some_of, Progress};
use crate::runtime::{ContainerInfo, Runtime};
use crate::stage::Stage;

/// Web apps of a new lab, as in the lab's compose file.
pub const DEFAULT_WEBAPPS: u32 = 2;
/// How long an operation waits for another one working on the same lab.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// One lab on one runtime. Cheap to clone; clones share the lab's lock.
#[derive(Clone)]
pub struct Lab {
    runtime: Arc<dyn Runtime>,
    names: LabNames,
    lock: Arc<LabLock>,
}

/// What `up` is asked for.
#[derive(Debug, Clone)]
pub struct UpRequest {
    /// The subnet of a new lab network (a free one is picked if `None`).
    pub subnet: Option<Ipv4Net>,
    /// Where `ha`'s ports are published.
    pub publish: Publish,
    /// How many web apps; `None` keeps the size of a lab that is up (2 for
    /// a new one).
    pub webapps: Option<u32>,
    /// The lab stage to run.
    pub stage: Stage,
    /// The architecture the nodes run under emulation, when it is not the
    /// engine's own (their images are built for it).
    pub foreign: Option<crate::platform::Arch>,
}

impl Lab {
    /// The lab called `names` on `runtime`.
    pub fn new(runtime: Arc<dyn Runtime>, names: LabNames) -> Self {
        let lock = Arc::new(LabLock::new(runtime.engine_id(), names.lab(), LOCK_TIMEOUT));
        Self {
            runtime,
            names,
            lock,
        }
    }

    /// The same lab, waiting at most `timeout` for its lock.
    pub fn with_lock_timeout(self, timeout: Duration) -> Self {
        Self {
            lock: Arc::new(LabLock::new(
                self.runtime.engine_id(),
                self.names.lab(),
                timeout,
            )),
            ..self
        }
    }

    /// The lab's names.
    pub fn names(&self) -> &LabNames {
        &self.names
    }

    /// The runtime the lab runs on.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// Takes the lab's lock (or enters it again) for a sequence of
    /// operations that must not interleave with another command's.
    pub async fn lock(&self, progress: &Progress) -> Result<LabGuard> {
        self.lock.acquire(self.runtime.as_ref(), progress).await
    }

    /// One look at the lab: its network and containers.
    pub async fn observe(&self) -> Result<Observation> {
        let (networks, containers) =
            tokio::try_join!(self.runtime.networks(), self.runtime.containers())?;
        Ok(Observation::new(&self.names, networks, containers))
    }

    /// The lab's containers, `ha` first, then web apps by number.
    pub async fn containers(&self) -> Result<Vec<ContainerInfo>> {
        Ok(self.observe().await?.containers().to_vec())
    }

    /// The container of `node`, which must be one of the lab's.
    pub async fn node(&self, node: &str) -> Result<ContainerInfo> {
        self.observe().await?.node(node).cloned()
    }

    /// The stage the lab runs, from `ha`'s label.
    pub async fn stage(&self) -> Result<Stage> {
        self.observe().await?.require_stage()
    }

    /// The web apps whose containers run, in order.
    pub async fn running_webapps(&self) -> Result<Vec<String>> {
        let obs = self.observe().await?;
        Ok(obs
            .webapps()
            .into_values()
            .filter(|c| c.state.is_running())
            .filter_map(|c| c.label(crate::labels::NODE).map(String::from))
            .collect())
    }

    /// Fails unless the lab, if it is up, runs the platform `foreign` says
    /// (`None`: the engine's own).
    pub async fn check_platform(&self, foreign: Option<crate::platform::Arch>) -> Result<()> {
        self.platform_fits(&self.observe().await?, foreign)
    }

    fn platform_fits(
        &self,
        obs: &Observation,
        foreign: Option<crate::platform::Arch>,
    ) -> Result<()> {
        if obs.find(HA).is_none() || obs.foreign_arch() == foreign {
            return Ok(());
        }
        let says = |a: Option<crate::platform::Arch>| {
            a.map_or_else(
                || "the engine's own platform".to_string(),
                |a| crate::platform::Platform::linux(a).to_string(),
            )
        };
        bail!(
            "lab `{}` runs {}; run `labctl down` first to start it on {}",
            self.names.lab(),
            says(obs.foreign_arch()),
            says(foreign)
        )
    }

    /// Starts the lab: network, `ha`, then its web apps; a lab that is up
    /// keeps its size unless `webapps` is given, and its stopped nodes are
    /// started. Everything that can be refused is checked before anything is
    /// created. Returns how many web apps the lab is to serve; it does not
    /// wait for them (see [`Lab::up_and_wait`]).
    pub async fn up(&self, req: &UpRequest, progress: &Progress) -> Result<u32> {
        let _lock = self.lock(progress).await?;
        let obs = self.observe().await?;
        let webapps = req.webapps.unwrap_or_else(|| {
            obs.webapps()
                .into_keys()
                .next_back()
                .unwrap_or(DEFAULT_WEBAPPS)
        });
        let ha = obs.find(HA).cloned();
        if ha.is_some() {
            let running = obs.require_stage()?;
            if running != req.stage {
                bail!(
                    "lab `{}` runs stage {}; run `labctl down` first to start it at stage {}",
                    self.names.lab(),
                    running.number(),
                    req.stage.number()
                );
            }
            self.platform_fits(&obs, req.foreign)?;
        }
        let mut wanted_nodes: Vec<String> = (1..=webapps).map(naming::webapp_name).collect();
        wanted_nodes.push(HA.to_string());
        obs.check_names_free(&wanted_nodes)?;
        // The subnet's own limit first (no host setting lifts it), then the
        // kernel's, before anything is created.
        let subnet = obs
            .own_network()?
            .and_then(|n| n.subnets.first().copied())
            .or(req.subnet)
            .or_else(|| naming::free_subnet(&[]));
        if let Some(subnet) = subnet {
            plan::check_capacity(naming::Addressing::new(subnet)?, webapps)?;
        }
        self.check_room(&obs, webapps).await?;
        // The ports are checked here when the engine publishes them on this
        // host; another host's engine refuses a taken one itself.
        if ha.is_none() && crate::reach::shares_this_host(self.runtime.address()) {
            check_port_free(req.publish.bind, req.publish.http, "--http-port")?;
            check_port_free(req.publish.bind, req.publish.stats, "--stats-port")?;
        }
        let (network, new_network) = match obs.own_network()? {
            Some(n) => {
                if let (Some(wanted), Some(have)) = (req.subnet, n.subnets.first()) {
                    if wanted.trunc() != *have {
                        bail!(
                            "lab `{}` already runs on subnet {have}; run `labctl down` first to move it to {wanted}",
                            self.names.lab()
                        );
                    }
                }
                (n.clone(), false)
            }
            None => (
                self.create_network(&obs, req.subnet, webapps, progress)
                    .await?,
                true,
            ),
        };
        let work = match plan::scale(&obs, &network, webapps, req.stage, req.foreign) {
            Ok(work) => work,
            Err(e) => {
                if new_network {
                    let _ = self.runtime.remove_network(&network.name).await;
                }
                return Err(e);
            }
        };
        match ha {
            Some(c) if c.state.is_running() => {}
            Some(c) => {
                progress.info(format!("starting {}", c.name));
                self.runtime.start_container(&c.name).await?;
            }
            None => {
                let spec = plan::ha_spec(
                    &obs,
                    &network,
                    req.stage,
                    req.foreign,
                    &req.publish,
                    &work.create,
                )?;
                progress.info(format!("starting {} at {}", spec.name, spec.ip));
                // The web apps need not wait for `ha`: they retry joining it.
                let (ha, webapps_started) = tokio::join!(
                    self.create_and_start(&spec),
                    self.apply_scale(&work, progress)
                );
                if let Err(e) = ha.and(webapps_started) {
                    // A lab that could not start leaves nothing behind of
                    // what this call created.
                    let mut created: Vec<String> =
                        work.create.iter().map(|s| s.name.clone()).collect();
                    created.push(spec.name.clone());
                    let _ = self.remove_all(&created).await;
                    if new_network {
                        let _ = self.runtime.remove_network(&network.name).await;
                    }
                    return Err(e);
                }
                return Ok(webapps);
            }
        }
        self.apply_scale(&work, progress).await?;
        Ok(webapps)
    }

    /// `up`, then (unless `wait` is `None`) waits until HAProxy serves every
    /// web app and removes the ones that left. Returns the number of web
    /// apps and how long the wait took.
    pub async fn up_and_wait(
        &self,
        req: &UpRequest,
        wait: Option<Duration>,
        progress: &Progress,
    ) -> Result<(u32, Option<Duration>)> {
        let _lock = self.lock(progress).await?;
        let webapps = self.up(req, progress).await?;
        let took = self.converge(webapps, wait, progress).await?;
        Ok((webapps, took))
    }

    /// Adds or takes out web apps (the lab must be up); the ones taken out
    /// leave the cluster and are removed by [`Lab::converge`].
    pub async fn scale(&self, wanted: u32, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let obs = self.observe().await?;
        let network = obs.require_network()?;
        let stage = obs.require_stage()?;
        let work = plan::scale(&obs, network, wanted, stage, obs.foreign_arch())?;
        self.check_room(&obs, wanted).await?;
        self.apply_scale(&work, progress).await
    }

    /// Refuses more web apps than this host's kernel can hold in one lab
    /// (its neighbour table: see [`crate::neighbours`]), before anything is
    /// created; as many as now, or fewer, always pass.
    async fn check_room(&self, obs: &Observation, wanted: u32) -> Result<()> {
        let now = u32::try_from(obs.webapps().len()).unwrap_or(u32::MAX);
        if wanted <= now {
            return Ok(());
        }
        let limit = self
            .runtime
            .info()
            .await
            .ok()
            .and_then(|i| i.neighbour_limit);
        match limit.and_then(|l| crate::neighbours::shortfall(u64::from(wanted), l)) {
            Some(why) => bail!(
                "lab `{}` cannot run {wanted} web apps on this host: {why}",
                self.names.lab()
            ),
            None => Ok(()),
        }
    }

    /// Waits (unless `wait` is `None`) until HAProxy serves exactly
    /// `wanted` web apps, then removes the ones that left.
    pub async fn converge(
        &self,
        wanted: u32,
        wait: Option<Duration>,
        progress: &Progress,
    ) -> Result<Option<Duration>> {
        let _lock = self.lock(progress).await?;
        let took = match wait {
            Some(timeout) => {
                let took = self.wait_converged(wanted, timeout, progress).await?;
                progress.info(format!(
                    "HAProxy serves {wanted} web app(s), all UP ({:.1} s)",
                    took.as_secs_f64()
                ));
                Some(took)
            }
            None => None,
        };
        self.finish_scale(wanted, progress).await?;
        Ok(took)
    }

    /// Scales to `wanted` web apps as a whole: adds or takes out web apps,
    /// waits until HAProxy serves exactly those, all UP, then removes the
    /// ones that left. Returns how long the wait took.
    pub async fn scale_to(
        &self,
        wanted: u32,
        timeout: Duration,
        progress: &Progress,
    ) -> Result<Duration> {
        let _lock = self.lock(progress).await?;
        self.scale(wanted, progress).await?;
        let took = self.converge(wanted, Some(timeout), progress).await?;
        Ok(took.unwrap_or_default())
    }

    /// Removes the web apps numbered above `wanted`, once they have left.
    pub async fn finish_scale(&self, wanted: u32, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let obs = self.observe().await?;
        let extra: Vec<(String, bool)> = plan::extra_webapps(&obs, wanted)
            .into_iter()
            .map(|c| (c.name.clone(), c.state.is_running()))
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        self.remove_left(&extra).await?;
        progress.info(format!(
            "removed {}",
            some_of(extra.into_iter().map(|(name, _)| name))
        ));
        Ok(())
    }

    /// Starts one node: a stopped container again, or a new web app.
    pub async fn start_node(&self, node: &str, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let obs = self.observe().await?;
        if let Some(c) = obs.find(node) {
            if !c.state.is_running() {
                progress.info(format!("starting {}", c.name));
                self.runtime.start_container(&c.name).await?;
            }
            return Ok(());
        }
        let n = naming::webapp_number(node)
            .with_context(|| format!("no node `{node}` in lab `{}`", self.names.lab()))?;
        obs.check_names_free(&[node.to_string()])?;
        let network = obs.require_network()?;
        let stage = obs.require_stage()?;
        let mut used = obs.used_addresses(&network.name);
        let specs = plan::webapp_specs(
            &self.names,
            &[n],
            network,
            observe::addressing(network)?,
            stage,
            obs.foreign_arch(),
            &mut used,
        )?;
        self.start_specs(&specs, progress).await
    }

    /// Stops a node (SIGTERM, then SIGKILL after `timeout_s`): a graceful
    /// leave for a web app.
    pub async fn stop_node(&self, node: &str, timeout_s: i32, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let c = self.node(node).await?;
        if c.state.is_running() {
            self.drain(node).await;
        }
        self.runtime.stop_container(&c.name, timeout_s).await
    }

    /// Sends a signal to a node's main process (`SIGKILL`: a crash).
    pub async fn kill_node(&self, node: &str, signal: &str, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let c = self.node(node).await?;
        self.runtime.kill_container(&c.name, signal).await
    }

    /// Stops a node and starts it again.
    pub async fn restart_node(
        &self,
        node: &str,
        timeout_s: i32,
        progress: &Progress,
    ) -> Result<()> {
        let _lock = self.lock(progress).await?;
        self.stop_node(node, timeout_s, progress).await?;
        self.start_node(node, progress).await
    }

    /// Removes one node's container, whatever its state.
    pub async fn remove_node(&self, node: &str, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let c = self.node(node).await?;
        self.runtime.remove_container(&c.name).await
    }

    /// Removes every container and the network of the lab. Returns what it
    /// removed. When the engine will not remove the network, the containers
    /// are gone all the same, and the error says so and what to do.
    pub async fn down(&self, progress: &Progress) -> Result<Vec<String>> {
        let _lock = self.lock(progress).await?;
        let obs = self.observe().await?;
        let mut removed: Vec<String> = obs.containers().iter().map(|c| c.name.clone()).collect();
        if !removed.is_empty() {
            progress.set(format!("removing {}", some_of(removed.iter().cloned())));
        }
        self.remove_all(&removed).await?;
        if let Some(n) = obs.own_network()? {
            if let Err(e) = self.runtime.remove_network(&n.name).await {
                let gone = if removed.is_empty() {
                    "no container was left to remove".to_string()
                } else {
                    format!("removed {}", removed.join(", "))
                };
                return Err(e.context(format!(
                    "lab `{}` is down but its network `{}` is left ({gone})",
                    self.names.lab(),
                    n.name
                )));
            }
            removed.push(format!("network {}", n.name));
        }
        Ok(removed)
    }
}

/// Fails when a host port is taken, naming the option that changes it.
pub fn check_port_free(bind: IpAddr, port: u16, option: &str) -> Result<()> {
    if port == 0 {
        return Ok(());
    }
    match std::net::TcpListener::bind((bind, port)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "port {port} on {bind} is already in use; choose another with {option} (or free it)"
        ),
        // Other errors (e.g. an address of another host) are the engine's to report.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_names_the_option() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = check_port_free("127.0.0.1".parse().unwrap(), port, "--http-port").unwrap_err();
        assert!(err.to_string().contains("--http-port"), "{err}");
        assert!(check_port_free("127.0.0.1".parse().unwrap(), 0, "--http-port").is_ok());
    }
}
