//! A local cluster's names, addresses and containers: pure functions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{bail, Result};
use ipnet::Ipv4Net;

use crate::contract::Role;
use crate::labels;
use crate::naming::{HTTP_PORT, STATS_PORT};
use crate::runtime::{ContainerInfo, ContainerSpec};

/// The default cluster's name.
pub(crate) const DEFAULT_CLUSTER: &str = "swarm";
/// The default subnet of the cluster's own network (the hosts' network,
/// not the lab's overlay).
pub(crate) const DEFAULT_SUBNET: &str = "192.168.142.0/24";
/// The port a node's engine listens on, inside the cluster's network.
pub(crate) const ENGINE_PORT: u16 = 2375;
/// The most nodes a local cluster may have.
pub(crate) const MAX_NODES: u32 = 9;
/// Host offset of node 1 (node N is at offset 10 + N).
const NODE_OFFSET: u32 = 10;
/// Host offset of the cluster's registry (just before node 1).
const REGISTRY_OFFSET: u32 = 10;
/// The port the cluster's registry serves on, inside the cluster's network.
pub(crate) const REGISTRY_PORT: u16 = 5000;
/// Label: on the cluster's registry, where the nodes reach it (`ip:port`).
pub(crate) const CLUSTER_REGISTRY: &str = "io.labctl.cluster-registry";

/// Label: the local cluster a container or network belongs to.
pub(crate) const CLUSTER: &str = "io.labctl.cluster";
/// Label: a cluster container's node number (1 is the manager).
pub(crate) const CLUSTER_NODE: &str = "io.labctl.cluster-node";

/// What `cluster up` is asked for.
#[derive(Debug, Clone)]
pub(crate) struct ClusterRequest {
    /// The cluster's name.
    pub name: String,
    /// How many nodes (one manager, the rest workers).
    pub nodes: u32,
    /// The subnet of the nodes' network.
    pub subnet: Ipv4Net,
    /// The host address the manager's ports are published on.
    pub bind: IpAddr,
    /// Host port of the manager's engine.
    pub api_port: u16,
    /// Host port of the lab's port 80 (on the manager).
    pub http_port: u16,
    /// Host port of the lab's stats page (on the manager).
    pub stats_port: u16,
    /// Host port of the cluster's registry, when it has one.
    pub registry_port: Option<u16>,
}

impl ClusterRequest {
    /// Checks what the user gave.
    pub(crate) fn check(&self) -> Result<()> {
        check_name(&self.name)?;
        if !(1..=MAX_NODES).contains(&self.nodes) {
            bail!(
                "a local cluster has 1 to {MAX_NODES} nodes, not {}: pass --nodes N",
                self.nodes
            );
        }
        if self.subnet.prefix_len() > 28 {
            bail!(
                "subnet {} is too small for the cluster's nodes: give a /28 or larger with --subnet",
                self.subnet
            );
        }
        let mut ports = vec![self.api_port, self.http_port, self.stats_port];
        ports.extend(self.registry_port);
        let distinct: std::collections::HashSet<&u16> = ports.iter().collect();
        if ports.contains(&0) || distinct.len() != ports.len() {
            bail!(
                "--api-port, --http-port, --stats-port (and --registry-port) must be different \
                 ports, none 0 (got {})",
                ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        Ok(())
    }
}

/// Checks a cluster name: lowercase letters, digits and dashes, at most 24.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 24
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!(
            "invalid cluster name `{name}`: use 1 to 24 lowercase letters, digits or dashes \
             (e.g. `--name demo`)"
        );
    }
    Ok(())
}

/// The cluster's network: `labctl-<name>`.
pub(crate) fn network(name: &str) -> String {
    format!("labctl-{name}")
}

/// The container of node `n`: `labctl-<name>-<n>`.
pub(crate) fn container(name: &str, n: u32) -> String {
    format!("labctl-{name}-{n}")
}

/// The host name of node `n` (`node1` is the manager).
pub(crate) fn hostname(n: u32) -> String {
    format!("node{n}")
}

/// The address of node `n` on the cluster's network.
pub(crate) fn address(subnet: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + NODE_OFFSET + n)
}

/// Where the cluster's nodes reach its registry: `192.168.142.10:5000`.
pub(crate) fn registry_address(subnet: Ipv4Net) -> String {
    let ip = Ipv4Addr::from(u32::from(subnet.network()) + REGISTRY_OFFSET);
    format!("{ip}:{REGISTRY_PORT}")
}

