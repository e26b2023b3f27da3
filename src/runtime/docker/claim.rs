//! A claim on the engine (see [`Runtime::claim`]): a container that reads
//! its input until this process's connection to it closes.

use anyhow::{anyhow, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{AttachContainerOptionsBuilder, CreateContainerOptionsBuilder};

use super::{docker_message, name_taken, DockerEngine};
use crate::runtime::{Claim, ClaimSpec, Claimed, Runtime};

/// The claim container as the engine creates it: `cat` on an input that
/// closes when the one attached client goes (`StdinOnce`), no network,
/// removed by the engine when it stops.
fn body(spec: &ClaimSpec) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        // The images start labctl's node entrypoint: `cat` replaces it.
        entrypoint: Some(vec!["cat".to_string()]),
        cmd: Some(vec!["-".to_string()]),
        labels: Some(spec.labels.clone()),
        attach_stdin: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        host_config: Some(HostConfig {
            auto_remove: Some(true),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl DockerEngine {
    /// See [`Runtime::claim`].
    pub(super) async fn take_claim(&self, spec: &ClaimSpec) -> Result<Claimed> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = match self
            .docker
            .create_container(Some(options), body(spec))
            .await
        {
            Ok(created) => created,
            Err(e) if name_taken(&e) => {
                let found = self.container_named(&spec.name).await?;
                return Ok(Claimed::Taken(found.map(Box::new)));
            }
            Err(e) => {
                return Err(anyhow!(docker_message(&e)))
                    .with_context(|| format!("creating the claim container `{}`", spec.name))
            }
        };
        let id = created.id;
        // Attached before it starts: from its first moment, its input is
        // this connection's, and it ends when the connection does.
        let held = async {
            let options = AttachContainerOptionsBuilder::default()
                .stdin(true)
                .stream(true)
                .build();
            let attached = self
                .docker
                .attach_container(&id, Some(options))
                .await
                // Podman makes the container's process at attach: its
                // refusals to start come here.
                .map_err(|e| super::refusal::start_refusal(&e))
                .with_context(|| format!("attaching to the claim container `{}`", spec.name))?;
            self.start_container(&id).await?;
            Ok::<_, anyhow::Error>(attached)
        }
        .await;
        match held {
            Ok(attached) => {
                let docker = self.clone();
                let target = id.clone();
                let remove = Box::pin(async move {
                    let _ = docker.remove_container(&target).await;
                });
                Ok(Claimed::Held(Claim::new(id, Box::new(attached), remove)))
            }
            Err(e) => {
                let _ = self.remove_container(&id).await;
                Err(e)
            }
        }
    }
}
