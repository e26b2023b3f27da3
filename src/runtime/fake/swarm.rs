//! The fake engine as a one-node Swarm manager: services whose tasks are
//! containers of the fake (so that they answer in-node commands as a
//! healthy lab's do), overlay networks and secrets held in memory.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::{anyhow, bail, Result};
use async_trait::async_trait;
use ipnet::Ipv4Net;

use super::{missing, new_info, Container, FakeRuntime, State};
use crate::labels;
use crate::runtime::swarm::{ServiceInfo, ServiceSpec, Swarm, SwarmNode, SwarmTask};
use crate::runtime::{ContainerState, LogsRequest, PublishedPort, Refusal};

/// The fake Swarm's one node.
const NODE_ID: &str = "fake-node";

/// What the fake Swarm holds.
#[derive(Default)]
pub(super) struct SwarmState {
    services: Vec<Service>,
    secrets: HashMap<String, HashMap<String, String>>,
    next_task: u64,
}

struct Service {
    id: String,
    spec: ServiceSpec,
    /// Running tasks: (task id, slot, container name).
    tasks: Vec<(String, u32, String)>,
}

impl FakeRuntime {
    /// Makes the fake engine the manager of a one-node Swarm.
    pub fn make_swarm_manager(&self) {
        self.lock().swarm = Some(SwarmState::default());
    }
}

impl State {
    fn swarm_mut(&mut self) -> Result<&mut SwarmState> {
        self.swarm
            .as_mut()
            .ok_or_else(|| anyhow!("this engine is not a Swarm manager"))
    }

    /// Starts or removes task containers until service `index` runs its
    /// replicas.
    fn reconcile(&mut self, index: usize) -> Result<()> {
        loop {
            let swarm = self.swarm_mut()?;
            let service = &swarm.services[index];
            let have = service.tasks.len() as u64;
            let wanted = service.spec.replicas;
            if have > wanted {
                let (_, _, container) =
                    swarm.services[index].tasks.pop().expect("a task to remove");
                self.containers.remove(&container);
                self.changes.push(format!("remove task {container}"));
                continue;
            }
            if have == wanted {
                return Ok(());
            }
            let slot = (1..)
                .find(|s| !service.tasks.iter().any(|(_, t, _)| t == s))
                .expect("a free slot");
            swarm.next_task += 1;
            let task = format!("task{:04}", swarm.next_task);
            let spec = service.spec.clone();
            let container = format!("{}.{slot}.{task}", spec.name);
            swarm.services[index]
                .tasks
                .push((task, slot, container.clone()));
            self.start_task(&spec, slot, &container)?;
        }
    }

    /// A running container for slot `slot` of `spec`, on the service's
    /// overlay network, labelled as the lab's node it is.
    fn start_task(&mut self, spec: &ServiceSpec, slot: u32, container: &str) -> Result<()> {
        let node = spec.hostname.replace("{{.Task.Slot}}", &slot.to_string());
        let mut labels = spec.labels.clone();
        labels.insert(labels::NODE.to_string(), node);
        let network = self
            .networks
            .get(&spec.network)
            .ok_or_else(|| missing("network", &spec.network))?
            .clone();
        let subnet = network
            .subnets
            .first()
            .copied()
            .ok_or_else(|| anyhow!("network {} has no subnet", spec.network))?;
        let used: Vec<Ipv4Addr> = self
            .containers
            .values()
            .filter_map(|c| c.info.addresses.get(&spec.network).copied())
            .collect();
        let ip = subnet
            .hosts()
            .skip(1)
            .find(|ip| !used.contains(ip))
            .ok_or_else(|| anyhow!("network {} is full", spec.network))?;
        let mut info = new_info(self, container, &spec.image, labels);
        info.addresses.insert(spec.network.clone(), ip);
        info.ports = spec
            .ports
            .iter()
            .map(|p| PublishedPort {
                container: p.target,
                host_ip: Some("0.0.0.0".into()),
                host_port: Some(p.published),
            })
            .collect();
        info.state = ContainerState::Running;
        info.status = "Up 1 second".into();
        self.containers.insert(
            container.to_string(),
            Container {
                info,
                serf_up: true,
            },
        );
        self.changes.push(format!("start task {container}"));
        Ok(())
    }

    /// Replaces the tasks of service `index` whose containers ended, as
    /// the Swarm does.
    fn replace_ended(&mut self, index: usize) -> Result<()> {
        let tasks = self.swarm_mut()?.services[index].tasks.clone();
        let ended: Vec<String> = tasks
            .iter()
            .filter(|(_, _, c)| {
                !self
                    .containers
                    .get(c)
                    .is_some_and(|c| c.info.state.is_running())
            })
            .map(|(_, _, c)| c.clone())
            .collect();
        if ended.is_empty() {
            return Ok(());
        }
        self.swarm_mut()?.services[index]
            .tasks
            .retain(|(_, _, c)| !ended.contains(c));
        for c in &ended {
            self.containers.remove(c);
        }
        self.reconcile(index)
    }

    fn service_index(&mut self, name: &str) -> Result<usize> {
        self.swarm_mut()?
            .services
            .iter()
            .position(|s| s.spec.name == name)
            .ok_or_else(|| missing("service", name))
    }
}

#[async_trait]
impl Swarm for FakeRuntime {
    async fn local_node(&self) -> Result<Option<(String, bool)>> {
        Ok(self
            .lock()
            .swarm
            .as_ref()
            .map(|_| (NODE_ID.to_string(), true)))
    }

