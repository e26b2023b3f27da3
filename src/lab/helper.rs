//! A short-lived helper container on the lab's network (the lab's browser):
//! labelled as the lab's, so that `down` removes it should labctl stop
//! half-way, and removed as soon as its command has run.

use anyhow::{Context, Result};

use super::{observe, plan, Lab};
use crate::contract::Role;
use crate::runtime::{ContainerSpec, ExecOutput};

impl Lab {
    /// Starts a `role` container on the lab's network, runs `cmd` in it, and
    /// removes it, whatever happened.
    pub async fn run_helper(&self, role: Role, cmd: &[&str]) -> Result<ExecOutput> {
        let obs = self.observe().await?;
        let network = obs.require_network()?;
        let addressing = observe::addressing(network)?;
        let node = role.dir();
        let ip = addressing
            .spare(&obs.used_addresses(&network.name))
            .with_context(|| format!("no free address left on network `{}`", network.name))?;
        let stage = obs.require_stage()?;
        let foreign = obs.foreign_arch();
        let spec = ContainerSpec {
            name: self.names().container(node),
            hostname: node.to_string(),
            image: crate::images::image_name(role, foreign),
            env: Vec::new(),
            labels: plan::labels_for(self.names(), node, role, stage, foreign),
            network: network.name.clone(),
            ip,
            aliases: vec![node.to_string()],
            publish: Vec::new(),
            runs_engine: false,
        };
        // One left by an interrupted run would hold the name.
        self.runtime.remove_container(&spec.name).await?;
        self.create_and_start(&spec).await?;
        let result = self.runtime.exec(&spec.name, cmd).await;
        let removed = self.runtime.remove_container(&spec.name).await;
        let out = result?;
        removed?;
        Ok(out)
    }
}
