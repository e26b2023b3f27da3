//! The lab on a Swarm behind the verbs every kind of lab answers
//! ([`LabService`]), and what scenarios need of it ([`Subject`]): the steps
//! that name no fixed container (`up`, `scale`, `kill`, `wait`, `http`,
//! `exec`, `expect`, `snapshot`) run as on one engine; the ones the Swarm
//! decides itself are refused before the run starts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use async_trait::async_trait;
use comfy_table::{presets, Table};

use super::{plan, SwarmLab, SwarmUp};
use crate::contract::{Role, STATS_AUTH};
use crate::naming::{LabNames, HA};
use crate::output::Progress;
use crate::platform::Arch;
use crate::runner::{Listing, Subject};
use crate::runtime::{ExecOutput, LogsRequest, Runtime};
use crate::scenario::Step;
use crate::screenshot::Screenshots;
use crate::service::{LabKind, LabService, Prepare, Sink, UpOptions, View};
use crate::stage::{Stage, FINAL};

/// Why a step cannot run on a Swarm, if it cannot.
pub(crate) fn refusal(stage: Stage, step: &Step) -> Option<String> {
    if stage != FINAL {
        return Some(format!(
            "the scenario runs stage {stage}, and a lab on a Swarm runs stage 6 only (stages 0 to 5 \
             give the nodes fixed addresses, which Swarm tasks cannot have)"
        ));
    }
    match step {
        Step::Start(_) | Step::Stop(_) => Some(NO_GIVEN_NODE.into()),
        _ => None,
    }
}

/// Why a given node of a lab on a Swarm cannot be stopped or started.
const NO_GIVEN_NODE: &str = "the Swarm decides which tasks run, and starts a stopped one again: \
     a given node cannot be stopped or started; use `scale` (or `kill`, after which the Swarm \
     replaces the task)";

/// One line of `status` on a Swarm.
#[derive(serde::Serialize)]
struct StatusLine {
    node: String,
    swarm_node: String,
    task: String,
    haproxy: String,
}

impl SwarmLab {
    /// `status` of the lab: its tasks, and HAProxy's view of each.
    async fn status_view(&self) -> Result<View> {
        let rows = self.rows(false).await?;
        let backends = self.backends().await;
        let state_of = |node: &str| match &backends {
            Ok(b) => b
                .servers
                .iter()
                .find(|s| s.name == node)
                .map(|s| s.status.clone())
                .unwrap_or_else(|| "-".into()),
            Err(_) => "?".into(),
        };
        let lines: Vec<StatusLine> = rows
            .iter()
            .map(|r| StatusLine {
                node: r.name.clone(),
                swarm_node: r.host.clone(),
                task: r.state.clone(),
                haproxy: if r.name == HA {
                    "-".into()
                } else {
                    state_of(&r.name)
                },
            })
            .collect();
        let mut table = Table::new();
        table.load_preset(presets::NOTHING);
        table.set_header(["NODE", "SWARM NODE", "TASK", "HAPROXY"]);
        for l in &lines {
            table.add_row([&l.node, &l.swarm_node, &l.task, &l.haproxy]);
        }
        let mut text = table.to_string();
        match &backends {
            Ok(b) => {
                for d in &b.differences {
                    text.push_str(&format!("\ndifference: {d}"));
                }
                if let Some(e) = &b.last_error {
                    text.push_str(&format!("\nlast error: {e}"));
                }
                if let Some(w) = &b.waiting {
                    text.push_str(&format!("\nwaiting: {w}"));
                }
            }
            Err(e) => text.push_str(&format!("\nHAProxy's state could not be read: {e:#}")),
        }
        Ok(View {
            table: text,
            json: serde_json::to_value(&lines)?,
        })
    }
}

#[async_trait(?Send)]
impl LabService for SwarmLab {
    fn names(&self) -> &LabNames {
        SwarmLab::names(self)
    }

    fn kind(&self) -> LabKind {
        LabKind::Swarm
    }

    fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    async fn prepare(&self, what: &Prepare<'_>, _progress: &Progress) -> Result<Option<Arch>> {
        // The nodes run their own platform, and hold the lab's images
        // already (or pull them from the registry `up` pushes them to).
        if let Some(p) = what.build.platform {
            return Err(crate::usage::usage(format!(
                "--platform {p}: a lab on a Swarm runs on each node's own platform; leave out \
                 --platform"
            )));
        }
        Ok(None)
    }