/// The cluster's registry container, when it has one: on the cluster's
/// network, its port published on the host (where the host's engine pushes
/// to it: an engine trusts a plain-HTTP registry on its loopback).
pub(crate) fn registry_spec(req: &ClusterRequest) -> Option<ContainerSpec> {
    let port = req.registry_port?;
    let mut labels = cluster_labels(&req.name);
    labels.insert(labels::ROLE.to_string(), Role::Registry.word().to_string());
    labels.insert(CLUSTER_REGISTRY.to_string(), registry_address(req.subnet));
    Some(ContainerSpec {
        name: format!("labctl-{}-registry", req.name),
        hostname: "registry".into(),
        image: Role::Registry.image().to_string(),
        env: Vec::new(),
        labels,
        network: network(&req.name),
        ip: Ipv4Addr::from(u32::from(req.subnet.network()) + REGISTRY_OFFSET),
        aliases: vec!["registry".into()],
        publish: vec![(REGISTRY_PORT, req.bind.to_string(), port)],
        runs_engine: false,
    })
}

/// Whether a cluster container is its registry (not a node).
pub(crate) fn is_registry(c: &ContainerInfo) -> bool {
    c.label(CLUSTER_REGISTRY).is_some()
}

/// The gateway of the cluster's network (its first address).
pub(crate) fn gateway(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

/// The engine address of a node reached on the cluster's network.
pub(crate) fn engine_url(ip: Ipv4Addr) -> String {
    format!("tcp://{ip}:{ENGINE_PORT}")
}

/// The labels of the cluster's network and nodes.
pub(crate) fn cluster_labels(name: &str) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (CLUSTER.to_string(), name.to_string()),
        (labels::ROLE.to_string(), Role::Engine.word().to_string()),
    ])
}

/// The containers of the cluster's nodes: node 1 (the manager) publishes
/// its engine and the lab's two ports on the host.
pub(crate) fn node_specs(req: &ClusterRequest) -> Vec<ContainerSpec> {
    (1..=req.nodes)
        .map(|n| {
            let mut labels = cluster_labels(&req.name);
            labels.insert(CLUSTER_NODE.to_string(), n.to_string());
            let publish = if n == 1 {
                let bind = req.bind.to_string();
                vec![
                    (ENGINE_PORT, bind.clone(), req.api_port),
                    (HTTP_PORT, bind.clone(), req.http_port),
                    (STATS_PORT, bind, req.stats_port),
                ]
            } else {
                Vec::new()
            };
            ContainerSpec {
                name: container(&req.name, n),
                hostname: hostname(n),
                image: Role::Engine.image().to_string(),
                // The nodes pull from a plain-HTTP registry on their own
                // network (the cluster's, or one the user runs there).
                env: vec![format!("INSECURE_REGISTRY={}", req.subnet)],
                labels,
                network: network(&req.name),
                ip: address(req.subnet, n),
                aliases: vec![hostname(n)],
                publish,
                runs_engine: true,
            }
        })
        .collect()
}

/// The manager's engine as the host reaches it: `tcp://127.0.0.1:2375`.
pub(crate) fn manager_url(manager: &ContainerInfo) -> Option<String> {
    let port = manager.host_port(ENGINE_PORT)?;
    let ip = manager
        .ports
        .iter()
        .find(|p| p.container == ENGINE_PORT)
        .and_then(|p| p.host_ip.clone())
        .filter(|ip| ip != "0.0.0.0" && ip != "::")
        .unwrap_or_else(|| "127.0.0.1".to_string());
    Some(format!("tcp://{ip}:{port}"))
}

/// Where a container port is published on the host, `ip:port`.
fn published(c: &ContainerInfo, port: u16) -> Option<String> {
    let p = c.ports.iter().find(|p| p.container == port)?;
    Some(format!("{}:{}", p.host_ip.as_deref()?, p.host_port?))
}

/// A local cluster as the engine shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterSummary {
    /// Its name.
    pub name: String,
    /// Its nodes' containers: (node number, container, state).
    pub nodes: Vec<(u32, String, String)>,
    /// Where the manager's engine is reached from the host.
    pub manager: Option<String>,
    /// Where the lab's port 80 is published (`127.0.0.1:80`).
    pub web: Option<String>,
    /// Where the lab's stats page is published.
    pub stats: Option<String>,
    /// Where the nodes reach the cluster's registry, when it has one.
    pub registry: Option<String>,
    /// Where the host reaches it.
    pub registry_host: Option<String>,
}

