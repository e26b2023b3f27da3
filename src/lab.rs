//! A lab on the engine: found by its labels, started, scaled, waited for and
//! removed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use ipnet::Ipv4Net;
use serde::Deserialize;

use crate::engine::{ContainerInfo, ContainerSpec, Engine, NetworkInfo};
use crate::images::Role;
use crate::labels;
use crate::naming::{self, Addressing, LabNames, HA};
use crate::node::membership::{parse_members, Member};
use crate::output::Progress;
use crate::stage::Stage;
use crate::stats::ServerState;

/// How many containers are created or removed at once.
const PARALLEL: usize = 16;
/// How long `wait` gives a web app to appear before it asks it to join again.
const NUDGE_AFTER: Duration = Duration::from_secs(3);
/// How long a stopping web app gets to finish its requests.
const STOP_TIMEOUT_S: i32 = 10;

/// What HAProxy inside `ha` reports.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Backends {
    /// The servers of backend `nodes`.
    pub servers: Vec<ServerState>,
    /// The last reconciliation error, when the last attempt failed.
    pub last_error: Option<String>,
    /// Why HAProxy has not taken the configuration on file yet, while its
    /// reload is being retried.
    #[serde(default)]
    pub reload_pending: Option<String>,
    /// The servers HAProxy's configuration file names.
    #[serde(default)]
    pub config_servers: Vec<ConfigServer>,
    /// Where the file and the running HAProxy disagree (stage 6), one line
    /// each.
    #[serde(default)]
    pub differences: Vec<String>,
    /// What `ha` still waits for: a new server's first passed check, a
    /// deletion refused while connections drain.
    #[serde(default)]
    pub waiting: Option<String>,
    /// HAProxy's processes: its reloads and workers.
    #[serde(default)]
    pub processes: Option<crate::node::haproxy::Processes>,
}

/// A server as HAProxy's configuration file names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConfigServer {
    /// The node name.
    pub name: String,
    /// `ip:port`.
    pub addr: String,
}

/// Where `up` publishes `ha`'s ports.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Host address.
    pub bind: IpAddr,
    /// Host port for port 80 (0: any free port).
    pub http: u16,
    /// Host port for the stats page (0: any free port).
    pub stats: u16,
    /// `user:pass` the stats page asks for, if any.
    pub stats_auth: Option<String>,
}

impl Publish {
    /// The lab's own ports (80 and 1936) for the default lab, free ports
    /// picked by the engine for the others, unless given.
    pub fn defaults(names: &LabNames, bind: IpAddr, http: Option<u16>, stats: Option<u16>) -> Self {
        let own = names.is_default();
        Self {
            bind,
            http: http.unwrap_or(if own { 80 } else { 0 }),
            stats: stats.unwrap_or(if own { 1936 } else { 0 }),
            stats_auth: None,
        }
    }
}

/// One lab on one engine.
#[derive(Clone)]
pub struct Lab {
    engine: Engine,
    names: LabNames,
}

/// A scale step ready to run: the plan, and the new web apps' containers.
struct ScaleWork {
    existing: BTreeMap<u32, ContainerInfo>,
    plan: ScalePlan,
    specs: Vec<ContainerSpec>,
}

/// A change of the web app set, computed from what runs and what is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePlan {
    /// Web app numbers to create.
    pub create: Vec<u32>,
    /// Existing web apps to start again.
    pub start: Vec<u32>,
    /// Web apps to remove, highest number first.
    pub remove: Vec<u32>,
}

impl ScalePlan {
    /// From the existing web apps (number → running?) to `1..=wanted`.
    pub fn new(existing: &BTreeMap<u32, bool>, wanted: u32) -> Self {
        let create = (1..=wanted).filter(|n| !existing.contains_key(n)).collect();
        let start = existing
            .iter()
            .filter(|(n, running)| **n <= wanted && !**running)
            .map(|(n, _)| *n)
            .collect();
        let remove = existing
            .keys()
            .rev()
            .filter(|n| **n > wanted)
            .copied()
            .collect();
        Self {
            create,
            start,
            remove,
        }
    }

    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.start.is_empty() && self.remove.is_empty()
    }
}

impl Lab {
    /// The lab called `names` on `engine`.
    pub fn new(engine: Engine, names: LabNames) -> Self {
        Self { engine, names }
    }

