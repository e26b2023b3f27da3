//! One door for every kind of lab: the verbs a lab answers, whatever runs
//! it. A lab of containers on one engine ([`crate::lab::Lab`]) and a lab of
//! services on a Swarm ([`crate::swarm::SwarmLab`]) each implement
//! [`LabService`]; the kind is decided once ([`open`]), and every verb in
//! `cmd/` has one body written against the trait. A new kind of engine is
//! one more implementation.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use ipnet::Ipv4Net;

use crate::images::BuildOptions;
use crate::naming::LabNames;
use crate::output::Progress;
use crate::platform::Arch;
use crate::runner::Subject;
pub use crate::runtime::LogsRequest;
use crate::runtime::Runtime;
use crate::stage::Stage;
use crate::templates::Templates;

/// Where a lab runs: the kind of lab, not the engine it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LabKind {
    /// Containers on one Docker Engine.
    Docker,
    /// Services on a Docker Swarm (the engine labctl talks to manages it).
    Swarm,
}

/// Where and how a lab is placed when it starts: the same words for every
/// kind, each kind taking what applies to it.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The lab network's subnet (`None`: the lab's own, or a free one).
    pub subnet: Option<Ipv4Net>,
    /// The host address `ha`'s ports are published on.
    pub bind: IpAddr,
    /// Host port of HAProxy's port 80 (`None`: the lab's default).
    pub http_port: Option<u16>,
    /// Host port of the stats page (`None`: the lab's default).
    pub stats_port: Option<u16>,
    /// `user:password` of the stats page, if it asks for one.
    pub stats_auth: Option<String>,
    /// The registry a Swarm's nodes pull the images from.
    pub registry: Option<String>,
    /// The architecture the nodes run under emulation, when not the
    /// engine's own.
    pub foreign: Option<Arch>,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            subnet: None,
            bind: IpAddr::from([127, 0, 0, 1]),
            http_port: None,
            stats_port: None,
            stats_auth: None,
            registry: None,
            foreign: None,
        }
    }
}

/// What `up` is asked for.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Web apps (`None`: a lab that is up keeps its size, a new one has 2).
    pub webapps: Option<u32>,
    /// The stage the lab runs.
    pub stage: Stage,
    /// Where it runs.
    pub place: Placement,
    /// How long to wait until HAProxy serves every web app (`None`: not at
    /// all).
    pub wait: Option<Duration>,
}

/// What `up` prepares before it starts a lab: the images and the platform.
pub struct Prepare<'a> {
    /// How images are built.
    pub build: &'a BuildOptions,
    /// The templates in force.
    pub templates: &'a Templates,
    /// The lab is removed first (a scenario), so the platform of a lab that
    /// is up does not count.
    pub replaces_lab: bool,
}

/// A listing for the user: the same facts as a table and as JSON.
#[derive(Debug)]
pub struct View {
    /// The table, as printed.
    pub table: String,
    /// The JSON document.
    pub json: serde_json::Value,
}

/// Where a receiver of output bytes is handed them.
pub type Sink<'s> = &'s mut (dyn for<'l> FnMut(&'l [u8]) + Send);

/// The verbs every kind of lab answers. Changing verbs take the lab's lock
/// themselves (it is re-entrant: a scenario holding it still calls them).
#[async_trait(?Send)]
pub trait LabService {
    /// The lab's names.
    fn names(&self) -> &LabNames;

    /// The kind of lab this is.
    fn kind(&self) -> LabKind;

    /// The engine the lab's commands go to.
    fn runtime(&self) -> &Arc<dyn Runtime>;

    /// Makes ready what `up` needs (images, the platform): returns the
    /// architecture the nodes run under emulation, if not the engine's.
    async fn prepare(&self, what: &Prepare<'_>, progress: &Progress) -> Result<Option<Arch>>;

    /// Starts the lab (or brings a lab that is up to what is asked) and,
    /// unless `opts.wait` is `None`, waits until HAProxy serves every web
    /// app. Returns what to tell the user: where the lab answers.
    async fn up(&self, opts: &UpOptions, progress: &Progress) -> Result<Vec<String>>;

    /// Sets the number of web apps and, unless `wait` is `None`, waits until
    /// HAProxy serves exactly them.
    async fn scale(&self, webapps: u32, wait: Option<Duration>, progress: &Progress) -> Result<()>;

    /// Removes everything the lab made; returns what it removed.
    async fn down(&self, progress: &Progress) -> Result<Vec<String>>;

    /// The lab's nodes, as `docker ps` lists containers.
    async fn ps(&self) -> Result<View>;

    /// Per node, what the engine, Serf and HAProxy say of it.
    async fn status(&self) -> Result<View>;

    /// The nodes whose output `logs` shows when none is named.
    async fn log_nodes(&self) -> Result<Vec<String>>;

    /// Fails, saying which, unless every node in `nodes` is one of the lab's.
    async fn check_nodes(&self, nodes: &[String]) -> Result<()>;

    /// Passes a node's output to `sink` as it comes.
    async fn stream_logs(&self, node: &str, req: &LogsRequest, sink: Sink<'_>) -> Result<()>;

    /// Runs a command in a node as `docker exec` does; returns its exit code.
    async fn exec_attached(&self, node: &str, cmd: &[&str], tty: bool) -> Result<i64>;

    /// Starts a node (a stopped one again, or a new web app).
    async fn start_node(&self, node: &str, progress: &Progress) -> Result<()>;

    /// Stops a node, letting it leave for up to `grace`.
    async fn stop_node(&self, node: &str, grace: Duration, progress: &Progress) -> Result<()>;

    /// Restarts a node.
    async fn restart_node(&self, node: &str, grace: Duration, progress: &Progress) -> Result<()>;

    /// Sends `signal` to a node.
    async fn kill_node(&self, node: &str, signal: &str, progress: &Progress) -> Result<()>;

    /// Each node and its state as the engine says it (`running`, `exited`,
    /// …), for `events`.
    async fn node_states(&self) -> Result<Vec<(String, String)>>;
}

/// The lab `names` on `runtime`, of the kind it is: a lab that runs on the
/// engine's Swarm stays there; otherwise the kind `wanted` (a Swarm is
/// asked for by `--engine swarm`).
pub async fn open(
    runtime: Arc<dyn Runtime>,
    names: LabNames,
    wanted: LabKind,
) -> Result<Box<dyn Subject>> {
    if let Some(lab) = crate::swarm::SwarmLab::find(&runtime, &names).await? {
        return Ok(Box::new(lab));
    }
    Ok(match wanted {
        LabKind::Swarm => Box::new(crate::swarm::SwarmLab::new(runtime, names).await?),
        LabKind::Docker => Box::new(crate::lab::Lab::new(runtime, names)),
    })
}
