//! A short-lived container on the engine's host network, to read that host
//! (its ports, its neighbour table, the disk under the engine's folder)
//! when it is not this machine.

use anyhow::{anyhow, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, WaitContainerOptions,
};
use futures_util::{StreamExt, TryStreamExt};

use super::{docker_message, DockerEngine};
use crate::runtime::{ExecOutput, Runtime};

/// How long the probe may run.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl DockerEngine {
    /// See [`Runtime::run_on_host`].
    pub(super) async fn probe(
        &self,
        image: &str,
        cmd: &[&str],
        mount: (&str, &str),
    ) -> Result<ExecOutput> {
        let name = format!("labctl-probe-{}", std::process::id());
        let labels = [
            (crate::labels::MANAGED.to_string(), "true".to_string()),
            (crate::labels::ROLE.to_string(), "probe".to_string()),
        ]
        .into_iter()
        .collect();
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd.iter().map(|s| (*s).to_string()).collect()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                network_mode: Some("host".into()),
                binds: Some(vec![format!("{}:{}:ro", mount.0, mount.1)]),
                ..Default::default()
            }),
            ..Default::default()
        };
        // One left by an interrupted run would hold the name.
        self.remove_container(&name).await?;
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("creating the probe container from `{image}`"))?;
        let ran = tokio::time::timeout(PROBE_TIMEOUT, self.run_probe(&name)).await;
        let removed = self.remove_container(&name).await;
        let out = ran.map_err(|_| {
            anyhow!(
                "the probe container did not finish within {} s",
                PROBE_TIMEOUT.as_secs()
            )
        })??;
        removed?;
        Ok(out)
    }

    async fn run_probe(&self, name: &str) -> Result<ExecOutput> {
        self.start_container(name).await?;
        let mut code = 0;
        let mut waits = self
            .docker
            .wait_container(name, None::<WaitContainerOptions>);
        while let Some(item) = waits.next().await {
            match item {
                Ok(answer) => code = answer.status_code,
                // bollard reports a non-zero exit as an error.
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(anyhow!(docker_message(&e))).context("waiting for the probe"),
            }
        }
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut stdout = String::new();
        let mut stderr = String::new();
        let mut logs = self.docker.logs(name, Some(options));
        while let Some(chunk) = logs
            .try_next()
            .await
            .context("reading the probe's output")?
        {
            match chunk {
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
                other => stdout.push_str(&String::from_utf8_lossy(&other.into_bytes())),
            }
        }
        Ok(ExecOutput {
            code,
            stdout,
            stderr,
        })
    }
}
