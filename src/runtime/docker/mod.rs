//! The Docker Engine behind the runtime seam: the only module that
//! imports bollard. Docker's refusals become [`Refusal`]s here, and only here.

mod claim;
mod connect;
mod exec;
mod list;
mod probe;
mod refusal;
mod spec;
mod swarm;
mod tls;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use bollard::errors::Error as DockerError;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    KillContainerOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use ipnet::Ipv4Net;

pub(super) use refusal::network_refusal;

use super::{
    ContainerInfo, ContainerSpec, EngineInfo, ExecOutput, LogsRequest, NetworkInfo, Refusal,
    Runtime,
};

/// A connected Docker Engine. Cheap to clone: clones share one client.
#[derive(Clone)]
pub struct DockerEngine {
    docker: Docker,
    /// The engine's address as the user named it (`ssh://…` for an
    /// engine reached over ssh).
    host: String,
    /// Where requests go: `host`, or the socket ssh forwards here.
    dial: String,
    /// The TLS files the engine is reached with, when it asks for TLS.
    tls: Option<crate::runtime::endpoint::Tls>,
    /// What tells this engine from any other (see [`Runtime::engine_id`]).
    id: String,
    /// The ssh forward of an engine reached over ssh, kept open while
    /// any clone of this client lives.
    _tunnel: Option<std::sync::Arc<crate::runtime::ssh::Tunnel>>,
}

