//! What a scenario needs of the lab it runs on, beyond the verbs every lab
//! answers ([`LabService`]): one shape for a lab of containers on one engine
//! ([`crate::lab::Lab`]) and a lab of services on a Swarm
//! ([`crate::swarm::SwarmLab`]). The steps, expectations and snapshots are
//! written once against it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;

use crate::contract::Backends;
use crate::lab::in_ha;
use crate::naming::HA;
use crate::node::get::{self, Answer};
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

    /// GETs `path` of `ha`'s port `port`, `count` times, from inside
    /// `ha`: the lab is reached through the engine (its `exec`), wherever
    /// the engine runs. Each request is made once, never retried.
    async fn get_in_ha(
        &self,
        port: u16,
        path: &str,
        auth: Option<&str>,
        count: u32,
    ) -> Result<Vec<Answer>> {
        let cmd = get::command(port, path, auth, count);
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let out = self
            .exec(HA, &cmd)
            .await?
            .success("`labctl node get` in `ha`")?;
        get::parse(&out.stdout)
    }

    /// The stats page as HAProxy serves it on `ha`'s stats port.
    async fn stats_page(&self) -> Result<String> {
        let auth = self.stats_auth().await?;
        let answer = self
            .get_in_ha(crate::naming::STATS_PORT, "/", auth.as_deref(), 1)
            .await
            .context("fetching the stats page")?
            .into_iter()
            .next()
            .context("fetching the stats page: no answer")?;
        if let Some(e) = answer.error {
            anyhow::bail!("fetching the stats page from inside `ha`: {e}");
        }
        anyhow::ensure!(
            answer.status == 200,
            "the stats page answered {}: {}",
            answer.status,
            answer.body.trim()
        );
        Ok(answer.body)
    }
}
