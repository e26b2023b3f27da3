//! The runtime seam: what labctl asks of a container engine, in its own
//! words and types. The Docker Engine implements it (`docker`), and so does
//! an in-memory engine for orchestration tests (`fake`).

pub mod docker;
pub mod endpoint;
#[cfg(feature = "fake")]
pub mod fake;
mod ssh;
pub mod swarm;
mod types;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::Result;
use async_trait::async_trait;
use ipnet::Ipv4Net;

pub use types::{
    refused, Claim, ClaimSpec, Claimed, ContainerInfo, ContainerSpec, ContainerState, EngineInfo,
    ExecOutput, LogsRequest, NetworkInfo, PublishedPort, Refusal,
};

/// A container engine as labctl uses it. Refusals that orchestration acts
/// on come back as a [`Refusal`] inside the error (`downcast_ref`), never as
/// text to match.
#[async_trait]
pub trait Runtime: Send + Sync {
    /// What the engine says of itself.
    async fn info(&self) -> Result<EngineInfo>;
    /// What tells this engine from any other: the engine's own ID (its
    /// address when it has none). Locks are keyed by it, so that users of
    /// one engine wait for each other and labs of one name on two engines
    /// do not.
    fn engine_id(&self) -> &str;

    /// The address labctl reaches the engine at (`unix:///…`, `tcp://…`).
    fn address(&self) -> &str;

    // ----- images -------------------------------------------------------

