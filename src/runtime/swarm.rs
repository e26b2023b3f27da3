//! What labctl asks of a Docker Swarm manager, in its own words: the Swarm
//! itself, its nodes, overlay networks, secrets, services and their tasks.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::Result;
use async_trait::async_trait;
use ipnet::Ipv4Net;

/// A Swarm node as labctl needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmNode {
    /// Its id.
    pub id: String,
    /// Its host name.
    pub hostname: String,
    /// Whether it is a manager.
    pub manager: bool,
    /// `ready`, `down`, `unknown`, …
    pub state: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
    /// The address the Swarm reaches it on.
    pub addr: String,
}

/// A task of a service, as labctl needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmTask {
    /// Its id.
    pub id: String,
    /// The service's replica number (`s3` runs slot 3).
    pub slot: u32,
    /// The node it was given to.
    pub node_id: String,
    /// Where it is: `new`, `running`, `shutdown`, `failed`, …
    pub state: String,
    /// Where the Swarm wants it: `running` or `shutdown`.
    pub desired: String,
    /// Its container's id, once it has one.
    pub container_id: Option<String>,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// When it last changed state (RFC 3339).
    pub since: String,
}

impl SwarmTask {
    /// Whether it runs and is meant to.
    pub fn is_running(&self) -> bool {
        self.state == "running" && self.desired == "running"
    }
}

/// A port a service publishes on the node its task runs on (host mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// The port inside the task.
    pub target: u16,
    /// The port on the node.
    pub published: u16,
}

/// What a new service looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its name, also its DNS name on the network.
    pub name: String,
    /// The image (a local image: no registry is asked).
    pub image: String,
    /// The replicas wanted.
    pub replicas: u64,
    /// The tasks' host name; may use Swarm's templates (`s{{.Task.Slot}}`).
    pub hostname: String,
    /// Environment, `KEY=value`; may use Swarm's templates.
    pub env: Vec<String>,
    /// Labels, on the service and its tasks' containers.
    pub labels: HashMap<String, String>,
    /// The overlay network its tasks join.
    pub network: String,
    /// Placement constraints (`node.role==manager`).
    pub constraints: Vec<String>,
    /// Ports published in host mode.
    pub ports: Vec<HostPort>,
    /// Secrets mounted under `/run/secrets/`: (secret name, file name).
    pub secrets: Vec<(String, String)>,
    /// How long a task may take to stop after SIGTERM.
    pub stop_grace_s: u64,
    /// At most one task of this service per node.
    pub one_per_node: bool,
}

/// A service as labctl needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// The replicas wanted.
    pub replicas: u64,
    /// Its environment, `KEY=value`.
    pub env: Vec<String>,
}

impl ServiceInfo {
    /// The value of one of its labels.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// The value of an environment variable of its tasks.
    pub fn env_value(&self, key: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then_some(v)
        })
    }
}

/// A Swarm manager as labctl drives it.
#[async_trait]
pub trait Swarm: Send + Sync {
    /// The id of the node this engine is, and whether it is a manager
    /// (`None` when the engine is in no Swarm).
    async fn local_node(&self) -> Result<Option<(String, bool)>>;
    /// Makes this engine the manager of a new Swarm, reached by the others
    /// at `advertise`; returns the token workers join with.
    async fn init(&self, advertise: Ipv4Addr) -> Result<String>;
    /// Joins the Swarm managed at `manager` as a worker.
    async fn join(&self, manager: &str, token: &str, advertise: Ipv4Addr) -> Result<()>;
    /// Leaves the Swarm (by force).
    async fn leave(&self) -> Result<()>;
    /// The Swarm's nodes.
    async fn nodes(&self) -> Result<Vec<SwarmNode>>;

    /// Creates an attachable overlay network with a fixed subnet.
    async fn create_overlay(
        &self,
        name: &str,
        subnet: Ipv4Net,
        labels: &HashMap<String, String>,
    ) -> Result<()>;
    /// Creates a secret.
    async fn create_secret(
        &self,
        name: &str,
        data: &[u8],
        labels: &HashMap<String, String>,
    ) -> Result<()>;
    /// The names of the secrets that carry label `key=value`.
    async fn secrets_with_label(&self, key: &str, value: &str) -> Result<Vec<String>>;
    /// Removes a secret; one that is gone is fine.
    async fn remove_secret(&self, name: &str) -> Result<()>;

    /// Creates a service.
    async fn create_service(&self, spec: &ServiceSpec) -> Result<()>;
    /// The services that carry label `key=value`.
    async fn services_with_label(&self, key: &str, value: &str) -> Result<Vec<ServiceInfo>>;
    /// Sets a service's replicas.
    async fn scale_service(&self, name: &str, replicas: u64) -> Result<()>;
    /// Removes a service; one that is gone is fine.
    async fn remove_service(&self, name: &str) -> Result<()>;
    /// A service's tasks, current and past.
    async fn tasks(&self, service: &str) -> Result<Vec<SwarmTask>>;
    /// Passes a task's output to `sink` as it comes, through the manager:
    /// the last `tail` lines, then (when `follow`) what it writes until it
    /// stops.
    async fn stream_task_logs(
        &self,
        task_id: &str,
        req: &crate::runtime::LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()>;

    /// Tags local image `image` as `target` (`HOST:PORT/labctl/ha:latest`)
    /// and pushes it to `target`'s registry; returns `target` pinned to the
    /// digest the registry holds (`HOST:PORT/labctl/ha@sha256:…`).
    async fn push_image(&self, image: &str, target: &str) -> Result<String>;
    /// Pulls `reference` from its registry; returns it pinned to the digest
    /// the registry gave.
    async fn pull_pinned(&self, reference: &str) -> Result<String>;
}

/// `reference` split into its repository and tag (`latest` when it names
/// none): `192.168.142.10:5000/labctl/ha:latest` →
/// (`192.168.142.10:5000/labctl/ha`, `latest`).
pub fn split_tag(reference: &str) -> (&str, &str) {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            &reference[name_start + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

/// The one of an image's repository digests that belongs to `repo`.
pub fn pinned(repo: &str, repo_digests: &[String]) -> Option<String> {
    let prefix = format!("{repo}@");
    repo_digests
        .iter()
        .find(|d| d.starts_with(&prefix))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_splits_at_its_tag_not_at_the_registry_port() {
        assert_eq!(
            split_tag("192.168.142.10:5000/labctl/ha:latest"),
            ("192.168.142.10:5000/labctl/ha", "latest")
        );
        assert_eq!(
            split_tag("192.168.142.10:5000/labctl/ha"),
            ("192.168.142.10:5000/labctl/ha", "latest")
        );
        assert_eq!(split_tag("labctl/webapp:v2"), ("labctl/webapp", "v2"));
    }

    #[test]
    fn the_pinned_reference_is_the_registry_s_own() {
        let digests = vec![
            "127.0.0.1:5000/labctl/ha@sha256:aa".to_string(),
            "192.168.142.10:5000/labctl/ha@sha256:aa".to_string(),
        ];
        assert_eq!(
            pinned("192.168.142.10:5000/labctl/ha", &digests).as_deref(),
            Some("192.168.142.10:5000/labctl/ha@sha256:aa")
        );
        assert_eq!(pinned("10.0.0.1:5000/labctl/ha", &digests), None);
    }
}
