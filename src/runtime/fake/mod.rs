//! An in-memory runtime for orchestration tests: networks, containers and
//! images held in a map, and nodes that answer the few commands labctl runs
//! in them (`labctl node backends`, `serf members`, `ls /nodes`, `s6-svc`)
//! the way a healthy lab would. Tests steer it: a foreign container, a taken
//! port, a subnet lost to a race, a node that never comes UP, a network the
//! engine will not remove. It records what it was asked to change.

mod claim;
mod nodes;
mod steer;
mod swarm;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Result};
use async_trait::async_trait;
use ipnet::Ipv4Net;

use super::{
    ContainerInfo, ContainerSpec, ContainerState, EngineInfo, ExecOutput, LogsRequest, NetworkInfo,
    PublishedPort, Refusal, Runtime,
};
use crate::contract;

/// A runtime that lives in memory. Cheap to share behind an `Arc`.
#[derive(Default)]
pub struct FakeRuntime {
    state: Arc<Mutex<State>>,
    id: String,
}

#[derive(Default)]
pub(super) struct State {
    images: HashMap<String, HashMap<String, String>>,
    networks: BTreeMap<String, NetworkInfo>,
    containers: BTreeMap<String, Container>,
    specs: HashMap<String, ContainerSpec>,
    busy_host_ports: BTreeSet<u16>,
    next_host_port: u16,
    next_id: u64,
    races: Vec<Ipv4Net>,
    stuck_networks: BTreeSet<String>,
    never_up: BTreeSet<String>,
    changes: Vec<String>,
    listings: usize,
    neighbour_limit: Option<u64>,
    swarm: Option<swarm::SwarmState>,
}

struct Container {
    info: ContainerInfo,
    serf_up: bool,
}

impl FakeRuntime {
    /// An empty runtime that has the lab's images and their base.
    pub fn new() -> Self {
        Self::with_id("fake-engine")
    }

