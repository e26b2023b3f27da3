//! A scenario's lab on one engine: containers with fixed names and
//! addresses, every step possible.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use async_trait::async_trait;
use ipnet::Ipv4Net;

use super::subject::{Listing, Subject};
use crate::lab::{Lab, Publish, UpRequest};
use crate::labels;
use crate::naming::HA;
use crate::output::Progress;
use crate::runtime::ExecOutput;
use crate::scenario::Step;
use crate::screenshot::Screenshots;
use crate::snapshot::docker_ps;
use crate::stage::Stage;

/// How long `stop` lets a node leave before it is killed.
const STOP_GRACE_S: i32 = 10;

/// The node a container of the lab runs (its container name if unlabelled).
fn node_of(c: &crate::runtime::ContainerInfo) -> &str {
    c.label(labels::NODE).unwrap_or(&c.name)
}

/// A lab on one engine, where a scenario puts it.
pub struct OnEngine<'a> {
    /// The lab.
    pub lab: &'a Lab,
    /// Its subnet (`None`: the lab's own, or a free one).
    pub subnet: Option<Ipv4Net>,
    /// Where `ha`'s ports are published.
    pub publish: Publish,
    /// The architecture the nodes run under emulation, if not the engine's.
    pub foreign: Option<crate::platform::Arch>,
}

impl std::ops::Deref for OnEngine<'_> {
    type Target = Lab;

    fn deref(&self) -> &Lab {
        self.lab
    }
}

#[async_trait(?Send)]
impl Subject for OnEngine<'_> {
    fn lab_name(&self) -> &str {
        self.names().lab()
    }

    fn refuses(&self, _stage: Stage, _step: &Step) -> Option<String> {
        None
    }

    async fn hold(&self, progress: &Progress) -> Result<Box<dyn Send>> {
        Ok(Box::new(self.lock(progress).await?))
    }

    async fn remove(&self, progress: &Progress) -> Result<()> {
        self.down(progress).await.map(|_| ())
    }

    async fn start(
        &self,
        webapps: u32,
        stage: Stage,
        wait: Duration,
        progress: &Progress,
    ) -> Result<()> {
        let request = UpRequest {
            subnet: self.subnet,
            publish: self.publish.clone(),
            webapps: Some(webapps),
            stage,
            foreign: self.foreign,
        };
        self.up_and_wait(&request, Some(wait), progress)
            .await
            .map(|_| ())
    }

    async fn scale(&self, webapps: u32, wait: Duration, progress: &Progress) -> Result<()> {
        self.scale_to(webapps, wait, progress).await.map(|_| ())
    }

    async fn start_node(&self, node: &str, progress: &Progress) -> Result<()> {
        self.lab.start_node(node, progress).await
    }

    async fn stop_node(&self, node: &str, progress: &Progress) -> Result<()> {
        self.lab.stop_node(node, STOP_GRACE_S, progress).await
    }

    async fn kill_node(&self, node: &str, progress: &Progress) -> Result<()> {
        self.lab.kill_node(node, "SIGKILL", progress).await
    }

    async fn wait_converged(&self, wait: Duration, progress: &Progress) -> Result<()> {
        let expected = self.running_webapps().await?;
        self.wait_for(&expected, wait, progress).await.map(|_| ())
    }

    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput> {
        // The lab is looked at only when the engine refused: a node that is
        // not the lab's gets that said, not the engine's words.
        match self.lab.exec(node, cmd).await {
            Ok(out) => Ok(out),
            Err(e) => {
                self.node(node).await?;
                Err(e)
            }
        }
    }

    async fn ha_address(&self, container_port: u16) -> Result<SocketAddr> {
        let port = self.ha_port(container_port).await?;
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    async fn stats_auth(&self) -> Result<Option<String>> {
        self.lab.stats_auth().await
    }

    async fn ha_running(&self) -> Result<bool> {
        Ok(self
            .containers()
            .await?
            .iter()
            .any(|c| c.label(labels::NODE) == Some(HA) && c.state.is_running()))
    }

    async fn listing(&self, all: bool) -> Result<Listing> {
        let containers: Vec<_> = self
            .containers()
            .await?
            .into_iter()
            .filter(|c| all || c.state.is_running())
            .collect();
        let (file, what) = if all {
            ("docker-ps-a.txt", "`docker ps -a` of the lab")
        } else {
            ("docker-ps.txt", "`docker ps` of the lab")
        };
        Ok(Listing {
            file: file.into(),
            what: what.into(),
            text: docker_ps(&containers, SystemTime::now()),
        })
    }

    async fn inspect_all(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for c in self.containers().await? {
            out.push((c.name.clone(), self.inspect_raw(node_of(&c)).await?));
        }
        Ok(out)
    }

    async fn logs_all(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for c in self.containers().await? {
            out.push((c.name.clone(), self.logs(node_of(&c), "all").await?));
        }
        Ok(out)
    }

    async fn screenshot(
        &self,
        shots: &Screenshots<'_>,
        html: &Path,
        png: &Path,
    ) -> Result<Result<(), String>> {
        shots.take(self.lab, html, png).await
    }
}