    async fn up(&self, opts: &UpOptions, progress: &Progress) -> Result<Vec<String>> {
        if opts.stage != FINAL {
            return Err(crate::usage::usage(anyhow::anyhow!(
                "a lab on a Swarm runs stage 6 only (the lab's stages 0 to 5 use fixed addresses, \
                 which Swarm tasks cannot have): leave out --stage, or use --engine docker"
            )));
        }
        let req = SwarmUp::new(
            SwarmLab::names(self),
            &opts.place,
            opts.webapps.unwrap_or(crate::lab::DEFAULT_WEBAPPS),
        )?;
        SwarmLab::up(self, &req, opts.wait, progress).await?;
        Ok(vec![format!(
            "lab `{}` is up on the Swarm: ha + {} web app(s); HAProxy listens on port {} (stats {}) \
             of the manager that runs ha",
            self.names().lab(),
            req.webapps,
            req.http_port,
            req.stats_port
        )])
    }

    async fn scale(&self, webapps: u32, wait: Option<Duration>, progress: &Progress) -> Result<()> {
        SwarmLab::scale(self, webapps, wait, progress).await
    }

    async fn down(&self, progress: &Progress) -> Result<Vec<String>> {
        SwarmLab::down(self, progress).await
    }

    async fn ps(&self) -> Result<View> {
        let rows = self.rows(false).await?;
        Ok(View {
            table: plan::table(&rows, false),
            json: serde_json::to_value(&rows)?,
        })
    }

    async fn status(&self) -> Result<View> {
        self.status_view().await
    }

    async fn log_nodes(&self) -> Result<Vec<String>> {
        Ok(self
            .rows(false)
            .await?
            .into_iter()
            .filter(|r| r.state == "running")
            .map(|r| r.name)
            .collect())
    }

    async fn check_nodes(&self, nodes: &[String]) -> Result<()> {
        let rows = self.rows(false).await?;
        for node in nodes {
            if !rows.iter().any(|r| &r.name == node) {
                bail!(
                    "no node `{node}` in lab `{}` on the Swarm; see `labctl ps`",
                    self.names().lab()
                );
            }
        }
        Ok(())
    }

    async fn stream_logs(&self, node: &str, req: &LogsRequest, sink: Sink<'_>) -> Result<()> {
        SwarmLab::stream_logs(self, node, req, sink).await
    }

    async fn exec_attached(&self, node: &str, cmd: &[&str], tty: bool) -> Result<i64> {
        SwarmLab::exec_attached(self, node, cmd, tty).await
    }

    async fn start_node(&self, node: &str, _progress: &Progress) -> Result<()> {
        Err(crate::usage::usage(format!(
            "start {node}: {NO_GIVEN_NODE}"
        )))
    }

    async fn stop_node(&self, node: &str, _grace: Duration, _progress: &Progress) -> Result<()> {
        Err(crate::usage::usage(format!("stop {node}: {NO_GIVEN_NODE}")))
    }

    async fn restart_node(&self, node: &str, _grace: Duration, _progress: &Progress) -> Result<()> {
        Err(crate::usage::usage(format!(
            "restart {node}: {NO_GIVEN_NODE}"
        )))
    }

    async fn kill_node(&self, node: &str, signal: &str, progress: &Progress) -> Result<()> {
        let _lock = self.lock(progress).await?;
        let (runtime, container) = self.container_of(node).await?;
        progress.info(format!(
            "sending {signal} to {node} (the Swarm replaces its task if it ends)"
        ));
        runtime.kill_container(&container, signal).await
    }

    async fn node_states(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .rows(false)
            .await?
            .into_iter()
            .map(|r| (r.name, r.state))
            .collect())
    }
}

#[async_trait(?Send)]
impl Subject for SwarmLab {
    fn refuses(&self, stage: Stage, step: &Step) -> Option<String> {
        refusal(stage, step)
    }

    async fn hold(&self, progress: &Progress) -> Result<Box<dyn Send>> {
        Ok(Box::new(self.lock(progress).await?))
    }

    async fn wait_converged(&self, wait: Duration, progress: &Progress) -> Result<()> {
        let wanted = self.wanted_webapps().await?;
        self.wait_served(wanted, wait, progress).await
    }

    async fn exec(&self, node: &str, cmd: &[&str]) -> Result<ExecOutput> {
        SwarmLab::exec(self, node, cmd).await
    }

    async fn stats_auth(&self) -> Result<Option<String>> {
        Ok(self
            .service(Role::Ha)
            .await?
            .env_value(STATS_AUTH)
            .map(String::from))
    }

    async fn ha_running(&self) -> Result<bool> {
        Ok(self
            .rows(false)
            .await?
            .iter()
            .any(|r| r.name == HA && r.state == "running"))
    }

    async fn listing(&self, all: bool) -> Result<Listing> {
        let rows = self.rows(all).await?;
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
        for row in self.rows(false).await? {
            let (runtime, container) = self.container_of(&row.name).await?;
            out.push((row.name, runtime.inspect_container(&container).await?));
        }
        Ok(out)
    }

    async fn logs_all(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for row in self.rows(false).await? {
            let mut bytes = Vec::new();
            SwarmLab::stream_logs(self, &row.name, &LogsRequest::ALL, &mut |b: &[u8]| {
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
