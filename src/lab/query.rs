//! What a lab's nodes report: HAProxy's state, Serf's members and `/nodes`
//! read inside `ha`, and a node's output, description and commands.

use std::collections::HashMap;

use anyhow::{Context, Result};

use super::Lab;
use crate::contract::{Backends, Role};
use crate::naming::HA;
use crate::node::membership::Member;
use crate::runtime::{ExecOutput, LogsRequest};

impl Lab {
    /// Runs a command in a node of the lab.
    pub async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput> {
        self.runtime.exec(&self.names().container(node), cmd).await
    }

    /// A node's output, as much as `req` asks.
    pub async fn logs(&self, node: &str, req: &LogsRequest) -> Result<String> {
        self.runtime.logs(&self.names().container(node), req).await
    }

    /// Runs a command in a node as `docker exec` does (stdin forwarded,
    /// output streamed, a TTY when `tty`); returns its exit code.
    pub async fn exec_attached(&self, node: &str, cmd: &[&str], tty: bool) -> Result<i64> {
        self.runtime
            .exec_attached(&self.names().container(node), cmd, tty)
            .await
    }

    /// Passes a node's output to `sink` as it comes (see
    /// [`crate::runtime::Runtime::stream_logs`]).
    pub async fn stream_logs(
        &self,
        node: &str,
        req: &LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        self.runtime
            .stream_logs(&self.names().container(node), req, sink)
            .await
    }

    /// The engine's description of a node's container, as JSON.
    pub async fn inspect(&self, node: &str) -> Result<serde_json::Value> {
        let raw = self.inspect_raw(node).await?;
        serde_json::from_slice(&raw).context("reading the engine's description of a container")
    }

    /// The engine's description of a node's container, the bytes as the
    /// engine wrote them.
    pub async fn inspect_raw(&self, node: &str) -> Result<Vec<u8>> {
        self.runtime
            .inspect_container(&self.names().container(node))
            .await
    }

    /// HAProxy's view of the backends, read inside `ha`.
    pub async fn backends(&self) -> Result<Backends> {
        in_ha::backends(self.exec(HA, in_ha::BACKENDS).await?)
    }

    /// Serf's member list, as `ha`'s agent sees it.
    pub async fn members(&self) -> Result<Vec<Member>> {
        in_ha::members(self.exec(HA, in_ha::MEMBERS).await?)
    }

    /// The names in `/nodes` on `ha`.
    pub async fn registry(&self) -> Result<Vec<String>> {
        in_ha::registry(self.exec(HA, in_ha::REGISTRY).await?)
    }

    /// `ha`'s stats credentials (`user:password`), if its page has any.
    pub async fn stats_auth(&self) -> Result<Option<String>> {
        let doc = self.inspect(HA).await?;
        let prefix = format!("{}=", crate::contract::STATS_AUTH);
        Ok(doc["Config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e.as_str()?.strip_prefix(&prefix))
            .map(String::from)
            .next())
    }

    /// The host port `ha` publishes a container port on.
    pub async fn ha_port(&self, container_port: u16) -> Result<u16> {
        self.observe()
            .await?
            .node(HA)?
            .host_port(container_port)
            .with_context(|| format!("`ha` publishes no port {container_port}"))
    }

    /// The lab's containers that run an older image than the current one.
    pub async fn outdated(&self) -> Result<Vec<String>> {
        let mut current = HashMap::new();
        for role in Role::ALL {
            current.insert(
                role.image().to_string(),
                self.runtime.image_id(role.image()).await?,
            );
        }
        Ok(self
            .observe()
            .await?
            .containers()
            .iter()
            .filter(|c| current.get(&c.image).is_some_and(|id| *id != c.image_id))
            .map(|c| c.name.clone())
            .collect())
    }
}

/// The commands run in `ha` that tell the lab's membership, and how their
/// output reads: the same on every engine.
pub mod in_ha {
    use anyhow::{Context, Result};

    use crate::contract::Backends;
    use crate::node::membership::{natural_key, parse_members, Member};
    use crate::runtime::ExecOutput;

    /// HAProxy's state, as JSON.
    pub const BACKENDS: &[&str] = &["labctl", "node", "backends"];
    /// Serf's members, as JSON.
    pub const MEMBERS: &[&str] = &["serf", "members", "-format", "json"];
    /// The names in `/nodes`.
    pub const REGISTRY: &[&str] = &["ls", "/nodes"];

    /// Reads [`BACKENDS`]' output.
    pub fn backends(out: ExecOutput) -> Result<Backends> {
        let out = out.success("reading HAProxy's state in `ha`")?;
        serde_json::from_str(out.stdout.trim()).context("reading HAProxy's state from `ha`")
    }

    /// Reads [`MEMBERS`]' output.
    pub fn members(out: ExecOutput) -> Result<Vec<Member>> {
        parse_members(&out.success("reading Serf's members in `ha`")?.stdout)
    }

    /// Reads [`REGISTRY`]' output, in the nodes' order.
    pub fn registry(out: ExecOutput) -> Result<Vec<String>> {
        let out = out.success("listing /nodes in `ha`")?;
        let mut names: Vec<String> = out.stdout.split_whitespace().map(String::from).collect();
        names.sort_by_key(|n| natural_key(n));
        Ok(names)
    }
}
