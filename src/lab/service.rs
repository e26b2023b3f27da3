//! The lab of containers on one engine behind the verbs every kind of lab
//! answers ([`LabService`]), and what scenarios need of it ([`Subject`]):
//! containers with fixed names and addresses, every step possible.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};
use async_trait::async_trait;

use super::{views, Lab, Publish, UpRequest};
use crate::labels;
use crate::naming::HA;
use crate::output::Progress;
use crate::platform::{Arch, Platform};
use crate::runner::snapshot::docker_ps;
use crate::runner::{Listing, Subject};
use crate::runtime::{ContainerInfo, ExecOutput, LogsRequest, Runtime};
use crate::scenario::Step;
use crate::screenshot::Screenshots;
use crate::service::{LabKind, LabService, Placement, Prepare, Sink, UpOptions, View};
use crate::stage::Stage;

/// The node a container of the lab runs (its container name if unlabelled).
fn node_of(c: &ContainerInfo) -> &str {
    c.label(labels::NODE).unwrap_or(&c.name)
}

/// A grace period in the engine's whole seconds.
fn whole_seconds(grace: Duration) -> i32 {
    i32::try_from(grace.as_secs()).unwrap_or(i32::MAX)
}

impl Placement {
    /// Where lab `names` publishes `ha`'s ports: the lab's own ports (80 and
    /// 1936) for the default lab, free ones picked by the engine for the
    /// others, unless given.
    pub fn publish(&self, names: &crate::naming::LabNames) -> Publish {
        Publish {
            stats_auth: self.stats_auth.clone(),
            ..Publish::defaults(names, self.bind, self.http_port, self.stats_port)
        }
    }
}

#[async_trait(?Send)]
impl LabService for Lab {
    fn names(&self) -> &crate::naming::LabNames {
        Lab::names(self)
    }

    fn kind(&self) -> LabKind {
        LabKind::Docker
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        Lab::runtime(self)
    }

    async fn prepare(&self, what: &Prepare<'_>, progress: &Progress) -> Result<Option<Arch>> {
        let mut build = what.build.clone();
        if !what.replaces_lab && build.platform.is_none() {
            // A lab that is up keeps its platform unless --platform names
            // one.
            build.platform = self.observe().await?.foreign_arch().map(Platform::linux);
        }
        let foreign = crate::images::foreign_arch(self.runtime().as_ref(), &build).await?;
        if !what.replaces_lab {
            // A lab that runs another platform is refused before anything
            // is built.
            self.check_platform(foreign).await?;
        }
        crate::images::ensure(
            self.runtime().as_ref(),
            what.templates,
            &build,
            false,
            progress,
        )
        .await?;
        Ok(foreign)
    }

    async fn up(&self, opts: &UpOptions, progress: &Progress) -> Result<Vec<String>> {
        let request = UpRequest {
            subnet: opts.place.subnet,
            publish: opts.place.publish(Lab::names(self)),
            webapps: opts.webapps,
            stage: opts.stage,
            foreign: opts.place.foreign,
        };
        self.up_and_wait(&request, opts.wait, progress).await?;
        let containers = self.containers().await?;
        let address = self.runtime().address().to_string();
        let at = crate::reach::EngineAt::of(&address);
        let (first, urls) = views::endpoints(Lab::names(self), &containers, &at);
        let mut said = vec![first];
        for (what, url) in urls {
            // A URL is printed as one that answers only once it does.
            let line = match url {
                Ok(url) if crate::reach::answers(&url).await => url,
                Ok(url) => crate::reach::no_answer(&url, &address),
                Err(why) => why,
            };
            said.push(format!("  {what}  {line}"));
        }
        let outdated = self.outdated().await?;
        if !outdated.is_empty() {
            crate::errln!(
                "note: {} run(s) an older image than the one just built; `labctl down` then \
                 `labctl up` starts them on the new one",
                outdated.join(", ")
            );
        }
        Ok(said)
    }

    async fn scale(&self, webapps: u32, wait: Option<Duration>, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        Lab::scale(self, webapps, progress).await?;
        self.converge(webapps, wait, progress).await.map(|_| ())
    }

    async fn down(&self, progress: &Progress) -> Result<Vec<String>> {
        Lab::down(self, progress).await
    }

    async fn ps(&self) -> Result<View> {
        self.ps_view().await
    }

    async fn status(&self) -> Result<View> {
        self.status_view().await
    }

    async fn log_nodes(&self) -> Result<Vec<String>> {
        Ok(self
            .containers()
            .await?
            .iter()
            .filter_map(|c| c.label(labels::NODE).map(String::from))
            .collect())
    }

    async fn check_nodes(&self, nodes: &[String]) -> Result<()> {
        let obs = self.observe().await?;
        for node in nodes {
            obs.node(node)?;
        }
        Ok(())
    }

    async fn stream_logs(&self, node: &str, req: &LogsRequest, sink: Sink<'_>) -> Result<()> {
        Lab::stream_logs(self, node, req, sink).await
    }

    async fn exec_attached(&self, node: &str, cmd: &[&str], tty: bool) -> Result<i64> {
        let c = self.node(node).await?;
        if !c.state.is_running() {
            bail!(
                "node `{node}` is {}, not running; `labctl start {node}` starts it again",
                c.state
            );
        }
        Lab::exec_attached(self, node, cmd, tty).await
    }

    async fn start_node(&self, node: &str, progress: &Progress) -> Result<()> {
        Lab::start_node(self, node, progress).await
    }

    async fn stop_node(&self, node: &str, grace: Duration, progress: &Progress) -> Result<()> {
        Lab::stop_node(self, node, whole_seconds(grace), progress).await
    }

    async fn restart_node(&self, node: &str, grace: Duration, progress: &Progress) -> Result<()> {
        Lab::restart_node(self, node, whole_seconds(grace), progress).await
    }

    async fn kill_node(&self, node: &str, signal: &str, progress: &Progress) -> Result<()> {
        Lab::kill_node(self, node, signal, progress).await
    }

    async fn node_states(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .containers()
            .await?
            .iter()
            .filter_map(|c| Some((c.label(labels::NODE)?.to_string(), c.state.to_string())))
            .collect())
    }
}

#[async_trait(?Send)]
impl Subject for Lab {
    fn refuses(&self, _stage: Stage, _step: &Step) -> Option<String> {
        None
    }

    async fn hold(&self, progress: &Progress) -> Result<Box<dyn Send>> {
        Ok(Box::new(self.lock(progress).await?))
    }

    async fn wait_converged(&self, wait: Duration, progress: &Progress) -> Result<()> {
        let expected = self.running_webapps().await?;
        self.wait_for(&expected, wait, progress).await.map(|_| ())
    }

    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput> {
        // The lab is looked at only when the engine refused: a node that is
        // not the lab's gets that said, not the engine's words.
        match Lab::exec(self, node, cmd).await {
            Ok(out) => Ok(out),
            Err(e) => {
                self.node(node).await?;
                Err(e)
            }
        }
    }

    async fn stats_auth(&self) -> Result<Option<String>> {
        Lab::stats_auth(self).await
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
            out.push((
                c.name.clone(),
                self.logs(node_of(&c), &LogsRequest::ALL).await?,
            ));
        }
        Ok(out)
    }

    async fn screenshot(
        &self,
        shots: &Screenshots<'_>,
        html: &Path,
        png: &Path,
    ) -> Result<Result<(), String>> {
        shots.take(self, html, png).await
    }
}
