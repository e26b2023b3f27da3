//! A scenario's lab on a Swarm: the steps that name no fixed container
//! (`up`, `scale`, `kill`, `wait`, `http`, `exec`, `expect`, `snapshot`) run
//! as on one engine; the ones the Swarm decides itself are refused before
//! the run starts.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};
use async_trait::async_trait;

use super::{plan, SwarmLab, SwarmUp};
use crate::contract::{Role, STATS_AUTH};
use crate::naming::{HA, HTTP_PORT, STATS_PORT};
use crate::output::Progress;
use crate::runner::{Listing, Subject};
use crate::runtime::ExecOutput;
use crate::scenario::Step;
use crate::screenshot::Screenshots;
use crate::stage::Stage;

/// A lab on the Swarm, started afresh by a scenario with `req`.
pub struct SwarmScenario {
    lab: SwarmLab,
    req: SwarmUp,
}

impl SwarmScenario {
    /// `lab`, which scenarios start as `req` asks (its size set by their
    /// `up` step).
    pub fn new(lab: SwarmLab, req: SwarmUp) -> Self {
        Self { lab, req }
    }
}

/// Why a step cannot run on a Swarm, if it cannot.
pub fn refusal(stage: Stage, step: &Step) -> Option<String> {
    if stage.number() != 6 {
        return Some(format!(
            "the scenario runs stage {}, and a lab on a Swarm runs stage 6 only (stages 0 to 5 \
             give the nodes fixed addresses, which Swarm tasks cannot have)",
            stage.number()
        ));
    }
    match step {
        Step::Start(_) | Step::Stop(_) => Some(
            "the Swarm decides which tasks run, and starts a stopped one again: a given node \
             cannot be stopped or started; use `scale` (or `kill`, after which the Swarm \
             replaces the task)"
                .into(),
        ),
        _ => None,
    }
}

#[async_trait(?Send)]
impl Subject for SwarmScenario {
    fn lab_name(&self) -> &str {
        self.lab.names().lab()
    }

    fn refuses(&self, stage: Stage, step: &Step) -> Option<String> {
        refusal(stage, step)
    }

    async fn hold(&self, progress: &Progress) -> Result<Box<dyn Send>> {
        Ok(Box::new(self.lab.lock(progress).await?))
    }

    async fn remove(&self, progress: &Progress) -> Result<()> {
        self.lab.down(progress).await.map(|_| ())
    }

    async fn start(
        &self,
        webapps: u32,
        _stage: Stage,
        wait: Duration,
        progress: &Progress,
    ) -> Result<()> {
        let req = SwarmUp {
            webapps,
            ..self.req.clone()
        };
        self.lab.up(&req, Some(wait), progress).await
    }

    async fn scale(&self, webapps: u32, wait: Duration, progress: &Progress) -> Result<()> {
        self.lab.scale(webapps, Some(wait), progress).await
    }

    async fn start_node(&self, node: &str, _progress: &Progress) -> Result<()> {
        bail!(
            "start {node}: {}",
            refusal(crate::stage::FINAL, &Step::Start(node.into())).unwrap_or_default()
        )
    }

    async fn stop_node(&self, node: &str, _progress: &Progress) -> Result<()> {
        bail!(
            "stop {node}: {}",
            refusal(crate::stage::FINAL, &Step::Stop(node.into())).unwrap_or_default()
        )
    }

    async fn kill_node(&self, node: &str, progress: &Progress) -> Result<()> {
        let (engine, container) = self.lab.container_of(node).await?;
        progress.info(format!("killing {node} (the Swarm replaces its task)"));
        engine.kill_container(&container, "SIGKILL").await
    }

    async fn wait_converged(&self, wait: Duration, progress: &Progress) -> Result<()> {
        let wanted = self.lab.wanted_webapps().await?;
        self.lab.wait_served(wanted, wait, progress).await
    }

    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput> {
        self.lab.exec(node, cmd).await
    }

    async fn ha_address(&self, container_port: u16) -> Result<SocketAddr> {
        let port = match container_port {
            HTTP_PORT => self.req.http_port,
            STATS_PORT => self.req.stats_port,
            other => bail!("`ha` publishes no port {other} on the Swarm"),
        };
        Ok(SocketAddr::new(self.lab.ha_host().await?, port))
    }

    async fn stats_auth(&self) -> Result<Option<String>> {
        let prefix = format!("{STATS_AUTH}=");
        Ok(self
            .lab
            .service(Role::Ha)
            .await?
            .env
            .iter()
            .find_map(|e| e.strip_prefix(&prefix).map(String::from)))
    }

    async fn ha_running(&self) -> Result<bool> {
        Ok(self
            .lab
            .rows(false)
            .await?
            .iter()
            .any(|r| r.name == HA && r.state == "running"))
    }

    async fn listing(&self, all: bool) -> Result<Listing> {
        let rows = self.lab.rows(all).await?;
        let (file, what) = if all {
            (
                "swarm-ps-a.txt",
                "the lab's tasks, ended ones too, and the Swarm nodes they ran on",
            )
        } else {
            (
                "swarm-ps.txt",
                "the lab's tasks and the Swarm nodes they run on (`labctl ps`)",
            )
        };
        Ok(Listing {
            file: file.into(),
            what: what.into(),
            text: plan::table(&rows, all),
        })
    }

    async fn inspect_all(&self) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        for row in self.lab.rows(false).await? {
            let (engine, container) = self.lab.container_of(&row.name).await?;
            out.push((row.name, engine.inspect_container(&container).await?));
        }
        Ok(out)
    }

    async fn logs_all(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for row in self.lab.rows(false).await? {
            let mut bytes = Vec::new();
            self.lab
                .stream_logs(&row.name, "all", false, false, &mut |b: &[u8]| {
                    bytes.extend_from_slice(b)
                })
                .await?;
            out.push((row.name, String::from_utf8_lossy(&bytes).into_owned()));
        }
        Ok(out)
    }

    async fn screenshot(
        &self,
        _shots: &Screenshots<'_>,
        html: &Path,
        png: &Path,
    ) -> Result<Result<(), String>> {
        crate::screenshot::from_file(html, png).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::refusals;
    use crate::scenario::{parse, BUILT_IN};

    fn built_in(name: &str) -> crate::scenario::Scenario {
        let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name).unwrap();
        parse(name, text).unwrap()
    }

    #[test]
    fn a_swarm_refuses_the_steps_it_decides_itself() {
        let reasons = refusals(&built_in("task6"), refusal);
        assert_eq!(reasons.len(), 4, "{reasons:?}");
        assert!(reasons[0].starts_with("step 6 (stop s3): the Swarm decides"));
        assert_eq!(reasons[1], "step 10 (start s3): the same");
        assert_eq!(reasons[3], "step 12 (start s6): the same");
    }

    #[test]
    fn a_swarm_refuses_stages_before_the_last() {
        let reasons = refusals(&built_in("task5"), refusal);
        assert!(!reasons.is_empty());
        assert!(reasons[0].contains("runs stage 6 only"), "{reasons:?}");
    }

    #[test]
    fn a_scenario_that_names_no_node_to_stop_or_start_runs_on_a_swarm() {
        let text = std::fs::read_to_string("scenarios/scaling.yaml").unwrap();
        let scenario = parse("scenarios/scaling.yaml", &text).unwrap();
        assert!(scenario.steps.iter().any(|s| matches!(s, Step::Kill(_))));
        assert_eq!(refusals(&scenario, refusal), Vec::<String>::new());
    }
}
