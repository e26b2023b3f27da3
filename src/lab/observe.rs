//! One look at a lab: its network and containers, from one listing of each.
//! Every decision about the lab is then made from this value.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

use anyhow::{bail, Context, Result};

use crate::labels;
use crate::naming::{self, Addressing, LabNames, HA};
use crate::runtime::{ContainerInfo, NetworkInfo};
use crate::stage::{self, Stage};

/// What the engine holds of one lab, and the names around it.
#[derive(Debug, Clone)]
pub struct Observation {
    names: LabNames,
    /// The network named as the lab's, whoever created it.
    network: Option<NetworkInfo>,
    /// Every network of the engine (to pick a free subnet).
    pub networks: Vec<NetworkInfo>,
    /// The lab's containers, `ha` first, then web apps by number.
    ours: Vec<ContainerInfo>,
    /// Names of containers that are not the lab's (to refuse them).
    foreign: HashSet<String>,
}

impl Observation {
    /// Sorts what the engine listed into the lab's and the rest.
    pub fn new(
        names: &LabNames,
        networks: Vec<NetworkInfo>,
        containers: Vec<ContainerInfo>,
    ) -> Self {
        let network = networks.iter().find(|n| n.name == names.network()).cloned();
        let (mut ours, theirs): (Vec<_>, Vec<_>) = containers
            .into_iter()
            .partition(|c| c.label(labels::LAB) == Some(names.lab()));
        ours.sort_by_key(|c| node_order(c.label(labels::NODE).unwrap_or("")));
        Self {
            names: names.clone(),
            network,
            networks,
            ours,
            foreign: theirs.into_iter().map(|c| c.name).collect(),
        }
    }

    /// The lab's names.
    pub fn names(&self) -> &LabNames {
        &self.names
    }

    /// The lab's containers, `ha` first, then web apps by number.
    pub fn containers(&self) -> &[ContainerInfo] {
        &self.ours
    }

    /// The lab's network, if it exists and is the lab's; an error if a
    /// network of that name is someone else's.
    pub fn own_network(&self) -> Result<Option<&NetworkInfo>> {
        match &self.network {
            None => Ok(None),
            Some(n) if n.labels.get(labels::LAB).map(String::as_str) == Some(self.names.lab()) => {
                Ok(Some(n))
            }
            Some(n) => bail!(
                "a network named `{0}` exists that labctl did not create; remove it \
                 (`docker network rm {0}`) or run another lab with `--lab NAME`",
                n.name
            ),
        }
    }

    /// The lab's network, which must exist.
    pub fn require_network(&self) -> Result<&NetworkInfo> {
        self.own_network()?.with_context(|| self.not_up())
    }

    fn not_up(&self) -> String {
        format!(
            "lab `{}` is not up; start it with `labctl up`",
            self.names.lab()
        )
    }

    /// The container of `node`, if the lab has one.
    pub fn find(&self, node: &str) -> Option<&ContainerInfo> {
        self.ours
            .iter()
            .find(|c| c.label(labels::NODE) == Some(node))
    }

    /// The container of `node`, which must be one of the lab's.
    pub fn node(&self, node: &str) -> Result<&ContainerInfo> {
        if let Some(c) = self.find(node) {
            return Ok(c);
        }
        let known: Vec<&str> = self
            .ours
            .iter()
            .filter_map(|c| c.label(labels::NODE))
            .collect();
        if known.is_empty() {
            bail!(self.not_up());
        }
        bail!(
            "no node `{node}` in lab `{}`; its nodes are: {}",
            self.names.lab(),
            known.join(", ")
        )
    }

    /// The lab's web apps by number.
    pub fn webapps(&self) -> BTreeMap<u32, &ContainerInfo> {
        self.ours
            .iter()
            .filter_map(|c| Some((naming::webapp_number(c.label(labels::NODE)?)?, c)))
            .collect()
    }

    /// The stage the lab runs, from `ha`'s label; `None` without `ha`.
    pub fn stage(&self) -> Result<Option<Stage>> {
        let Some(ha) = self.find(HA) else {
            return Ok(None);
        };
        match ha.label(labels::STAGE) {
            Some(n) => Ok(Some(Stage::new(n.parse().context("stage label")?)?)),
            None => Ok(Some(stage::FINAL)),
        }
    }

    /// The architecture the lab's nodes run under emulation, if they do (as
    /// `ha`'s label says).
    pub fn foreign_arch(&self) -> Option<crate::platform::Arch> {
        let platform = self.find(HA)?.label(labels::PLATFORM)?;
        crate::platform::Platform::parse(platform)
            .ok()
            .map(|p| p.arch)
    }

    /// The stage the lab runs; the lab must have `ha`.
    pub fn require_stage(&self) -> Result<Stage> {
        self.node(HA)?;
        Ok(self.stage()?.unwrap_or(stage::FINAL))
    }

    /// Refuses node names whose container name belongs to a container that
    /// is not the lab's.
    pub fn check_names_free(&self, nodes: &[String]) -> Result<()> {
        for node in nodes {
            let name = self.names.container(node);
            if self.foreign.contains(&name) {
                bail!(
                    "a container named `{name}` exists that is not part of lab `{}`; \
                     labctl leaves it alone: remove or rename it (`docker rm -f {name}`), \
                     or run the lab under another name with `--lab NAME`",
                    self.names.lab()
                );
            }
        }
        Ok(())
    }

    /// The addresses the lab's containers hold on its network.
    pub fn used_addresses(&self, network: &str) -> HashSet<Ipv4Addr> {
        self.ours
            .iter()
            .filter_map(|c| c.addresses.get(network).copied())
            .collect()
    }
}

/// The addressing of a network's first IPv4 subnet.
pub(super) fn addressing(network: &NetworkInfo) -> Result<Addressing> {
    let subnet = network
        .subnets
        .first()
        .with_context(|| format!("network `{}` has no IPv4 subnet", network.name))?;
    Addressing::new(*subnet)
}

/// `ha` first, then web apps by number, then anything else.
pub fn node_order(node: &str) -> (u32, u32) {
    match naming::webapp_number(node) {
        Some(n) => (1, n),
        None => (if node == HA { 0 } else { 2 }, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_sort_ha_first_then_by_number() {
        let mut nodes = vec!["s10", "s2", "ha", "s1"];
        nodes.sort_by_key(|n| node_order(n));
        assert_eq!(nodes, ["ha", "s1", "s2", "s10"]);
    }
}
