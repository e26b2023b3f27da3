//! The values that cross the runtime seam.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use ipnet::Ipv4Net;

/// A network as labctl needs to know it.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    /// The network's name.
    pub name: String,
    /// Its labels (labctl's own say which lab it belongs to).
    pub labels: HashMap<String, String>,
    /// Its IPv4 subnets.
    pub subnets: Vec<Ipv4Net>,
}

/// Where a container is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Its main process runs.
    Running,
    /// Paused.
    Paused,
    /// Being restarted by the engine.
    Restarting,
    /// Its main process ended.
    Exited,
    /// Being removed.
    Removing,
    /// Dead (the engine failed to remove it).
    Dead,
    /// A state the engine named that labctl does not know.
    Other(String),
}

impl ContainerState {
    /// From the engine's word for it.
    pub fn parse(word: &str) -> Self {
        match word {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            // Podman's words for a container that ended, and for one
            // made but not yet started.
            "exited" | "stopped" => Self::Exited,
            "configured" | "initialized" => Self::Created,
            "removing" => Self::Removing,
            "dead" => Self::Dead,
            other => Self::Other(other.to_string()),
        }
    }

    /// The engine's word for it, as `docker ps` shows it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Exited => "exited",
            Self::Removing => "removing",
            Self::Dead => "dead",
            Self::Other(word) => word,
        }
    }

    /// Whether its main process runs.
    pub fn is_running(&self) -> bool {
        *self == Self::Running
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container as labctl needs to know it.
#[derive(Debug, Clone)]
pub struct ContainerInfo {
    /// The container's id.
    pub id: String,
    /// The container's name, without Docker's leading slash.
    pub name: String,
    /// The image it runs.
    pub image: String,
    /// The id of that image.
    pub image_id: String,
    /// Its labels.
    pub labels: HashMap<String, String>,
    /// Where it is in its life.
    pub state: ContainerState,
    /// The engine's human status, e.g. `Up 3 minutes`.
    pub status: String,
    /// The command it runs, as `docker ps` shows it.
    pub command: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Its IPv4 address on each network it is attached to.
    pub addresses: HashMap<String, Ipv4Addr>,
    /// Published ports.
    pub ports: Vec<PublishedPort>,
}

impl ContainerInfo {
    /// The host port a container port is published on, if it is.
    pub fn host_port(&self, container_port: u16) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.container == container_port)
            .and_then(|p| p.host_port)
    }

    /// The value of one of its labels.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }
}

/// A container port and where it is published on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedPort {
    /// The port inside the container.
    pub container: u16,
    /// The host address it is bound to, when published.
    pub host_ip: Option<String>,
    /// The host port, when published.
    pub host_port: Option<u16>,
}

/// What a new container should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    /// Container name.
    pub name: String,
    /// Hostname inside the container.
    pub hostname: String,
    /// Image to run.
    pub image: String,
    /// Environment, `KEY=value`.
    pub env: Vec<String>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// The network to attach to.
    pub network: String,
    /// The fixed address on that network.
    pub ip: Ipv4Addr,
    /// DNS aliases on that network.
    pub aliases: Vec<String>,
    /// Ports to publish: container port, host address, host port (0 lets the
    /// engine pick a free one).
    pub publish: Vec<(u16, String, u16)>,
    /// It runs a container engine of its own (a node of a local Swarm): the
    /// privileges that needs, and its own cgroup tree.
    pub runs_engine: bool,
}

/// What a command run inside a container printed and returned.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    /// Exit code.
    pub code: i64,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl ExecOutput {
    /// Fails with the command's stderr unless it exited with 0.
    pub fn success(self, what: &str) -> Result<Self> {
        if self.code == 0 {
            Ok(self)
        } else {
            let text = if self.stderr.trim().is_empty() {
                &self.stdout
            } else {
                &self.stderr
            };
            bail!("{what} exited with {}: {}", self.code, text.trim())
        }
    }
}

/// What the engine says of itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineInfo {
    /// Which engine it is: `Docker` or `Podman` (from the components its
    /// `/version` lists).
    pub product: String,
    /// The engine's version.
    pub version: String,
    /// The API version labctl and the engine agreed on.
    pub api_version: String,
    /// The engine host's operating system.
    pub os: String,
    /// Its kernel.
    pub kernel: String,
    /// Where it keeps images and containers.
    pub root_dir: String,
    /// This engine's Swarm state: `inactive`, `active`, …
    pub swarm: String,
    /// The architecture of the engine's machine, as the engine words it
    /// (`amd64`, `x86_64`, `arm64`, `aarch64`: see [`crate::platform::Arch`]).
    pub arch: String,
    /// The size of its kernel's neighbour table (see [`crate::neighbours`]),
    /// when the engine runs on this host and it can be read.
    pub neighbour_limit: Option<u64>,
}

