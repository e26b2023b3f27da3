//! The contract between labctl on the host and labctl inside the nodes: the
//! environment a node container is started with, and the role words its
//! Serf agent is tagged with. Both sides use these names and nothing else.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::stats::ServerState;

/// The node's name in the lab and in Serf (`ha`, `s1`, …).
pub(crate) const NODE_NAME: &str = "NODE_NAME";
/// A web app's own address on the lab's network.
pub(crate) const NODE_IP: &str = "NODE_IP";
/// The lab's name.
pub(crate) const LAB: &str = "LAB";
/// The tag a web app shows in its answers (its node name, as in the lab).
pub(crate) const TAG: &str = "TAG";
/// The lab stage (0 to 6) the node runs.
pub(crate) const STAGE: &str = "LABCTL_STAGE";
/// The lab's Serf encryption key (base64).
pub(crate) const SERF_ENCRYPT_KEY: &str = "SERF_ENCRYPT_KEY";
/// Addresses the Serf agent joins, space-separated.
pub(crate) const SERF_JOIN: &str = "SERF_JOIN";
/// `ha` up to stage 4: the servers HAProxy lists statically, `name=ip`
/// space-separated.
pub(crate) const STATIC_SERVERS: &str = "STATIC_SERVERS";
/// `ha`: `user:pass` the stats page asks for.
pub(crate) const STATS_AUTH: &str = "STATS_AUTH";
/// The lab's subnet, given to nodes that run as Swarm tasks: their Serf
/// agent advertises their address in it (a task has several networks).
pub(crate) const SUBNET: &str = "LAB_SUBNET";
/// `1` when the node runs as a Swarm task.
pub(crate) const SWARM: &str = "LABCTL_SWARM";
/// The node's role word, set by its image (`balancer` or `backend`).
pub(crate) const ROLE: &str = "ROLE";

/// The environment variables that hold secrets (redacted in snapshots).
pub(crate) const SECRETS: [&str; 2] = [SERF_ENCRYPT_KEY, STATS_AUTH];

/// What a node is in the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The load balancer.
    Ha,
    /// A web app node.
    Webapp,
    /// The lab's headless browser (screenshots), not a node of the lab.
    Browser,
    /// A node of a local Swarm cluster (a Docker Engine in a container),
    /// not a node of the lab.
    Engine,
    /// The image registry of a local Swarm cluster, not a node of the lab.
    Registry,
}

impl Role {
    /// The lab's two images.
    pub const ALL: [Role; 2] = [Role::Ha, Role::Webapp];

    /// The template directory and image short name.
    pub fn dir(self) -> &'static str {
        match self {
            Role::Ha => "ha",
            Role::Webapp => "webapp",
            Role::Browser => "browser",
            Role::Engine => "engine",
            Role::Registry => "registry",
        }
    }

    /// The image's name.
    pub fn image(self) -> &'static str {
        match self {
            Role::Ha => "labctl/ha:latest",
            Role::Webapp => "labctl/webapp:latest",
            Role::Browser => "labctl/browser:latest",
            Role::Engine => "labctl/engine:latest",
            Role::Registry => "labctl/registry:latest",
        }
    }

    /// The word for it in Serf tags, container labels and `ROLE`.
    pub fn word(self) -> &'static str {
        match self {
            Role::Ha => BALANCER,
            Role::Webapp => BACKEND,
            Role::Browser => "browser",
            Role::Engine => "engine",
            Role::Registry => "registry",
        }
    }
}

/// Role word of `ha`.
pub(crate) const BALANCER: &str = "balancer";
/// Role word of a web app.
pub(crate) const BACKEND: &str = "backend";

/// The environment of a node container, as the host starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeEnv {
    /// The node's name.
    pub node: String,
    /// The lab's name.
    pub lab: String,
    /// The stage it runs.
    pub stage: u8,
    /// The lab's Serf key.
    pub serf_key: Option<String>,
    /// A web app's own address.
    pub node_ip: Option<Ipv4Addr>,
    /// Addresses to join.
    pub serf_join: Vec<String>,
    /// `ha`'s static servers (name, address).
    pub static_servers: Vec<(String, Ipv4Addr)>,
    /// `ha`'s stats page credentials.
    pub stats_auth: Option<String>,
}

impl NodeEnv {
    /// As `KEY=value` lines, in a fixed order.
    pub(crate) fn to_env(&self) -> Vec<String> {
        let mut env = vec![
            format!("{NODE_NAME}={}", self.node),
            format!("{LAB}={}", self.lab),
            format!("{STAGE}={}", self.stage),
        ];
        if let Some(key) = &self.serf_key {
            env.push(format!("{SERF_ENCRYPT_KEY}={key}"));
        }
        if let Some(ip) = self.node_ip {
            env.push(format!("{NODE_IP}={ip}"));
        }
        if !self.serf_join.is_empty() {
            env.push(format!("{SERF_JOIN}={}", self.serf_join.join(" ")));
        }
        if self.node_ip.is_some() {
            // The lab's compose file tags each web app with its own name.
            env.push(format!("{TAG}={}", self.node));
        } else {
            let statics: Vec<String> = self
                .static_servers
                .iter()
                .map(|(name, ip)| format!("{name}={ip}"))
                .collect();
            env.push(format!("{STATIC_SERVERS}={}", statics.join(" ")));
        }
        if let Some(auth) = &self.stats_auth {
            env.push(format!("{STATS_AUTH}={auth}"));
        }
        env
    }
}

/// What `labctl node backends` prints in `ha`, and the host reads: HAProxy's
/// state and what the node side knows of it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    pub processes: Option<Processes>,
}

/// HAProxy's processes, from its master CLI (`show proc`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processes {
    /// How many times the master reloaded (started a new worker).
    pub reloads: u64,
    /// The current workers' process ids.
    pub workers: Vec<u32>,
    /// Workers of earlier reloads still finishing their connections.
    pub old_workers: Vec<u32>,
}

/// A server as HAProxy's configuration file names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigServer {
    /// The node name.
    pub name: String,
    /// `ip:port`.
    pub addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ha_gets_its_static_servers_and_credentials() {
        let env = NodeEnv {
            node: "ha".into(),
            lab: "heig".into(),
            stage: 4,
            serf_key: None,
            node_ip: None,
            serf_join: vec!["192.168.42.11".into(), "192.168.42.22".into()],
            static_servers: vec![
                ("s1".into(), "192.168.42.11".parse().unwrap()),
                ("s2".into(), "192.168.42.22".parse().unwrap()),
            ],
            stats_auth: Some("admin:pw".into()),
        };
        assert_eq!(
            env.to_env(),
            [
                "NODE_NAME=ha",
                "LAB=heig",
                "LABCTL_STAGE=4",
                "SERF_JOIN=192.168.42.11 192.168.42.22",
                "STATIC_SERVERS=s1=192.168.42.11 s2=192.168.42.22",
                "STATS_AUTH=admin:pw",
            ]
        );
    }

    #[test]
    fn role_words_are_the_serf_tags() {
        assert_eq!(Role::Ha.word(), "balancer");
        assert_eq!(Role::Webapp.word(), "backend");
    }
}