/// The clusters among the containers that carry the cluster label.
pub(crate) fn summarize(containers: &[ContainerInfo]) -> Vec<ClusterSummary> {
    let mut clusters: std::collections::BTreeMap<String, ClusterSummary> = Default::default();
    for c in containers {
        let Some(name) = c.label(CLUSTER) else {
            continue;
        };
        let n: u32 = c
            .label(CLUSTER_NODE)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let entry = clusters
            .entry(name.to_string())
            .or_insert_with(|| ClusterSummary {
                name: name.to_string(),
                nodes: Vec::new(),
                manager: None,
                web: None,
                stats: None,
                registry: None,
                registry_host: None,
            });
        if let Some(addr) = c.label(CLUSTER_REGISTRY) {
            entry.registry = Some(addr.to_string());
            entry.registry_host = published(c, REGISTRY_PORT);
            continue;
        }
        entry
            .nodes
            .push((n, c.name.clone(), c.state.as_str().to_string()));
        if n == 1 {
            entry.manager = manager_url(c);
            entry.web = published(c, HTTP_PORT);
            entry.stats = published(c, STATS_PORT);
        }
    }
    let mut out: Vec<_> = clusters.into_values().collect();
    for c in &mut out {
        c.nodes.sort();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(nodes: u32) -> ClusterRequest {
        ClusterRequest {
            name: "swarm".into(),
            nodes,
            subnet: DEFAULT_SUBNET.parse().unwrap(),
            bind: "127.0.0.1".parse().unwrap(),
            api_port: 2375,
            http_port: 8080,
            stats_port: 1936,
            registry_port: None,
        }
    }

    #[test]
    fn only_the_manager_publishes_ports() {
        let specs = node_specs(&request(3));
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["labctl-swarm-1", "labctl-swarm-2", "labctl-swarm-3"]
        );
        assert_eq!(specs[0].ip.to_string(), "192.168.142.11");
        assert_eq!(specs[2].ip.to_string(), "192.168.142.13");
        assert_eq!(specs[0].publish.len(), 3);
        assert!(specs[0].publish.contains(&(80, "127.0.0.1".into(), 8080)));
        assert!(specs[1].publish.is_empty());
        assert!(specs.iter().all(|s| s.runs_engine));
        assert_eq!(specs[1].labels[CLUSTER_NODE], "2");
        assert_eq!(specs[1].labels[CLUSTER], "swarm");
    }

    #[test]
    fn bad_requests_say_what_to_change() {
        assert!(request(3).check().is_ok());
        assert!(request(0)
            .check()
            .unwrap_err()
            .to_string()
            .contains("--nodes"));
        assert!(request(10).check().is_err());
        let mut same = request(2);
        same.http_port = 2375;
        assert!(same
            .check()
            .unwrap_err()
            .to_string()
            .contains("must be different"));
        let mut taken = request(2);
        taken.registry_port = Some(1936);
        assert!(taken.check().is_err());
        let mut small = request(2);
        small.subnet = "10.1.2.0/29".parse().unwrap();
        assert!(small.check().unwrap_err().to_string().contains("--subnet"));
        assert!(check_name("Bad_Name").is_err());
    }

    #[test]
    fn a_registry_sits_before_node1_and_the_nodes_trust_their_network() {
        assert!(registry_spec(&request(2)).is_none());
        let mut req = request(2);
        req.registry_port = Some(5000);
        let spec = registry_spec(&req).unwrap();
        assert_eq!(spec.ip.to_string(), "192.168.142.10");
        assert_eq!(spec.labels[CLUSTER_REGISTRY], "192.168.142.10:5000");
        assert_eq!(spec.labels[labels::ROLE], "registry");
        assert_eq!(spec.publish, [(5000, "127.0.0.1".to_string(), 5000)]);
        assert!(!spec.runs_engine);
        let nodes = node_specs(&req);
        assert!(nodes.iter().all(|n| n.ip != spec.ip));
        assert_eq!(nodes[0].env, ["INSECURE_REGISTRY=192.168.142.0/24"]);
    }
}