    /// A fresh fake engine with its own ID (two of them stand for two
    /// engines).
    pub fn with_id(id: &str) -> Self {
        let fake = Self {
            id: id.to_string(),
            ..Self::default()
        };
        {
            let mut s = fake.lock();
            s.next_host_port = 32768;
            for role in contract::Role::ALL {
                s.images.insert(role.image().to_string(), HashMap::new());
            }
            // The base image too: nothing is ever made on the host for it.
            s.images
                .insert(crate::images::DEFAULT_BASE.to_string(), HashMap::new());
        }
        fake
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn new_info(
    s: &mut State,
    name: &str,
    image: &str,
    labels: HashMap<String, String>,
) -> ContainerInfo {
    s.next_id += 1;
    ContainerInfo {
        id: format!("{:012x}", s.next_id),
        name: name.to_string(),
        image: image.to_string(),
        image_id: format!("sha256:{image}"),
        labels,
        state: ContainerState::Created,
        status: "Created".into(),
        command: "/init".into(),
        created: 1_700_000_000 + i64::try_from(s.next_id).unwrap_or(0),
        addresses: HashMap::new(),
        ports: Vec::new(),
    }
}

impl State {
    /// Adds a network as the engine does: refused when its name is taken or
    /// its subnet overlaps another network's.
    fn add_network(
        &mut self,
        name: &str,
        subnet: Ipv4Net,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        if self.networks.contains_key(name) {
            return Err(anyhow::Error::new(Refusal::AlreadyExists(format!(
                "network with name {name} already exists"
            ))));
        }
        if let Some(other) = self.networks.values().find(|n| {
            n.subnets
                .iter()
                .any(|o| crate::naming::overlaps(*o, subnet))
        }) {
            return Err(anyhow::Error::new(Refusal::Overlaps(format!(
                "Pool overlaps with other one on this address space ({})",
                other.name
            ))));
        }
        self.networks.insert(
            name.to_string(),
            NetworkInfo {
                name: name.to_string(),
                labels: labels.clone(),
                subnets: vec![subnet],
            },
        );
        Ok(())
    }
}

fn missing(what: &str, name: &str) -> anyhow::Error {
    anyhow!("no such {what}: {name}")
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn engine_id(&self) -> &str {
        &self.id
    }

    fn address(&self) -> &str {
        "unix:///fake/docker.sock"
    }

    async fn info(&self) -> Result<EngineInfo> {
        Ok(EngineInfo {
            product: "Docker".into(),
            version: "fake".into(),
            api_version: "1.41".into(),
            os: "memory".into(),
            kernel: "none".into(),
            root_dir: String::new(),
            swarm: "inactive".into(),
            arch: "amd64".into(),
            neighbour_limit: self.lock().neighbour_limit,
        })
    }

    async fn image_labels(&self, image: &str) -> Result<Option<HashMap<String, String>>> {
        Ok(self.lock().images.get(image).cloned())
    }

    async fn image_id(&self, image: &str) -> Result<String> {
        if self.lock().images.contains_key(image) {
            Ok(format!("sha256:{image}"))
        } else {
            Err(missing("image", image))
        }
    }

    async fn image_size(&self, image: &str) -> Result<i64> {
        self.image_id(image).await.map(|_| 100_000_000)
    }

    async fn pull_image(&self, image: &str) -> Result<()> {
        bail!("pull access denied for {image}: no registry in the fake runtime")
    }

    async fn registry_serves(&self, image: &str) -> Result<()> {
        bail!("no registry serves {image} in the fake runtime")
    }

    async fn import_rootfs(
        &self,
        _rootfs_tar: Vec<u8>,
        repo: &str,
        tag: &str,
        _changes: &[String],
    ) -> Result<()> {
        let mut s = self.lock();
        s.images.insert(format!("{repo}:{tag}"), HashMap::new());
        s.changes.push(format!("import {repo}:{tag}"));
        Ok(())
    }

    async fn build_image(
        &self,
        tag: &str,
        _context_tar: Vec<u8>,
        labels: &HashMap<String, String>,
        platform: Option<&str>,
        _no_cache: bool,
        on_line: &mut (dyn for<'l> FnMut(&'l str) + Send),
    ) -> Result<()> {
        on_line(&format!("Successfully tagged {tag}"));
        let mut s = self.lock();
        s.images.insert(tag.to_string(), labels.clone());
        s.changes.push(match platform {
            Some(p) => format!("build {tag} for {p}"),
            None => format!("build {tag}"),
        });
        Ok(())
    }

    async fn networks(&self) -> Result<Vec<NetworkInfo>> {
        Ok(self.lock().networks.values().cloned().collect())
    }

    async fn create_network(
        &self,
        name: &str,
        subnet: Ipv4Net,
        _gateway: Ipv4Addr,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let mut s = self.lock();
        if let Some(i) = s.races.iter().position(|r| *r == subnet) {
            s.races.remove(i);
            let racer = format!("racer-{subnet}").replace('/', "-");
            s.networks.insert(
                racer.clone(),
                NetworkInfo {
                    name: racer,
                    labels: HashMap::new(),
                    subnets: vec![subnet],
                },
            );
        }
        s.add_network(name, subnet, labels)
            .map_err(|e| e.context(format!("creating network `{name}` ({subnet})")))?;
        s.changes.push(format!("create network {name} {subnet}"));
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<()> {
        let mut s = self.lock();
        if !s.networks.contains_key(name) {
            return Ok(());
        }
        let attached: Vec<String> = s
            .containers
            .values()
            .filter(|c| c.info.addresses.contains_key(name))
            .map(|c| c.info.name.clone())
            .collect();
        if !attached.is_empty() {
            bail!(
                "removing network `{name}`: it has active endpoints ({})",
                attached.join(", ")
            );
        }
        if s.stuck_networks.contains(name) {
            return Err(anyhow::Error::new(Refusal::NetworkKept(format!(
                "removing network `{name}`: the engine still lists endpoints on it (none it \
                 will name) after disconnecting them by force; `docker network rm {name}` \
                 after a restart of the Docker daemon removes it"
            ))));
        }
        s.networks.remove(name);
        s.changes.push(format!("remove network {name}"));
        Ok(())
    }

    async fn containers(&self) -> Result<Vec<ContainerInfo>> {
        let mut s = self.lock();
        s.listings += 1;
        Ok(s.containers.values().map(|c| c.info.clone()).collect())
    }

    async fn containers_with_label(&self, key: &str, value: &str) -> Result<Vec<ContainerInfo>> {
        let mut s = self.lock();
        s.listings += 1;
        Ok(s.containers
            .values()
            .filter(|c| c.info.label(key) == Some(value))
            .map(|c| c.info.clone())
            .collect())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<()> {
        let mut s = self.lock();
        if s.containers.contains_key(&spec.name) {
            return Err(anyhow::Error::new(Refusal::AlreadyExists(format!(
                "Conflict. The container name \"/{}\" is already in use",
                spec.name
            ))));
        }
        if !s.images.contains_key(&spec.image) {
            bail!(
                "creating container `{}`: no such image: {}",
                spec.name,
                spec.image
            );
        }
        if !s.networks.contains_key(&spec.network) {
            bail!(
                "creating container `{}`: network {} not found",
                spec.name,
                spec.network
            );
        }
        let mut info = new_info(&mut s, &spec.name, &spec.image, spec.labels.clone());
        info.addresses.insert(spec.network.clone(), spec.ip);
        for (port, host_ip, host_port) in &spec.publish {
            let host_port = if *host_port == 0 {
                s.next_host_port += 1;
                s.next_host_port
            } else {
                *host_port
            };
            info.ports.push(PublishedPort {
                container: *port,
                host_ip: Some(host_ip.clone()),
                host_port: Some(host_port),
            });
        }
        s.specs.insert(spec.name.clone(), spec.clone());
        s.containers.insert(
            spec.name.clone(),
            Container {
                info,
                serf_up: false,
            },
        );
        s.changes.push(format!("create {}", spec.name));
        Ok(())
    }

    async fn start_container(&self, name: &str) -> Result<()> {
        let mut s = self.lock();
        let busy = s.busy_host_ports.clone();
        let c = s
            .containers
            .get_mut(name)
            .ok_or_else(|| missing("container", name))?;
        if let Some(port) = c
            .info
            .ports
            .iter()
            .filter_map(|p| p.host_port)
            .find(|p| busy.contains(p))
        {
            return Err(anyhow::Error::new(Refusal::PortTaken(format!(
                "Bind for 0.0.0.0:{port} failed: port is already allocated"
            ))))
            .map_err(|e| e.context(format!("starting container `{name}`")));
        }
        c.info.state = ContainerState::Running;
        c.info.status = "Up 1 second".into();
        c.serf_up = true;
        s.changes.push(format!("start {name}"));
        Ok(())
    }

    async fn stop_container(&self, name: &str, _timeout_s: i32) -> Result<()> {
        let mut s = self.lock();
        if let Some(c) = s.containers.get_mut(name) {
            if c.info.state.is_running() {
                c.info.state = ContainerState::Exited;
                c.info.status = "Exited (0) 1 second ago".into();
                c.serf_up = false;
                s.changes.push(format!("stop {name}"));
            }
        }
        Ok(())
    }

    async fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let mut s = self.lock();
        let c = s
            .containers
            .get_mut(name)
            .ok_or_else(|| missing("container", name))?;
        if !c.info.state.is_running() {
            bail!("sending {signal} to container `{name}`: container {name} is not running");
        }
        c.info.state = ContainerState::Exited;
        c.info.status = "Exited (137) 1 second ago".into();
        c.serf_up = false;
        s.changes.push(format!("kill {name} {signal}"));
        Ok(())
    }

    async fn remove_container(&self, name: &str) -> Result<()> {
        let mut s = self.lock();
        let by_id = s.containers.values().find(|c| c.info.id == name);
        let name = by_id.map_or(name.to_string(), |c| c.info.name.clone());
        if s.containers.remove(&name).is_some() {
            s.changes.push(format!("remove {name}"));
        }
        Ok(())
    }

    async fn claim(&self, spec: &crate::runtime::ClaimSpec) -> Result<crate::runtime::Claimed> {
        self.take_claim(spec)
    }

    async fn inspect_container(&self, name: &str) -> Result<Vec<u8>> {
        let s = self.lock();
        let c = s
            .containers
            .get(name)
            .ok_or_else(|| missing("container", name))?;
        let env = s
            .specs
            .get(name)
            .map(|spec| spec.env.clone())
            .unwrap_or_default();
        Ok(serde_json::to_vec(&serde_json::json!({
            "Id": c.info.id,
            "Name": format!("/{name}"),
            "State": { "Status": c.info.state.as_str() },
            "Config": { "Env": env, "Labels": c.info.labels, "Image": c.info.image },
        }))?)
    }

    async fn exec(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
        self.lock().answer(container, cmd)
    }

    async fn run_on_host(
        &self,
        image: &str,
        _cmd: &[&str],
        _mount: (&str, &str),
    ) -> Result<ExecOutput> {
        // The fake has no host to read: it says so, as an engine that
        // cannot start the container would.
        if !self.lock().images.contains_key(image) {
            anyhow::bail!("No such image: {image}");
        }
        anyhow::bail!("the fake engine has no host to read")
    }

    async fn exec_attached(&self, container: &str, cmd: &[&str], _tty: bool) -> Result<i64> {
        use std::io::Write;
        let out = self.lock().answer(container, cmd)?;
        std::io::stdout().write_all(out.stdout.as_bytes())?;
        std::io::stderr().write_all(out.stderr.as_bytes())?;
        Ok(out.code)
    }

    async fn stream_logs(
        &self,
        container: &str,
        req: &LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        let text = self.logs(container, req).await?;
        sink(text.as_bytes());
        Ok(())
    }

    async fn logs(&self, container: &str, _req: &LogsRequest) -> Result<String> {
        let s = self.lock();
        s.containers
            .get(container)
            .map(|c| format!("{} started\n", c.info.name))
            .ok_or_else(|| missing("container", container))
    }

    /// The fake's archive is the images' names, a line each.
    async fn export_images(&self, images: &[&str]) -> Result<Vec<u8>> {
        let s = self.lock();
        let mut out = String::new();
        for image in images {
            if !s.images.contains_key(*image) {
                return Err(missing("image", image));
            }
            out.push_str(image);
            out.push('\n');
        }
        Ok(out.into_bytes())
    }

    async fn load_images(&self, archive: Vec<u8>) -> Result<()> {
        let mut s = self.lock();
        for image in String::from_utf8_lossy(&archive).lines() {
            s.images.insert(image.to_string(), HashMap::new());
        }
        Ok(())
    }

    fn as_swarm(&self) -> Option<&dyn super::swarm::Swarm> {
        self.lock()
            .swarm
            .is_some()
            .then_some(self as &dyn super::swarm::Swarm)
    }
}
