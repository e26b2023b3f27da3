//! What a scenario needs of the lab it runs on, beyond the verbs every lab
//! answers ([`LabService`]): one shape for a lab of containers on one engine
//! ([`crate::lab::Lab`]) and a lab of services on a Swarm
//! ([`crate::swarm::SwarmLab`]). The steps, expectations and snapshots are
//! written once against it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;

use crate::contract::Backends;
use crate::lab::in_ha;
use crate::naming::HA;
use crate::node::membership::Member;
use crate::runtime::ExecOutput;
use crate::scenario::Step;
use crate::screenshot::Screenshots;
use crate::service::LabService;
use crate::stage::Stage;

/// A file of a snapshot: its name in the snapshot's folder, what it holds,
/// and its text.
pub struct Listing {
    /// File name (`docker-ps.txt`).
    pub file: String,
    /// What it holds, for INDEX.md.
    pub what: String,
    /// Its text.
    pub text: String,
}

/// A lab a scenario can run on: the verbs of every lab, and what only
/// scenarios need.
#[async_trait(?Send)]
pub trait Subject: LabService {
    /// Why `step` of a scenario at `stage` cannot run on this lab, if it
    /// cannot: every step is asked before anything is touched.
    fn refuses(&self, stage: Stage, step: &Step) -> Option<String>;

    /// Holds the lab for the whole run; released when the box is dropped.
    async fn hold(&self, progress: &crate::output::Progress) -> Result<Box<dyn Send>>;

    /// Removes the lab, whatever state it is in.
    async fn remove(&self, progress: &crate::output::Progress) -> Result<()> {
        self.down(progress).await.map(|_| ())
    }

    /// Waits until the lab serves the web apps that run.
    async fn wait_converged(
        &self,
        wait: Duration,
        progress: &crate::output::Progress,
    ) -> Result<()>;

    /// Runs a command in a node, which must be one of the lab's.
    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput>;

    /// Where `ha` answers `container_port` from this host.
    async fn ha_address(&self, container_port: u16) -> Result<SocketAddr>;

    /// `ha`'s stats credentials (`user:password`), if the page has any.
    async fn stats_auth(&self) -> Result<Option<String>>;

    /// Whether `ha` runs.
    async fn ha_running(&self) -> Result<bool>;

    /// The lab's nodes as the engine lists them (`all`: stopped ones too).
    async fn listing(&self, all: bool) -> Result<Listing>;

    /// The engine's description of each node's container: file name stem
    /// (the container's name) and the engine's bytes.
    async fn inspect_all(&self) -> Result<Vec<(String, Vec<u8>)>>;

    /// Each node's whole output: container name and text.
    async fn logs_all(&self) -> Result<Vec<(String, String)>>;

    /// A screenshot of the stats page `html` (saved from `ha`) into `png`;
    /// `Ok(Err(why))` when none can be taken here.
    async fn screenshot(
        &self,
        shots: &Screenshots<'_>,
        html: &Path,
        png: &Path,
    ) -> Result<Result<(), String>>;

    /// HAProxy's view of the backends, read inside `ha`.
    async fn backends(&self) -> Result<Backends> {
        in_ha::backends(self.exec(HA, in_ha::BACKENDS).await?)
    }

    /// Serf's member list, as `ha`'s agent sees it.
    async fn members(&self) -> Result<Vec<Member>> {
        in_ha::members(self.exec(HA, in_ha::MEMBERS).await?)
    }

    /// The names in `/nodes` on `ha`.
    async fn registry(&self) -> Result<Vec<String>> {
        in_ha::registry(self.exec(HA, in_ha::REGISTRY).await?)
    }

    /// The stats page as HAProxy serves it on `ha`'s stats port.
    async fn stats_page(&self) -> Result<String> {
        let addr = self.ha_address(crate::naming::STATS_PORT).await?;
        let auth = self.stats_auth().await?.map(|a| {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        });
        let headers: Vec<(&str, &str)> = auth
            .as_deref()
            .map(|a| vec![("Authorization", a)])
            .unwrap_or_default();
        let r = crate::http::request(addr, "GET", "/", &headers, "", Duration::from_secs(10))
            .await
            .context("fetching the stats page")?;
        anyhow::ensure!(
            r.status == 200,
            "the stats page answered {}: {}",
            r.status,
            r.body.trim()
        );
        Ok(r.body)
    }
}
