//! The lab on a Docker Swarm: `ha` and `webapp` as services on an overlay
//! network, the Serf key a Swarm secret. The Swarm schedules the tasks;
//! labctl creates, scales and removes the services and waits for HAProxy.

pub(crate) mod plan;
mod service;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::contract::{Backends, Role};
use crate::lab::in_ha;
use crate::labels;
use crate::lock::{LabGuard, LabLock};
use crate::naming::{LabNames, HA};
use crate::output::Progress;
use crate::runtime::swarm::{ServiceInfo, Swarm, SwarmNode, SwarmTask};
use crate::runtime::{self, ExecOutput, Runtime};
pub(crate) use plan::{SwarmUp, TaskRow};
pub(crate) use service::refusal as scenario_refusal;

/// How often the Swarm and HAProxy are asked while waiting.
const POLL: Duration = Duration::from_millis(250);

/// A lab on the Swarm managed by the engine labctl talks to.
pub(crate) struct SwarmLab {
    runtime: Arc<dyn Runtime>,
    names: LabNames,
    lock: Arc<LabLock>,
}

/// How long a change of a lab on a Swarm waits for another one.
const LOCK_TIMEOUT: Duration = Duration::from_secs(600);

/// The port a Swarm node's engine answers on when labctl may reach it
/// (the local cluster's nodes do, on their private network).
const NODE_ENGINE_PORT: u16 = 2375;

impl SwarmLab {
    /// The lab `names` on the engine's Swarm; fails when the engine is not a
    /// Swarm manager.
    pub(crate) async fn new(runtime: Arc<dyn Runtime>, names: LabNames) -> Result<Self> {
        let lab = Self::handle(runtime, names);
        match lab.swarm()?.local_node().await? {
            Some((_, true)) => Ok(lab),
            Some((_, false)) => bail!(
                "this engine is a Swarm worker: point DOCKER_HOST at a manager (`docker node ls` \
                 there lists the nodes)"
            ),
            None => bail!(
                "this engine is in no Swarm: run `docker swarm init` on it, point DOCKER_HOST at \
                 a Swarm manager, or try a local one with `labctl cluster up`"
            ),
        }
    }

    /// The lab `names` if it runs on the engine's Swarm.
    pub(crate) async fn find(runtime: &Arc<dyn Runtime>, names: &LabNames) -> Result<Option<Self>> {
        let Some(swarm) = runtime.as_swarm() else {
            return Ok(None);
        };
        if !matches!(swarm.local_node().await, Ok(Some((_, true)))) {
            return Ok(None);
        }
        let services = swarm.services_with_label(labels::LAB, names.lab()).await?;
        Ok((!services.is_empty()).then(|| Self::handle(runtime.clone(), names.clone())))
    }

    fn handle(runtime: Arc<dyn Runtime>, names: LabNames) -> Self {
        let lock = Arc::new(LabLock::new(runtime.engine_id(), names.lab(), LOCK_TIMEOUT));
        Self {
            runtime,
            names,
            lock,
        }
    }

    /// Takes the lab's lock (or enters it again): the lab's changes take
    /// it themselves; a sequence of them that must not interleave with
    /// another command's (a scenario) holds it throughout.
    pub(crate) async fn lock(&self, progress: &Progress) -> Result<LabGuard> {
        self.lock.acquire(self.runtime.as_ref(), progress).await
    }

    fn swarm(&self) -> Result<&dyn Swarm> {
        self.runtime
            .as_swarm()
            .context("this engine cannot run the lab on a Swarm")
    }

    /// The lab's names.
    pub(crate) fn names(&self) -> &LabNames {
        &self.names
    }