fn status_code(err: &DockerError) -> Option<u16> {
    match err {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn is_not_found(err: &DockerError) -> bool {
    status_code(err) == Some(404)
}

/// Whether a creation was refused because its name is taken: Docker says
/// 409, Podman 500 with `that name is already in use`.
fn name_taken(err: &DockerError) -> bool {
    status_code(err) == Some(409)
        || (status_code(err) == Some(500) && docker_message(err).contains("is already in use"))
}

/// A refused creation: [`Refusal::AlreadyExists`] for a name that is taken,
/// the engine's message otherwise.
fn creation_error(err: &DockerError) -> anyhow::Error {
    if name_taken(err) {
        anyhow::Error::new(Refusal::AlreadyExists(docker_message(err)))
    } else {
        anyhow!(docker_message(err))
    }
}

/// Docker's own message of a failed request, without bollard's wrapping.
fn docker_message(err: &DockerError) -> String {
    match err {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

impl DockerEngine {
    /// The names (or ids) of the containers the engine lists on a network.
    async fn network_endpoints(&self, name: &str) -> Result<Vec<String>> {
        let network = self
            .docker
            .inspect_network(name, None)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("inspecting network `{name}`"))?;
        Ok(network
            .containers
            .unwrap_or_default()
            .into_iter()
            .map(|(id, e)| e.name.filter(|n| !n.is_empty()).unwrap_or(id))
            .collect())
    }
}

#[async_trait]
impl Runtime for DockerEngine {
    fn engine_id(&self) -> &str {
        &self.id
    }

    fn address(&self) -> &str {
        &self.host
    }

    async fn info(&self) -> Result<EngineInfo> {
        let version = self
            .docker
            .version()
            .await
            .context("asking the engine's version")?;
        let info = self
            .docker
            .info()
            .await
            .context("asking the engine's state")?;
        let podman = version
            .components
            .iter()
            .flatten()
            .any(|c| c.name.contains("Podman"));
        Ok(EngineInfo {
            product: if podman { "Podman" } else { "Docker" }.to_string(),
            version: version.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            os: info.operating_system.unwrap_or_default(),
            kernel: info.kernel_version.unwrap_or_default(),
            root_dir: info.docker_root_dir.unwrap_or_default(),
            swarm: info
                .swarm
                .and_then(|s| s.local_node_state)
                .map(|s| s.to_string())
                .unwrap_or_default(),
            // `/version` says amd64 and arm64 as platforms do; `/info` says
            // what uname says.
            arch: version
                .arch
                .filter(|a| !a.is_empty())
                .or(info.architecture)
                .unwrap_or_default(),
            // This machine's table is the engine's only when they share
            // the host; another host's is read by doctor's probe.
            neighbour_limit: crate::reach::shares_this_host(&self.host)
                .then(crate::neighbours::local_limit)
                .flatten(),
        })
    }

    // ----- images -------------------------------------------------------

    /// The labels of a local image, or `None` when the engine has no such image.
    async fn image_labels(&self, image: &str) -> Result<Option<HashMap<String, String>>> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(Some(info.config.and_then(|c| c.labels).unwrap_or_default())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("inspecting image `{image}`")),
        }
    }

    /// The id of a local image.
    async fn image_id(&self, image: &str) -> Result<String> {
        let info = self
            .docker
            .inspect_image(image)
            .await
            .with_context(|| format!("inspecting image `{image}`"))?;
        Ok(info.id.unwrap_or_default())
    }

    /// The size in bytes of a local image.
    async fn image_size(&self, image: &str) -> Result<i64> {
        let info = self
            .docker
            .inspect_image(image)
            .await
            .with_context(|| format!("inspecting image `{image}`"))?;
        Ok(info.size.unwrap_or(0))
    }

    /// Pulls an image from its registry.
    async fn pull_image(&self, image: &str) -> Result<()> {
        let options = CreateImageOptionsBuilder::default()
            .from_image(image)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| anyhow!(docker_message(&e)))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                bail!(err);
            }
        }
        Ok(())
    }

    /// Asks the registry for the image's manifest (the engine's
    /// distribution endpoint): nothing is pulled.
    async fn registry_serves(&self, image: &str) -> Result<()> {
        self.docker
            .inspect_registry_image(image, None)
            .await
            .map(|_| ())
            .map_err(|e| anyhow!(docker_message(&e)))
    }

    /// Imports a root file system (a tar archive) as image `repo:tag`, with
    /// Dockerfile-style `changes` such as `LABEL k=v`.
    async fn import_rootfs(
        &self,
        rootfs_tar: Vec<u8>,
        repo: &str,
        tag: &str,
        changes: &[String],
    ) -> Result<()> {
        // The tag goes inside `repo`: Podman keeps the repository of an
        // import and drops a separate `tag` (`docker.io/REPO:latest`);
        // Docker reads both forms alike.
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(&format!("{repo}:{tag}"))
            .changes(changes.to_vec())
            .build();
        let body = bollard::body_full(rootfs_tar.into());
        let mut stream = self.docker.create_image(Some(options), Some(body), None);
        while let Some(item) = stream.next().await {
            let info = item
                .map_err(|e| anyhow!(docker_message(&e)))
                .with_context(|| format!("importing `{repo}:{tag}`"))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                bail!("importing `{repo}:{tag}`: {err}");
            }
        }
        Ok(())
    }

    /// Builds image `tag` from an in-memory build context (a tar archive),
    /// passing each line of the build's output to `on_line`.
    async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &HashMap<String, String>,
        platform: Option<&str>,
        no_cache: bool,
        on_line: &mut (dyn for<'l> FnMut(&'l str) + Send),
    ) -> Result<()> {
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .rm(true)
            .forcerm(true)
            .nocache(no_cache)
            .labels(labels);
        if let Some(platform) = platform {
            options = options.platform(platform);
        }
        let options = options.build();
        let body = bollard::body_full(context_tar.into());
        let mut stream = self.docker.build_image(options, None, Some(body));
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            let info = match item {
                Ok(info) => info,
                Err(e) => bail!(
                    "building `{tag}` failed: {}\n{}",
                    docker_message(&e),
                    tail.join("\n")
                ),
            };
            if let Some(line) = info.stream.as_deref() {
                for l in line.lines().filter(|l| !l.trim().is_empty()) {
                    on_line(l);
                    tail.push(l.to_string());
                    if tail.len() > 15 {
                        tail.remove(0);
                    }
                }
            }
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                bail!("building `{tag}` failed: {err}\n{}", tail.join("\n"));
            }
        }
        Ok(())
    }

    // ----- networks -----------------------------------------------------

    /// Every network of the engine.
    async fn networks(&self) -> Result<Vec<NetworkInfo>> {
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptionsBuilder::default().build()))
            .await
            .context("listing networks")?;
        Ok(list
            .into_iter()
            .map(|n| NetworkInfo {
                name: n.name.unwrap_or_default(),
                labels: n.labels.unwrap_or_default(),
                subnets: n
                    .ipam
                    .and_then(|i| i.config)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|c| c.subnet.and_then(|s| s.parse().ok()))
                    .collect(),
            })
            .collect())
    }

    /// Creates a bridge network with a fixed subnet.
    async fn create_network(
        &self,
        name: &str,
        subnet: Ipv4Net,
        gateway: Ipv4Addr,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    gateway: Some(gateway.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map_err(|e| network_refusal(&e))
            .with_context(|| format!("creating network `{name}` ({subnet})"))?;
        Ok(())
    }

    /// Removes a network; a network that is already gone is fine. After
    /// heavy churn the engine may keep endpoints of containers that are
    /// gone ("has active endpoints"): those are disconnected by force and
    /// the removal tried again; what still holds the network is named.
    async fn remove_network(&self, name: &str) -> Result<()> {
        let mut last = String::new();
        for attempt in 0..4 {
            match self.docker.remove_network(name).await {
                Ok(()) => return Ok(()),
                Err(e) if is_not_found(&e) => return Ok(()),
                Err(e) => last = docker_message(&e),
            }
            if !last.contains("active endpoints") {
                break;
            }
            for endpoint in self.network_endpoints(name).await? {
                let request = bollard::models::NetworkDisconnectRequest {
                    container: endpoint,
                    force: Some(true),
                };
                let _ = self.docker.disconnect_network(name, request).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250 * (attempt + 1))).await;
        }
        if last.contains("active endpoints") {
            let left = self.network_endpoints(name).await.unwrap_or_default();
            return Err(anyhow::Error::new(Refusal::NetworkKept(format!(
                "removing network `{name}`: the engine still lists endpoints on it ({}) after \
                 disconnecting them by force; `docker network rm {name}` after a restart of the \
                 Docker daemon removes it. The lab's containers are gone, and `labctl up` works \
                 meanwhile (it uses the network as it is)",
                if left.is_empty() {
                    "none it will name".to_string()
                } else {
                    left.join(", ")
                }
            ))));
        }
        Err(anyhow!(last)).with_context(|| format!("removing network `{name}`"))
    }

    // ----- containers ---------------------------------------------------

    /// Containers (running or not) that carry label `key=value`.
    async fn containers(&self) -> Result<Vec<ContainerInfo>> {
        self.list_containers(&HashMap::new()).await
    }

    async fn containers_with_label(&self, key: &str, value: &str) -> Result<Vec<ContainerInfo>> {
        let filters = HashMap::from([("label", vec![format!("{key}={value}")])]);
        self.list_containers(&filters).await
    }

    /// Creates a container (not started).
    async fn create_container(&self, spec: &ContainerSpec) -> Result<()> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        self.docker
            .create_container(Some(options), spec::create_body(spec))
            .await
            .map_err(|e| creation_error(&e))
            .with_context(|| format!("creating container `{}`", spec.name))?;
        Ok(())
    }

    /// Starts a container.
    async fn start_container(&self, name: &str) -> Result<()> {
        self.docker
            .start_container(name, None)
            .await
            .map_err(|e| refusal::start_refusal(&e))
            .with_context(|| format!("starting container `{name}`"))
    }

    /// Stops a container (SIGTERM, then SIGKILL after `timeout_s`); one that
    /// is already stopped or gone is fine.
    async fn stop_container(&self, name: &str, timeout_s: i32) -> Result<()> {
        let options = StopContainerOptionsBuilder::default().t(timeout_s).build();
        match self.docker.stop_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(status_code(&e), Some(304 | 404)) => Ok(()),
            Err(e) => Err(anyhow!(docker_message(&e)))
                .with_context(|| format!("stopping container `{name}`")),
        }
    }

    /// Sends a signal to a container's main process.
    async fn kill_container(&self, name: &str, signal: &str) -> Result<()> {
        let options = KillContainerOptionsBuilder::default()
            .signal(signal)
            .build();
        self.docker
            .kill_container(name, Some(options))
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("sending {signal} to container `{name}`"))
    }

    /// Removes a container, stopping it first if needed; one that is already
    /// gone is fine.
    async fn remove_container(&self, name: &str) -> Result<()> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 409: a removal is already in progress.
            Err(e) if status_code(&e) == Some(409) => Ok(()),
            Err(e) => Err(anyhow!(docker_message(&e)))
                .with_context(|| format!("removing container `{name}`")),
        }
    }

    async fn claim(&self, spec: &crate::runtime::ClaimSpec) -> Result<crate::runtime::Claimed> {
        self.take_claim(spec).await
    }

    async fn inspect_container(&self, name: &str) -> Result<Vec<u8>> {
        self.inspect_raw(name).await
    }

    async fn exec(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
        self.exec_output(container, cmd).await
    }

    async fn run_on_host(
        &self,
        image: &str,
        cmd: &[&str],
        mount: (&str, &str),
    ) -> Result<ExecOutput> {
        self.probe(image, cmd, mount).await
    }

    async fn exec_attached(&self, container: &str, cmd: &[&str], tty: bool) -> Result<i64> {
        self.exec_streamed(container, cmd, tty).await
    }

    async fn stream_logs(
        &self,
        container: &str,
        req: &LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        self.logs_streamed(container, req, sink).await
    }

    async fn logs(&self, container: &str, req: &LogsRequest) -> Result<String> {
        self.logs_text(container, req).await
    }

    async fn export_images(&self, images: &[&str]) -> Result<Vec<u8>> {
        let mut stream = self.docker.export_images(images);
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|e| anyhow!(docker_message(&e)))
                .with_context(|| format!("saving images {}", images.join(", ")))?;
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    async fn load_images(&self, archive: Vec<u8>) -> Result<()> {
        let options = bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build();
        let mut stream =
            self.docker
                .import_image(options, bollard::body_full(archive.into()), None);
        while let Some(item) = stream.next().await {
            let item = item
                .map_err(|e| anyhow!(docker_message(&e)))
                .context("loading images")?;
            if let Some(error) = item.error_detail.and_then(|d| d.message) {
                bail!("loading images: {error}");
            }
        }
        Ok(())
    }

    fn as_swarm(&self) -> Option<&dyn super::swarm::Swarm> {
        Some(self)
    }
}