    /// The labels of a local image, or `None` when there is no such image.
    async fn image_labels(&self, image: &str) -> Result<Option<HashMap<String, String>>>;
    /// The id of a local image.
    async fn image_id(&self, image: &str) -> Result<String>;
    /// The size in bytes of a local image.
    async fn image_size(&self, image: &str) -> Result<i64>;
    /// Pulls an image from its registry.
    async fn pull_image(&self, image: &str) -> Result<()>;
    /// Asks `image`'s registry whether it serves it, without pulling
    /// anything (a check that changes nothing).
    async fn registry_serves(&self, image: &str) -> Result<()>;
    /// Imports a root file system (a tar archive) as image `repo:tag`, with
    /// Dockerfile-style `changes` such as `LABEL k=v`.
    async fn import_rootfs(
        &self,
        rootfs_tar: Vec<u8>,
        repo: &str,
        tag: &str,
        changes: &[String],
    ) -> Result<()>;
    /// Builds image `tag` from a build context (a tar archive), passing
    /// each line of the build's output to `on_line`.
    async fn build_image(
        &self,
        tag: &str,
        context_tar: Vec<u8>,
        labels: &HashMap<String, String>,
        platform: Option<&str>,
        no_cache: bool,
        on_line: &mut (dyn for<'l> FnMut(&'l str) + Send),
    ) -> Result<()>;

    // ----- networks -----------------------------------------------------

    /// Every network.
    async fn networks(&self) -> Result<Vec<NetworkInfo>>;
    /// Creates a bridge network with a fixed subnet; [`Refusal::Overlaps`]
    /// when another network holds part of it.
    async fn create_network(
        &self,
        name: &str,
        subnet: Ipv4Net,
        gateway: Ipv4Addr,
        labels: &HashMap<String, String>,
    ) -> Result<()>;
    /// Removes a network; one that is already gone is fine. Endpoints the
    /// engine keeps of containers that are gone are disconnected by force;
    /// if it still refuses, the error says what is left and how to clear it.
    async fn remove_network(&self, name: &str) -> Result<()>;

    /// The network called `name`, if any.
    async fn network(&self, name: &str) -> Result<Option<NetworkInfo>> {
        Ok(self.networks().await?.into_iter().find(|n| n.name == name))
    }

    // ----- containers ---------------------------------------------------

    /// Every container, running or not.
    async fn containers(&self) -> Result<Vec<ContainerInfo>>;
    /// Containers (running or not) that carry label `key=value`.
    async fn containers_with_label(&self, key: &str, value: &str) -> Result<Vec<ContainerInfo>>;
    /// The container called exactly `name`, if any.
    async fn container_named(&self, name: &str) -> Result<Option<ContainerInfo>> {
        Ok(self
            .containers()
            .await?
            .into_iter()
            .find(|c| c.name == name))
    }
    /// Creates a container (not started); [`Refusal::AlreadyExists`] when
    /// the name is taken.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<()>;
    /// Starts a container; [`Refusal::PortTaken`] when a host port it
    /// publishes is in use.
    async fn start_container(&self, name: &str) -> Result<()>;
    /// Stops a container (SIGTERM, then SIGKILL after `timeout_s`); one that
    /// is already stopped or gone is fine.
    async fn stop_container(&self, name: &str, timeout_s: i32) -> Result<()>;
    /// Sends a signal to a container's main process.
    async fn kill_container(&self, name: &str, signal: &str) -> Result<()>;
    /// Removes a container, stopping it first if needed; one that is
    /// already gone is fine.
    async fn remove_container(&self, name: &str) -> Result<()>;
    /// The engine's full description of a container: its JSON document, the
    /// bytes as the engine wrote them.
    async fn inspect_container(&self, name: &str) -> Result<Vec<u8>>;
    /// Runs a command inside a running container and collects its output.
    async fn exec(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput>;
    /// The last `tail` lines (`all` for everything) of a container's output.
    async fn logs(&self, container: &str, req: &LogsRequest) -> Result<String>;
    /// Runs a command inside a running container as `docker exec` does:
    /// this process's stdin forwarded, its output written to this process's
    /// stdout and stderr as it comes, on a TTY when `tty`. Returns its exit
    /// code.
    async fn exec_attached(&self, container: &str, cmd: &[&str], tty: bool) -> Result<i64>;
    /// Passes a container's output to `sink` as it comes: the last `tail`
    /// lines, then (when `follow`) what it writes until it stops.
    async fn stream_logs(
        &self,
        container: &str,
        req: &LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()>;

    /// Runs `cmd` in a short-lived container of `image` that shares the
    /// network namespace of the engine's host (its /proc/net, its ports),
    /// with that host's folder `mount.0` read-only at `mount.1`, and
    /// removes it whatever happened: how labctl reads the engine's machine
    /// when it is not this one.
    async fn run_on_host(
        &self,
        image: &str,
        cmd: &[&str],
        mount: (&str, &str),
    ) -> Result<ExecOutput>;

    /// Claims `spec.name` on the engine for as long as the returned
    /// [`Claim`] is kept and this process's connection to the engine
    /// lasts: a container of `spec.image` running `cat` on an input that
    /// this process holds open, removed by the engine when it stops. The
    /// engine refuses the name while another claim has it: then what it
    /// lists under that name comes back.
    async fn claim(&self, spec: &ClaimSpec) -> Result<Claimed>;

    // ----- moving images between engines ---------------------------------

    /// Local images as one archive, as `docker save` writes it.
    async fn export_images(&self, images: &[&str]) -> Result<Vec<u8>>;
    /// Loads an archive written by [`Runtime::export_images`], as `docker
    /// load` does.
    async fn load_images(&self, archive: Vec<u8>) -> Result<()>;

    /// The engine as a Swarm manager, when it can be one.
    fn as_swarm(&self) -> Option<&dyn swarm::Swarm> {
        None
    }
}

/// Connects to the Docker Engine named by `DOCKER_HOST` (or the local
/// socket).
pub async fn connect() -> Result<std::sync::Arc<dyn Runtime>> {
    Ok(std::sync::Arc::new(docker::DockerEngine::connect().await?))
}

/// Connects to the engine at `host` (any address DOCKER_HOST takes), which
/// the command-line option `option` named.
pub async fn connect_given(
    host: &str,
    option: &'static str,
) -> Result<std::sync::Arc<dyn Runtime>> {
    let endpoint = endpoint::given(host, option)?;
    Ok(std::sync::Arc::new(
        docker::DockerEngine::connect_endpoint(endpoint).await?,
    ))
}

/// Connects to the Docker Engine at `host` (`tcp://HOST:PORT`), such as a
/// node of a Swarm.
pub async fn connect_to(host: &str) -> Result<std::sync::Arc<dyn Runtime>> {
    Ok(std::sync::Arc::new(
        docker::DockerEngine::connect_to(host).await?,
    ))
}