    /// The lab's names.
    pub fn names(&self) -> &LabNames {
        &self.names
    }

    /// The lab's containers that run an older image than the current one.
    pub async fn outdated(&self) -> Result<Vec<String>> {
        let mut current = HashMap::new();
        for role in Role::ALL {
            current.insert(
                role.image().to_string(),
                self.engine.image_id(role.image()).await?,
            );
        }
        Ok(self
            .containers()
            .await?
            .into_iter()
            .filter(|c| current.get(&c.image).is_some_and(|id| *id != c.image_id))
            .map(|c| c.name)
            .collect())
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The lab's containers, `ha` first, then web apps by number.
    pub async fn containers(&self) -> Result<Vec<ContainerInfo>> {
        let mut list = self
            .engine
            .containers_with_label(labels::LAB, self.names.lab())
            .await?;
        list.sort_by_key(|c| node_order(c.labels.get(labels::NODE).map_or("", String::as_str)));
        Ok(list)
    }

    /// The lab's network, if it exists and is the lab's.
    async fn own_network(&self) -> Result<Option<NetworkInfo>> {
        let name = self.names.network();
        match self.engine.network(&name).await? {
            None => Ok(None),
            Some(n) if n.labels.get(labels::LAB).map(String::as_str) == Some(self.names.lab()) => {
                Ok(Some(n))
            }
            Some(_) => bail!(
                "a network named `{name}` exists that labctl did not create; remove it \
                 (`docker network rm {name}`) or run another lab with `--lab NAME`"
            ),
        }
    }

    /// The lab's network, which must exist.
    async fn require_network(&self) -> Result<NetworkInfo> {
        self.own_network().await?.with_context(|| {
            format!(
                "lab `{}` is not up; start it with `labctl up`",
                self.names.lab()
            )
        })
    }

    fn addressing(network: &NetworkInfo) -> Result<Addressing> {
        let subnet = network
            .subnets
            .first()
            .with_context(|| format!("network `{}` has no IPv4 subnet", network.name))?;
        Addressing::new(*subnet)
    }

    /// The container of `node`, which must be one of the lab's.
    pub async fn node(&self, node: &str) -> Result<ContainerInfo> {
        let all = self.containers().await?;
        if let Some(c) = all
            .iter()
            .find(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(node))
        {
            return Ok(c.clone());
        }
        let known: Vec<&str> = all
            .iter()
            .filter_map(|c| c.labels.get(labels::NODE).map(String::as_str))
            .collect();
        if known.is_empty() {
            bail!(
                "lab `{}` is not up; start it with `labctl up`",
                self.names.lab()
            );
        }
        bail!(
            "no node `{node}` in lab `{}`; its nodes are: {}",
            self.names.lab(),
            known.join(", ")
        )
    }

    /// Refuses names that belong to a container labctl did not create for
    /// this lab.
    async fn check_names_free(&self, nodes: &[String]) -> Result<()> {
        for node in nodes {
            let name = self.names.container(node);
            if let Some(c) = self.engine.container_named(&name).await? {
                if c.labels.get(labels::LAB).map(String::as_str) != Some(self.names.lab()) {
                    bail!(
                        "a container named `{name}` exists that is not part of lab `{}`; \
                         labctl leaves it alone: remove or rename it (`docker rm -f {name}`), \
                         or run the lab under another name with `--lab NAME`",
                        self.names.lab()
                    );
                }
            }
        }
        Ok(())
    }

    fn labels_for(&self, node: &str, role: Role, stage: Stage) -> HashMap<String, String> {
        HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::STAGE.to_string(), stage.number().to_string()),
            (labels::LAB.to_string(), self.names.lab().to_string()),
            (labels::NODE.to_string(), node.to_string()),
            (
                labels::ROLE.to_string(),
                match role {
                    Role::Ha => "balancer",
                    Role::Webapp => "backend",
                }
                .to_string(),
            ),
        ])
    }

    /// Starts the lab: network, `ha`, then `webapps` web apps. Everything
    /// that can be refused is checked before anything is created.
    pub async fn up(
        &self,
        subnet: Option<Ipv4Net>,
        publish: &Publish,
        webapps: u32,
        stage: Stage,
        progress: &Progress,
    ) -> Result<()> {
        let network = self.own_network().await?;
        let existing = self.containers().await?;
        let has_ha = existing
            .iter()
            .any(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(HA));
        if has_ha {
            let running = self.stage().await?;
            if running != stage {
                bail!(
                    "lab `{}` runs stage {}; run `labctl down` first to start it at stage {}",
                    self.names.lab(),
                    running.number(),
                    stage.number()
                );
            }
        }
        // Everything that can be refused is refused before anything changes.
        let mut wanted_nodes: Vec<String> = (1..=webapps).map(naming::webapp_name).collect();
        wanted_nodes.push(HA.to_string());
        self.check_names_free(&wanted_nodes).await?;
        if !has_ha {
            check_port_free(publish.bind, publish.http, "--http-port")?;
            check_port_free(publish.bind, publish.stats, "--stats-port")?;
        }
        let network = match network {
            Some(n) => {
                if let (Some(wanted), Some(have)) = (subnet, n.subnets.first()) {
                    if wanted.trunc() != *have {
                        bail!(
                            "lab `{}` already runs on subnet {have}; run `labctl down` first to move it to {wanted}",
                            self.names.lab()
                        );
                    }
                }
                n
            }
            None => self.create_network(subnet, webapps, progress).await?,
        };
        let addressing = Self::addressing(&network)?;
        check_capacity(addressing, webapps)?;
        let existing = self.containers().await?;
        let ha = existing
            .iter()
            .find(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(HA));
        match ha {
            Some(c) if c.state == "running" => {}
            Some(c) => {
                progress.info(format!("starting {}", c.name));
                self.engine.start_container(&c.name).await?;
            }
            None => {
                let work = self
                    .plan_scale(webapps, &network, addressing, stage)
                    .await?;
                // A new `ha` joins the web apps that already run, so that a
                // replaced balancer finds its cluster at once, and the ones
                // starting with it: web apps join `ha` too, and whichever
                // agent starts last finds the other listening. (Serf retries
                // a failed join only after a second.)
                let mut join: Vec<String> = existing
                    .iter()
                    .filter(|c| c.state == "running")
                    .filter_map(|c| c.addresses.get(&network.name))
                    .map(ToString::to_string)
                    .collect();
                join.extend(work.specs.iter().map(|s| s.ip.to_string()));
                let mut env = vec![
                    format!("NODE_NAME={HA}"),
                    format!("LAB={}", self.names.lab()),
                ];
                env.extend(key_env(&network));
                env.push(format!("LABCTL_STAGE={}", stage.number()));
                // Up to stage 4, HAProxy lists the lab's s1 and s2 at the
                // addresses they get, injected at start as the lab did.
                let none = HashSet::new();
                let statics: Vec<String> = (1..=2)
                    .filter_map(|n| {
                        Some(format!(
                            "{}={}",
                            naming::webapp_name(n),
                            addressing.webapp(n, &none)?
                        ))
                    })
                    .collect();
                env.push(format!("STATIC_SERVERS={}", statics.join(" ")));
                if let Some(auth) = &publish.stats_auth {
                    env.push(format!("STATS_AUTH={auth}"));
                }
                if !join.is_empty() {
                    env.push(format!("SERF_JOIN={}", join.join(" ")));
                }
                let spec = ContainerSpec {
                    name: self.names.container(HA),
                    hostname: HA.to_string(),
                    image: Role::Ha.image().to_string(),
                    env,
                    labels: self.labels_for(HA, Role::Ha, stage),
                    network: network.name.clone(),
                    ip: addressing.ha(),
                    aliases: vec![HA.to_string()],
                    publish: vec![
                        (80, publish.bind.to_string(), publish.http),
                        (1936, publish.bind.to_string(), publish.stats),
                    ],
                };
                progress.info(format!("starting {} at {}", spec.name, spec.ip));
                // The web apps need not wait for `ha`: they retry joining it.
                let (ha, webapps) =
                    tokio::join!(self.create_and_start(&spec), self.run_scale(work, progress));
                return ha.and(webapps);
            }
        }
        self.apply_scale(webapps, &network, addressing, stage, progress)
            .await
    }

    async fn create_network(
        &self,
        subnet: Option<Ipv4Net>,
        webapps: u32,
        progress: &Progress,
    ) -> Result<NetworkInfo> {
        let name = self.names.network();
        let labels = HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::LAB.to_string(), self.names.lab().to_string()),
            (labels::SERF_KEY.to_string(), new_serf_key()?),
        ]);
        let chosen = subnet.map(|s| s.trunc()).or_else(|| {
            self.names
                .is_default()
                .then(|| naming::DEFAULT_SUBNET.parse().ok())
                .flatten()
        });
        // A subnet picked for the user may be taken by another lab starting
        // at the same moment: the engine refuses it, and the next one is tried.
        let mut lost_races: Vec<Ipv4Net> = Vec::new();
        loop {
            let all = self.engine.networks().await?;
            let subnet = match chosen {
                Some(s) => s,
                None => {
                    let mut taken: Vec<Ipv4Net> =
                        all.iter().flat_map(|n| n.subnets.clone()).collect();
                    taken.extend(&lost_races);
                    naming::free_subnet(&taken).context(
                        "no free 192.168.x.0/24 subnet is left for this lab; name one with --subnet",
                    )?
                }
            };
            let addressing = Addressing::new(subnet)?;
            check_capacity(addressing, webapps)?;
            if let Some(other) = all
                .iter()
                .find(|n| n.subnets.iter().any(|s| naming::overlaps(*s, subnet)))
            {
                bail!(
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
            progress.info(format!("creating network {name} ({subnet})"));
            match self
                .engine
                .create_network(&name, subnet, addressing.gateway(), &labels)
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
                        && lost_races.len() < 8
                        && format!("{e:#}").contains("overlaps") =>
                {
                    lost_races.push(subnet);
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn create_and_start(&self, spec: &ContainerSpec) -> Result<()> {
        self.engine.create_container(spec).await?;
        if let Err(e) = self.engine.start_container(&spec.name).await {
            // No half-made node: a container that cannot start is removed.
            let _ = self.engine.remove_container(&spec.name).await;
            let msg = format!("{e:#}");
            if msg.contains("port is already allocated") || msg.contains("address already in use") {
                return Err(e.context(
                    "a host port of the lab is taken; choose others with --http-port and --stats-port",
                ));
            }
            return Err(e);
        }
        Ok(())
    }

    /// Scales the web apps to `wanted` (the lab must be up).
    pub async fn scale(&self, wanted: u32, progress: &Progress) -> Result<()> {
        let network = self.require_network().await?;
        let addressing = Self::addressing(&network)?;
        check_capacity(addressing, wanted)?;
        self.node(HA).await?;
        let stage = self.stage().await?;
        self.apply_scale(wanted, &network, addressing, stage, progress)
            .await
    }

    async fn webapps(&self) -> Result<BTreeMap<u32, ContainerInfo>> {
        Ok(self
            .containers()
            .await?
            .into_iter()
            .filter_map(|c| {
                let n = naming::webapp_number(c.labels.get(labels::NODE)?)?;
                Some((n, c))
            })
            .collect())
    }

    /// Creates and starts the missing web apps, and makes the extra ones
    /// leave the cluster. Removal of those waits for [`Lab::finish_scale`].
    async fn apply_scale(
        &self,
        wanted: u32,
        network: &NetworkInfo,
        addressing: Addressing,
        stage: Stage,
        progress: &Progress,
    ) -> Result<()> {
        let work = self.plan_scale(wanted, network, addressing, stage).await?;
        self.run_scale(work, progress).await
    }

    /// What scaling to `wanted` web apps takes, with the new web apps'
    /// addresses chosen; nothing is changed yet.
    async fn plan_scale(
        &self,
        wanted: u32,
        network: &NetworkInfo,
        addressing: Addressing,
        stage: Stage,
    ) -> Result<ScaleWork> {
        let existing = self.webapps().await?;
        let running: BTreeMap<u32, bool> = existing
            .iter()
            .map(|(n, c)| (*n, c.state == "running"))
            .collect();
        let plan = ScalePlan::new(&running, wanted);
        let new_nodes: Vec<String> = plan
            .create
            .iter()
            .map(|n| naming::webapp_name(*n))
            .collect();
        self.check_names_free(&new_nodes).await?;
        let specs = self
            .webapp_specs(&plan.create, network, addressing, stage)
            .await?;
        Ok(ScaleWork {
            existing,
            plan,
            specs,
        })
    }

    async fn run_scale(&self, work: ScaleWork, progress: &Progress) -> Result<()> {
        let ScaleWork {
            existing,
            plan,
            specs,
        } = work;
        self.start_specs(&specs, progress).await?;
        for n in &plan.start {
            let name = &existing[n].name;
            progress.info(format!("starting {name}"));
            self.engine.start_container(name).await?;
        }
        if !plan.remove.is_empty() {
            let names: Vec<String> = plan
                .remove
                .iter()
                .map(|n| existing[n].name.clone())
                .collect();
            progress.info(format!(
                "removing {} (leaving the cluster first)",
                some_of(names.iter().cloned())
            ));
            stream::iter(plan.remove.iter().map(|n| self.leave(&existing[n])))
                .buffer_unordered(PARALLEL)
                .collect::<Vec<()>>()
                .await;
        }
        Ok(())
    }

    /// The containers of new web apps with the given numbers, each at the
    /// lowest free address its number allows.
    async fn webapp_specs(
        &self,
        numbers: &[u32],
        network: &NetworkInfo,
        addressing: Addressing,
        stage: Stage,
    ) -> Result<Vec<ContainerSpec>> {
        let ha_ip = addressing.ha();
        let mut used: HashSet<Ipv4Addr> = self
            .engine
            .containers_with_label(labels::LAB, self.names.lab())
            .await?
            .iter()
            .filter_map(|c| c.addresses.get(&network.name).copied())
            .collect();
        used.insert(addressing.gateway());
        used.insert(ha_ip);
        let mut specs = Vec::new();
        for n in numbers {
            let node = naming::webapp_name(*n);
            let ip = addressing.webapp(*n, &used).with_context(|| {
                format!(
                    "subnet {} has no free address for `{node}`",
                    addressing.subnet()
                )
            })?;
            used.insert(ip);
            specs.push(ContainerSpec {
                name: self.names.container(&node),
                hostname: node.clone(),
                image: Role::Webapp.image().to_string(),
                env: [
                    format!("NODE_NAME={node}"),
                    format!("NODE_IP={ip}"),
                    format!("SERF_JOIN={ha_ip}"),
                    format!("TAG={}", self.names.lab()),
                    format!("LAB={}", self.names.lab()),
                    format!("LABCTL_STAGE={}", stage.number()),
                ]
                .into_iter()
                .chain(key_env(network))
                .collect(),
                labels: self.labels_for(&node, Role::Webapp, stage),
                network: network.name.clone(),
                ip,
                aliases: vec![node],
                publish: Vec::new(),
            });
        }
        Ok(specs)
    }

    /// Creates and starts containers, in parallel.
    async fn start_specs(&self, specs: &[ContainerSpec], progress: &Progress) -> Result<()> {
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

    /// Starts one node: a stopped container again, or a new web app.
    pub async fn start_node(&self, node: &str, progress: &Progress) -> Result<()> {
        if let Some(c) = self
            .containers()
            .await?
            .into_iter()
            .find(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(node))
        {
            if c.state != "running" {
                progress.info(format!("starting {}", c.name));
                self.engine.start_container(&c.name).await?;
            }
            return Ok(());
        }
        let n = naming::webapp_number(node)
            .with_context(|| format!("no node `{node}` in lab `{}`", self.names.lab()))?;
        self.check_names_free(&[node.to_string()]).await?;
        let network = self.require_network().await?;
        let addressing = Self::addressing(&network)?;
        let stage = self.stage().await?;
        let specs = self.webapp_specs(&[n], &network, addressing, stage).await?;
        self.start_specs(&specs, progress).await
    }

    /// The highest web app number the lab has (running or not), if any.
    pub async fn highest_webapp(&self) -> Result<Option<u32>> {
        Ok(self.webapps().await?.into_keys().next_back())
    }

    /// The web apps whose containers run, in order.
    pub async fn running_webapps(&self) -> Result<Vec<String>> {
        Ok(self
            .webapps()
            .await?
            .into_values()
            .filter(|c| c.state == "running")
            .filter_map(|c| c.labels.get(labels::NODE).cloned())
            .collect())
    }

    /// Makes a web app leave the cluster gracefully: its Serf agent is taken
    /// down by the supervisor, and leaves on SIGTERM. Best effort: a web app
    /// that is not running has nothing to leave.
    async fn leave(&self, c: &ContainerInfo) {
        if c.state == "running" {
            let _ = self
                .engine
                .exec(&c.name, &["s6-svc", "-d", "/run/s6/serf"])
                .await;
        }
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
        self.scale(wanted, progress).await?;
        let took = self.wait_converged(wanted, timeout, progress).await?;
        self.finish_scale(wanted, progress).await?;
        Ok(took)
    }

    /// Removes the web apps numbered above `wanted` once HAProxy no longer
    /// sends them traffic.
    pub async fn finish_scale(&self, wanted: u32, progress: &Progress) -> Result<()> {
        let extra: Vec<ContainerInfo> = self
            .webapps()
            .await?
            .into_iter()
            .filter(|(n, _)| *n > wanted)
            .map(|(_, c)| c)
            .collect();
        if extra.is_empty() {
            return Ok(());
        }
        stream::iter(extra.iter().map(|c| async {
            // HAProxy drops a web app as soon as Serf says it is leaving;
            // its agent is still telling the cluster. Stopped before it is
            // done, the node would be seen as failed, not left.
            if c.state == "running" {
                let _ = self
                    .engine
                    .exec(
                        &c.name,
                        &["s6-svc", "-wD", "-T", "5000", "-d", "/run/s6/serf"],
                    )
                    .await;
            }
            self.engine.stop_container(&c.name, STOP_TIMEOUT_S).await?;
            self.engine.remove_container(&c.name).await
        }))
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
        progress.info(format!(
            "removed {}",
            some_of(extra.iter().map(|c| c.name.clone()))
        ));
        Ok(())
    }

    /// HAProxy's view of the backends, read inside `ha`.
    pub async fn backends(&self) -> Result<Backends> {
        let ha = self.names.container(HA);
        let out = self
            .engine
            .exec(&ha, &["labctl", "node", "backends"])
            .await?
            .success("reading HAProxy's state in `ha`")?;
        serde_json::from_str(out.stdout.trim()).context("reading HAProxy's state from `ha`")
    }

    /// The host port `ha` publishes a container port on.
    pub async fn ha_port(&self, container_port: u16) -> Result<u16> {
        self.node(HA)
            .await?
            .host_port(container_port)
            .with_context(|| format!("`ha` publishes no port {container_port}"))
    }

    /// The stage the lab runs, from `ha`'s label.
    pub async fn stage(&self) -> Result<Stage> {
        let ha = self.node(HA).await?;
        match ha.labels.get(labels::STAGE) {
            Some(n) => Stage::new(n.parse().context("stage label")?),
            None => Ok(crate::stage::FINAL),
        }
    }

    /// The names in `/nodes` on `ha`.
    pub async fn registry(&self) -> Result<Vec<String>> {
        let out = self
            .engine
            .exec(&self.names.container(HA), &["ls", "/nodes"])
            .await?
            .success("listing /nodes in `ha`")?;
        let mut names: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
        names.sort_by_key(|n| crate::node::membership::natural_key(n));
        Ok(names)
    }

    /// Whether the lab is where `expected` says, as far as its stage can
    /// tell, with a line saying what it waits for.
    async fn readiness(
        &self,
        stage: Stage,
        expected: &[String],
    ) -> Result<(bool, String, Backends)> {
        let backends = self.backends().await?;
        if stage == crate::stage::FINAL {
            let up = backends.servers.iter().filter(|s| s.is_up()).count();
            let msg = format!(
                "waiting for HAProxy to serve {} web app(s): {up} UP, {} listed",
                expected.len(),
                backends.servers.len()
            );
            return Ok((converged(&backends.servers, expected), msg, backends));
        }
        if stage.number() == 5 {
            // HAProxy is not reloaded at stage 5: the registry tells.
            let registry = self.registry().await?;
            let msg = format!("waiting for /nodes to list {} web app(s)", expected.len());
            return Ok((registry == expected, msg, backends));
        }
        // Stages 0 to 4: HAProxy's static s1 and s2, and Serf's members.
        let statics_up = expected
            .iter()
            .filter(|e| *e == "s1" || *e == "s2")
            .all(|e| {
                backends
                    .servers
                    .iter()
                    .any(|s| &s.name == e && s.is_verified_up())
            });
        let members_ok = if stage.has_serf() {
            let mut alive: Vec<String> = self
                .members()
                .await?
                .into_iter()
                .filter(|m| {
                    m.status == "alive" && m.tags.get("role").map(String::as_str) == Some("backend")
                })
                .map(|m| m.name)
                .collect();
            alive.sort_by_key(|n| crate::node::membership::natural_key(n));
            alive == expected
        } else {
            true
        };
        let msg = format!(
            "waiting for {} web app(s) (stage {})",
            expected.len(),
            stage.number()
        );
        Ok((statics_up && members_ok, msg, backends))
    }

    /// Serf's member list, as `ha`'s agent sees it.
    pub async fn members(&self) -> Result<Vec<Member>> {
        let ha = self.names.container(HA);
        let out = self
            .engine
            .exec(&ha, &["serf", "members", "-format", "json"])
            .await?
            .success("reading Serf's members in `ha`")?;
        parse_members(&out.stdout)
    }

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
        let expected = expected.to_vec();
        let stage = self.stage().await?;
        let started = Instant::now();
        let mut last = Backends::default();
        let mut last_err = None;
        let mut next_nudge = NUDGE_AFTER;
        while started.elapsed() < timeout {
            match self.readiness(stage, &expected).await {
                Ok((ready, msg, b)) => {
                    if ready {
                        return Ok(started.elapsed());
                    }
                    progress.set(msg);
                    if stage.has_serf() && started.elapsed() > next_nudge {
                        next_nudge += NUDGE_AFTER;
                        self.nudge(&expected, progress).await;
                    }
                    last = b;
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
            .explain_timeout(&expected, &last, last_err, timeout)
            .await)
    }

    /// Makes expected web apps that `ha`'s Serf agent does not count as alive
    /// announce themselves again. Serf remembers a node's leave for a while;
    /// a new node that reuses the name (s5 removed, later s5 created again)
    /// can be taken for the one that left until it joins once more.
    /// A few at a time: each ask is an exec, and a hundred of them at once
    /// would slow the very agents that are joining.
    async fn nudge(&self, expected: &[String], progress: &Progress) {
        const AT_ONCE: usize = 8;
        let Ok(members) = self.members().await else {
            return;
        };
        let not_alive = expected.iter().filter(|node| {
            !members
                .iter()
                .any(|m| &m.name == *node && m.status == "alive")
        });
        for node in not_alive.take(AT_ONCE) {
            progress.info(format!(
                "`{node}` is not alive in ha's Serf view yet; it joins again"
            ));
            let _ = self
                .engine
                .exec(
                    &self.names.container(node),
                    &["sh", "-c", "serf join \"$SERF_JOIN\""],
                )
                .await;
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
            self.names.lab(),
            timeout.as_secs()
        )];
        if let Some(e) = err {
            lines.push(format!("`ha` did not answer: {e:#}"));
            let logs = self
                .engine
                .logs(&self.names.container(HA), "10", false)
                .await
                .unwrap_or_default();
            lines.push(format!("last logs of `ha`:\n{}", indent(&logs)));
        }
        for node in expected {
            let state = last.servers.iter().find(|s| &s.name == node);
            if state.is_some_and(ServerState::is_up) {
                continue;
            }
            lines.push(match state {
                Some(s) => format!("`{node}` is {} in HAProxy", s.status),
                None => {
                    format!("`{node}` is not in HAProxy's configuration (not a Serf member yet?)")
                }
            });
            let logs = self
                .engine
                .logs(&self.names.container(node), "8", false)
                .await
                .unwrap_or_else(|e| format!("{e:#}"));
            lines.push(format!("last logs of `{node}`:\n{}", indent(&logs)));
        }
        for s in &last.servers {
            if !expected.contains(&s.name) {
                lines.push(format!("`{}` is still in HAProxy's configuration", s.name));
            }
        }
        if let Some(e) = &last.last_error {
            lines.push(format!("last reconciliation error in `ha`: {}", e.trim()));
        }
        if let Some(e) = &last.reload_pending {
            lines.push(format!(
                "HAProxy in `ha` has not taken the new configuration yet: {}",
                e.trim()
            ));
        }
        lines.push(
            "`labctl status` shows the lab's state; run the command again to keep waiting".into(),
        );
        anyhow::anyhow!(lines.join("\n"))
    }

    /// Removes every container and the network of the lab. Returns the
    /// names removed.
    pub async fn down(&self, progress: &Progress) -> Result<Vec<String>> {
        let containers = self.containers().await?;
        let names: Vec<String> = containers.iter().map(|c| c.name.clone()).collect();
        if !names.is_empty() {
            progress.set(format!("removing {}", names.join(", ")));
        }
        stream::iter(names.iter().map(|n| self.engine.remove_container(n)))
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<()>>()
            .await?;
        let mut removed = names;
        if let Some(n) = self.own_network().await? {
            self.engine.remove_network(&n.name).await?;
            removed.push(format!("network {}", n.name));
        }
        Ok(removed)
    }
}

/// A list for a progress line: the first few items, then how many more.
fn some_of(items: impl Iterator<Item = String>) -> String {
    const SHOWN: usize = 6;
    let items: Vec<String> = items.collect();
    if items.len() <= SHOWN {
        return items.join(", ");
    }
    format!(
        "{} and {} more",
        items[..SHOWN].join(", "),
        items.len() - SHOWN
    )
}

/// A fresh Serf encryption key: 32 random bytes, base64.
fn new_serf_key() -> Result<String> {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| anyhow::anyhow!("no randomness for the Serf key: {e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key))
}

/// The environment that gives a node the lab's Serf key.
fn key_env(network: &NetworkInfo) -> Option<String> {
    network
        .labels
        .get(labels::SERF_KEY)
        .map(|k| format!("SERF_ENCRYPT_KEY={k}"))
}

/// Refuses more web apps than the subnet holds.
fn check_capacity(addressing: Addressing, webapps: u32) -> Result<()> {
    if webapps > addressing.capacity() {
        bail!(
            "subnet {} holds at most {} web apps, not {webapps}",
            addressing.subnet(),
            addressing.capacity()
        );
    }
    Ok(())
}

/// Whether HAProxy serves exactly `expected`, every one UP with a passed
/// health check.
pub fn converged(servers: &[ServerState], expected: &[String]) -> bool {
    servers.len() == expected.len()
        && expected
            .iter()
            .all(|e| servers.iter().any(|s| &s.name == e && s.is_verified_up()))
}

fn node_order(node: &str) -> (u32, u32) {
    match naming::webapp_number(node) {
        Some(n) => (1, n),
        None => (if node == HA { 0 } else { 2 }, 0),
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails when a host port is taken, naming the option that changes it.
fn check_port_free(bind: IpAddr, port: u16, option: &str) -> Result<()> {
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

    #[test]
    fn plan_scale_up_and_down() {
        let existing: BTreeMap<u32, bool> = [(1, true), (2, false), (3, true), (5, true)].into();
        let up = ScalePlan::new(&existing, 6);
        assert_eq!(up.create, [4, 6]);
        assert_eq!(up.start, [2]);
        assert!(up.remove.is_empty());
        let down = ScalePlan::new(&existing, 1);
        assert!(down.create.is_empty());
        assert!(down.start.is_empty());
        assert_eq!(down.remove, [5, 3, 2]);
        assert!(ScalePlan::new(&[(1, true), (2, true)].into(), 2).is_empty());
        assert_eq!(
            ScalePlan::new(&BTreeMap::new(), 0),
            ScalePlan {
                create: vec![],
                start: vec![],
                remove: vec![]
            }
        );
    }

    #[test]
    fn convergence_needs_exactly_the_expected_servers_up() {
        let want = vec!["s1".to_string(), "s2".to_string()];
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

    #[test]
    fn long_lists_are_shortened_in_progress_lines() {
        let names = |n: u32| (1..=n).map(|i| format!("s{i}"));
        assert_eq!(some_of(names(2)), "s1, s2");
        assert_eq!(some_of(names(6)), "s1, s2, s3, s4, s5, s6");
        assert_eq!(some_of(names(100)), "s1, s2, s3, s4, s5, s6 and 94 more");
    }

    #[test]
    fn nodes_sort_ha_first_then_by_number() {
        let mut nodes = vec!["s10", "s2", "ha", "s1"];
        nodes.sort_by_key(|n| node_order(n));
        assert_eq!(nodes, ["ha", "s1", "s2", "s10"]);
    }

    #[test]
    fn a_taken_port_names_the_option() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let err = check_port_free("127.0.0.1".parse().unwrap(), port, "--http-port").unwrap_err();
        assert!(err.to_string().contains("--http-port"), "{err}");
        assert!(check_port_free("127.0.0.1".parse().unwrap(), 0, "--http-port").is_ok());
    }
}