    /// Starts the lab as services and waits (up to `wait`; not at all when
    /// `None`) until HAProxy serves every web app. A lab that is up keeps
    /// running (scaled to `req.webapps`).
    pub(crate) async fn up(
        &self,
        req: &SwarmUp,
        wait: Option<Duration>,
        progress: &Progress,
    ) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let swarm = self.swarm()?;
        let existing = swarm
            .services_with_label(labels::LAB, self.names.lab())
            .await?;
        if existing.is_empty() {
            // The images first: nothing is created if a node could not run
            // them.
            let images = self.images(req, progress).await?;
            let made = self.create(req, &images, progress).await;
            if made.is_err() {
                progress.info("removing what this `up` created");
                let _ = self.down(progress).await;
            }
            made?;
        } else {
            swarm
                .scale_service(
                    &plan::service(&self.names, Role::Webapp),
                    u64::from(req.webapps),
                )
                .await?;
        }
        match wait {
            Some(wait) => self.wait_served(req.webapps, wait, progress).await,
            None => Ok(()),
        }
    }

    async fn create(&self, req: &SwarmUp, images: &[String; 2], progress: &Progress) -> Result<()> {
        let swarm = self.swarm()?;
        progress.info(format!(
            "creating overlay network {} ({})",
            self.names.network(),
            req.subnet
        ));
        swarm
            .create_overlay(&self.names.network(), req.subnet, &plan::lab_labels(&self.names, None))
            .await
            .map_err(|e| {
                if runtime::refused(&e, |r| matches!(r, runtime::Refusal::Overlaps(_))) {
                    e.context("choose another subnet with --subnet")
                } else if runtime::refused(&e, |r| matches!(r, runtime::Refusal::AlreadyExists(_))) {
                    e.context("a network of that name is left from another lab: remove it (`docker network rm`) or use --lab")
                } else {
                    e
                }
            })?;
        let key = crate::lab::new_serf_key()?;
        swarm
            .create_secret(
                &plan::secret(&self.names),
                &plan::secret_data(&key),
                &plan::lab_labels(&self.names, None),
            )
            .await?;
        let ha = plan::ha_service(&self.names, req, &images[0]);
        let web = plan::webapp_service(&self.names, req, &images[1]);
        progress.info(format!(
            "creating services {} (1 task, on a manager) and {} ({} tasks)",
            ha.name, web.name, req.webapps
        ));
        swarm.create_service(&ha).await?;
        swarm.create_service(&web).await?;
        Ok(())
    }

    /// The references the nodes run `ha` and `webapp` from. Without a
    /// registry, the lab's own tags, which every node must hold (the manager
    /// is checked). With one, the images this engine holds are pushed there,
    /// the others pulled from it, and each service pinned to the digest the
    /// registry holds, so that every node runs the same image.
    async fn images(&self, req: &SwarmUp, progress: &Progress) -> Result<[String; 2]> {
        let swarm = self.swarm()?;
        let mut out = Vec::new();
        for role in [Role::Ha, Role::Webapp] {
            let local = self.runtime.image_labels(role.image()).await?.is_some();
            let Some(registry) = &req.registry else {
                if !local {
                    bail!(
                        "the Swarm's manager has no image {}: a local cluster gets the lab's \
                         images from `labctl cluster up`; on another Swarm, load them into every \
                         node (`docker save {} {} | docker -H NODE load`) or give a registry the \
                         nodes pull from (--registry HOST:PORT)",
                        role.image(),
                        Role::Ha.image(),
                        Role::Webapp.image()
                    );
                }
                out.push(role.image().to_string());
                continue;
            };
            let target = plan::registry_reference(registry, role);
            let pinned = if local {
                progress.info(format!("pushing {} to {target}", role.image()));
                swarm.push_image(role.image(), &target).await
            } else {
                progress.info(format!("pulling {target}"));
                swarm.pull_pinned(&target).await.map_err(|e| {
                    e.context(format!(
                        "this engine has no {} to push and registry {registry} none to pull: \
                         build the images here (`labctl build`), or push them to the registry",
                        role.image()
                    ))
                })
            }
            .context(
                "the registry must be reachable from this engine and every node (an HTTP \
                 registry must be in their engines' insecure-registries)",
            )?;
            out.push(pinned);
        }
        Ok(out.try_into().expect("one reference per role"))
    }

    /// Sets the number of web apps and waits (up to `wait`; not at all when
    /// `None`) until HAProxy serves exactly them.
    pub(crate) async fn scale(
        &self,
        webapps: u32,
        wait: Option<Duration>,
        progress: &Progress,
    ) -> Result<()> {
        let _lock = self.lock(progress).await?;
        progress.info(format!(
            "scaling {} to {webapps}",
            plan::service(&self.names, Role::Webapp)
        ));
        self.swarm()?
            .scale_service(
                &plan::service(&self.names, Role::Webapp),
                u64::from(webapps),
            )
            .await?;
        match wait {
            Some(wait) => self.wait_served(webapps, wait, progress).await,
            None => Ok(()),
        }
    }

    /// The web app tasks and `ha`'s.
    async fn tasks(&self) -> Result<(Vec<SwarmTask>, Vec<SwarmTask>)> {
        let swarm = self.swarm()?;
        let ha = swarm.tasks(&plan::service(&self.names, Role::Ha)).await?;
        let web = swarm
            .tasks(&plan::service(&self.names, Role::Webapp))
            .await?;
        Ok((ha, web))
    }

    /// Waits until `webapps` tasks run and HAProxy has exactly them UP.
    pub(crate) async fn wait_served(
        &self,
        webapps: u32,
        wait: Duration,
        progress: &Progress,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            let (ha, web) = self.tasks().await?;
            let expected = plan::expected_webapps(&web);
            let backends = if expected.len() == webapps as usize {
                self.backends().await.ok()
            } else {
                None
            };
            let up = backends
                .as_ref()
                .map(|b| b.servers.iter().filter(|s| s.is_up()).count())
                .unwrap_or(0);
            if let Some(b) = &backends {
                if crate::lab::converged(&b.servers, &expected) {
                    progress.info(format!("HAProxy serves {} web app(s)", expected.len()));
                    return Ok(());
                }
            }
            let last = format!(
                "waiting: {} of {webapps} web app task(s) running, {up} UP in HAProxy",
                expected.len()
            );
            progress.set(&last);
            if started.elapsed() > wait {
                let mut errors = plan::task_errors(&web);
                errors.extend(plan::task_errors(&ha));
                if errors.iter().any(|e| e.contains("No such image")) {
                    errors.push(format!(
                        "a node lacks the lab's images: load them into every node (`docker save {} {} | docker -H NODE load`; `labctl cluster up` does it for a local cluster)",
                        Role::Ha.image(),
                        Role::Webapp.image()
                    ));
                }
                bail!(
                    "gave up after {} s ({last}){}; see `labctl ps` and `labctl logs`",
                    wait.as_secs(),
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!("; the Swarm says: {}", errors.join("; "))
                    }
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The Swarm's nodes.
    pub(crate) async fn nodes(&self) -> Result<Vec<SwarmNode>> {
        self.swarm()?.nodes().await
    }

    /// The lab's current tasks (with `all`, the ended ones the Swarm still
    /// lists too), with the node each runs on.
    pub(crate) async fn rows(&self, all: bool) -> Result<Vec<TaskRow>> {
        let (ha, web) = self.tasks().await?;
        Ok(plan::rows(&ha, &web, &self.nodes().await?, all))
    }

    /// The running task of node `node` (`ha`, `s3`).
    async fn task_of(&self, node: &str) -> Result<SwarmTask> {
        let (ha, web) = self.tasks().await?;
        let found = if node == HA {
            ha.into_iter().find(SwarmTask::is_running)
        } else {
            web.into_iter()
                .find(|t| t.is_running() && plan::webapp_node(t) == node)
        };
        found.with_context(|| {
            format!(
                "no running task is node `{node}` of lab `{}`; see `labctl ps`",
                self.names.lab()
            )
        })
    }

    /// The engine that runs node `node`'s container, and the container's id:
    /// this engine for a task on this node, the node's own engine where
    /// labctl can reach it (a local cluster's nodes), else an error that
    /// says where it runs.
    pub(crate) async fn container_of(&self, node: &str) -> Result<(Arc<dyn Runtime>, String)> {
        let task = self.task_of(node).await?;
        let container = task
            .container_id
            .clone()
            .with_context(|| format!("node `{node}` has no container yet"))?;
        let (local, _) = self
            .swarm()?
            .local_node()
            .await?
            .context("this engine left the Swarm")?;
        if task.node_id == local {
            return Ok((self.runtime.clone(), container));
        }
        let nodes = self.nodes().await?;
        let host = nodes
            .iter()
            .find(|n| n.id == task.node_id)
            .with_context(|| format!("node `{node}` runs on a Swarm node that is gone"))?;
        let url = format!("tcp://{}:{NODE_ENGINE_PORT}", host.addr);
        let reached = tokio::time::timeout(Duration::from_secs(5), runtime::connect_to(&url)).await;
        match reached {
            Ok(Ok(runtime)) => Ok((runtime, container)),
            _ => bail!(
                "node `{node}` runs on Swarm node {} ({}), whose engine labctl cannot reach at {url}; \
                 run the command there (`docker -H ssh://{} ...`), or make that engine reachable",
                host.hostname,
                host.addr,
                host.addr
            ),
        }
    }

    /// HAProxy's view of the backends, read inside `ha`.
    pub(crate) async fn backends(&self) -> Result<Backends> {
        in_ha::backends(self.exec(HA, in_ha::BACKENDS).await?)
    }

    /// Runs a command in a node (on whichever Swarm node it runs).
    pub(crate) async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let (runtime, container) = self.container_of(node).await?;
        runtime.exec(&container, cmd).await
    }

    /// The web app tasks the `webapp` service is set to run.
    pub(crate) async fn wanted_webapps(&self) -> Result<u32> {
        let service = self.service(Role::Webapp).await?;
        Ok(u32::try_from(service.replicas).unwrap_or(u32::MAX))
    }

    /// One of the lab's services.
    pub(crate) async fn service(&self, role: Role) -> Result<ServiceInfo> {
        let name = plan::service(&self.names, role);
        self.swarm()?
            .services_with_label(labels::LAB, self.names.lab())
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .with_context(|| format!("lab `{}` has no service {name}", self.names.lab()))
    }

    /// Passes a node's output to `sink` as it comes, through the manager
    /// (see [`Swarm::stream_task_logs`]).
    pub(crate) async fn stream_logs(
        &self,
        node: &str,
        req: &runtime::LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        let task = self.task_of(node).await?;
        self.swarm()?.stream_task_logs(&task.id, req, sink).await
    }

    /// Runs a command in a node as `docker exec` does; returns its exit code.
    pub(crate) async fn exec_attached(&self, node: &str, cmd: &[&str], tty: bool) -> Result<i64> {
        let (runtime, container) = self.container_of(node).await?;
        runtime.exec_attached(&container, cmd, tty).await
    }

    /// Removes the lab's services (their tasks stop), then its network and
    /// secret. Returns what it removed.
    pub(crate) async fn down(&self, progress: &Progress) -> Result<Vec<String>> {
        let _lock = self.lock(progress).await?;
        let swarm = self.swarm()?;
        let services = swarm
            .services_with_label(labels::LAB, self.names.lab())
            .await?;
        let mut removed = Vec::new();
        for s in &services {
            if s.label(labels::MANAGED) == Some("true") {
                progress.info(format!("removing service {}", s.name));
                swarm.remove_service(&s.name).await?;
                removed.push(format!("service {}", s.name));
            }
        }
        // The network goes once the tasks' containers are gone.
        let network = self.names.network();
        let started = Instant::now();
        if let Some(net) = self.runtime.network(&network).await? {
            if net.labels.get(labels::LAB).map(String::as_str) == Some(self.names.lab()) {
                // The Swarm removes an overlay once its tasks are gone: the
                // request may be taken before that, and the network stays
                // listed until then.
                loop {
                    let result = self.runtime.remove_network(&network).await;
                    if result.is_ok() && self.runtime.network(&network).await?.is_none() {
                        break;
                    }
                    if started.elapsed() > Duration::from_secs(90) {
                        result?;
                        bail!(
                            "network `{network}` is still listed 90 s after its services were \
                             removed; `docker network rm {network}` removes it once their tasks \
                             are gone"
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                removed.push(format!("network {network}"));
            }
        }
        for secret in swarm
            .secrets_with_label(labels::LAB, self.names.lab())
            .await?
        {
            loop {
                match swarm.remove_secret(&secret).await {
                    Ok(()) => break,
                    Err(e) if started.elapsed() > Duration::from_secs(60) => return Err(e),
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
            removed.push(format!("secret {secret}"));
        }
        Ok(removed)
    }
}