    async fn init(&self, _advertise: Ipv4Addr) -> Result<String> {
        self.make_swarm_manager();
        Ok("fake-token".into())
    }

    async fn join(&self, _manager: &str, _token: &str, _advertise: Ipv4Addr) -> Result<()> {
        bail!("the fake engine joins no other Swarm")
    }

    async fn leave(&self) -> Result<()> {
        self.lock().swarm = None;
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<SwarmNode>> {
        self.lock().swarm_mut()?;
        Ok(vec![SwarmNode {
            id: NODE_ID.into(),
            hostname: "fake".into(),
            manager: true,
            state: "ready".into(),
            availability: "active".into(),
            addr: "127.0.0.1".into(),
        }])
    }

    async fn create_overlay(
        &self,
        name: &str,
        subnet: Ipv4Net,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let mut s = self.lock();
        s.swarm_mut()?;
        s.add_network(name, subnet, labels)?;
        s.changes.push(format!("create overlay {name} {subnet}"));
        Ok(())
    }

    async fn create_secret(
        &self,
        name: &str,
        _data: &[u8],
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let mut s = self.lock();
        s.swarm_mut()?.secrets.insert(name.into(), labels.clone());
        s.changes.push(format!("create secret {name}"));
        Ok(())
    }

    async fn secrets_with_label(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let mut s = self.lock();
        let mut names: Vec<String> = s
            .swarm_mut()?
            .secrets
            .iter()
            .filter(|(_, l)| l.get(key).map(String::as_str) == Some(value))
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        Ok(names)
    }

    async fn remove_secret(&self, name: &str) -> Result<()> {
        let mut s = self.lock();
        if s.swarm_mut()?.secrets.remove(name).is_some() {
            s.changes.push(format!("remove secret {name}"));
        }
        Ok(())
    }

    async fn create_service(&self, spec: &ServiceSpec) -> Result<()> {
        let mut s = self.lock();
        if !s.images.contains_key(&spec.image) {
            bail!(
                "creating service `{}`: no such image: {}",
                spec.name,
                spec.image
            );
        }
        let swarm = s.swarm_mut()?;
        if swarm.services.iter().any(|x| x.spec.name == spec.name) {
            return Err(anyhow::Error::new(Refusal::AlreadyExists(format!(
                "service {} already exists",
                spec.name
            ))));
        }
        swarm.next_task += 1;
        let id = format!("service{:04}", swarm.next_task);
        swarm.services.push(Service {
            id,
            spec: spec.clone(),
            tasks: Vec::new(),
        });
        let index = swarm.services.len() - 1;
        s.changes.push(format!("create service {}", spec.name));
        s.reconcile(index)
    }

    async fn services_with_label(&self, key: &str, value: &str) -> Result<Vec<ServiceInfo>> {
        let mut s = self.lock();
        Ok(s.swarm_mut()?
            .services
            .iter()
            .filter(|x| x.spec.labels.get(key).map(String::as_str) == Some(value))
            .map(|x| ServiceInfo {
                id: x.id.clone(),
                name: x.spec.name.clone(),
                labels: x.spec.labels.clone(),
                replicas: x.spec.replicas,
                env: x.spec.env.clone(),
            })
            .collect())
    }

    async fn scale_service(&self, name: &str, replicas: u64) -> Result<()> {
        let mut s = self.lock();
        let index = s.service_index(name)?;
        s.swarm_mut()?.services[index].spec.replicas = replicas;
        s.changes.push(format!("scale service {name} {replicas}"));
        s.reconcile(index)
    }

    async fn remove_service(&self, name: &str) -> Result<()> {
        let mut s = self.lock();
        let Ok(index) = s.service_index(name) else {
            return Ok(());
        };
        let service = s.swarm_mut()?.services.remove(index);
        for (_, _, container) in service.tasks {
            s.containers.remove(&container);
        }
        s.changes.push(format!("remove service {name}"));
        Ok(())
    }

    async fn tasks(&self, service: &str) -> Result<Vec<SwarmTask>> {
        let mut s = self.lock();
        let Ok(index) = s.service_index(service) else {
            return Ok(Vec::new());
        };
        s.replace_ended(index)?;
        let tasks = s.swarm_mut()?.services[index].tasks.clone();
        Ok(tasks
            .into_iter()
            .map(|(id, slot, container)| {
                let running = s
                    .containers
                    .get(&container)
                    .is_some_and(|c| c.info.state.is_running());
                SwarmTask {
                    id,
                    slot,
                    node_id: NODE_ID.into(),
                    state: if running { "running" } else { "failed" }.into(),
                    desired: "running".into(),
                    container_id: Some(container),
                    error: None,
                    since: "2026-01-01T00:00:00Z".into(),
                }
            })
            .collect())
    }

    async fn stream_task_logs(
        &self,
        task_id: &str,
        _req: &LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        let text = {
            let mut s = self.lock();
            let container = s
                .swarm_mut()?
                .services
                .iter()
                .flat_map(|x| x.tasks.iter())
                .find(|(id, _, _)| id == task_id)
                .map(|(_, _, c)| c.clone())
                .ok_or_else(|| missing("task", task_id))?;
            format!("{container} started\n")
        };
        sink(text.as_bytes());
        Ok(())
    }

    async fn push_image(&self, image: &str, target: &str) -> Result<String> {
        bail!("no registry in the fake runtime: {image} cannot go to {target}")
    }

    async fn pull_pinned(&self, reference: &str) -> Result<String> {
        bail!("no registry in the fake runtime: {reference} cannot be pulled")
    }
}