/// A request the engine refused for a reason orchestration acts on. Carried
/// inside an `anyhow::Error`; find it with `downcast_ref::<Refusal>()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A network's subnet overlaps another network's.
    Overlaps(String),
    /// A host port to publish is in use.
    PortTaken(String),
    /// A container or network with that name exists.
    AlreadyExists(String),
    /// The engine keeps a network in use by endpoints of containers that
    /// are gone (it lets go of them when it restarts).
    NetworkKept(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Overlaps(msg)
            | Self::PortTaken(msg)
            | Self::AlreadyExists(msg)
            | Self::NetworkKept(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `err` is, or wraps, a refusal of the kind `is`.
pub fn refused(err: &anyhow::Error, is: fn(&Refusal) -> bool) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<Refusal>())
        .any(is)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn states_read_and_print_as_the_engine_words_them() {
        for word in [
            "created",
            "running",
            "paused",
            "restarting",
            "exited",
            "removing",
            "dead",
        ] {
            assert_eq!(ContainerState::parse(word).as_str(), word);
        }
        assert_eq!(
            ContainerState::parse("frozen"),
            ContainerState::Other("frozen".into())
        );
        assert!(ContainerState::parse("running").is_running());
        assert!(!ContainerState::parse("exited").is_running());
        assert_eq!(ContainerState::parse("stopped"), ContainerState::Exited);
        assert_eq!(ContainerState::parse("configured"), ContainerState::Created);
    }

    #[test]
    fn a_refusal_is_found_under_context() {
        let err = Err::<(), _>(anyhow::Error::new(Refusal::Overlaps("taken".into())))
            .context("creating network `x`")
            .unwrap_err();
        assert!(refused(&err, |r| matches!(r, Refusal::Overlaps(_))));
        assert!(!refused(&err, |r| matches!(r, Refusal::PortTaken(_))));
        assert_eq!(format!("{err:#}"), "creating network `x`: taken");
    }

    #[test]
    fn a_failed_command_says_what_it_printed() {
        let out = ExecOutput {
            code: 2,
            stdout: "out\n".into(),
            stderr: " \n".into(),
        };
        assert_eq!(
            out.success("reading x").unwrap_err().to_string(),
            "reading x exited with 2: out"
        );
    }
}

/// What a request for a container's output asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    /// Lines from the end (`None`: all of them).
    pub tail: Option<u32>,
    /// Each line prefixed with its time.
    pub timestamps: bool,
    /// Keep streaming as the node writes.
    pub follow: bool,
}

impl LogsRequest {
    /// The whole output as it is now.
    pub const ALL: Self = Self {
        tail: None,
        timestamps: false,
        follow: false,
    };

    /// The last `n` lines as they are now.
    pub fn last(n: u32) -> Self {
        Self {
            tail: Some(n),
            ..Self::ALL
        }
    }

    /// The engine's spelling of `tail` (`all` or a number).
    pub fn tail_arg(&self) -> String {
        self.tail
            .map_or_else(|| "all".to_string(), |n| n.to_string())
    }
}

/// What [`crate::runtime::Runtime::claim`] is asked for: a name on the
/// engine that one holder at a time has, whatever machine it runs on.
#[derive(Debug, Clone)]
pub struct ClaimSpec {
    /// The claim container's name (the engine gives a name to one
    /// container only).
    pub name: String,
    /// An image on the engine with `cat` in it.
    pub image: String,
    /// Its labels: labctl's own, and who holds it.
    pub labels: HashMap<String, String>,
}

/// What [`crate::runtime::Runtime::claim`] found.
pub enum Claimed {
    /// The claim is this process's while the value lives.
    Held(Claim),
    /// Another container has the name: as the engine lists it, or `None`
    /// when it went between the refusal and the look.
    Taken(Option<Box<ContainerInfo>>),
}

/// A claim held on the engine: a container that runs while the connection
/// kept here lasts, so that it ends with its holder however the holder
/// ends (the engine closes the container's input when the connection
/// drops, and removes the container when it stops).
pub struct Claim {
    id: String,
    connection: Option<Box<dyn std::any::Any + Send>>,
    remove: Option<futures_util::future::BoxFuture<'static, ()>>,
}

impl Claim {
    /// A claim on container `id`, held by `connection`, which `remove`
    /// removes at once.
    pub fn new(
        id: String,
        connection: Box<dyn std::any::Any + Send>,
        remove: futures_util::future::BoxFuture<'static, ()>,
    ) -> Self {
        Self {
            id,
            connection: Some(connection),
            remove: Some(remove),
        }
    }

    /// The claim container's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Lets go: the connection is closed now, and the returned future
    /// removes the container (without it, the engine does once the
    /// container has seen the end of its input).
    pub fn release(mut self) -> futures_util::future::BoxFuture<'static, ()> {
        self.connection = None;
        self.remove
            .take()
            .unwrap_or_else(|| Box::pin(std::future::ready(())))
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim").field("id", &self.id).finish()
    }
}
