//! The Docker Engine as a Swarm manager: the [`Swarm`] side of the seam.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use anyhow::{anyhow, bail, Context, Result};
use async_trait::async_trait;
use base64::Engine as _;
use bollard::auth::DockerCredentials;
use bollard::models::{
    EndpointPortConfig, EndpointPortConfigPublishModeEnum, EndpointSpec, EndpointSpecModeEnum,
    Ipam, IpamConfig, NetworkAttachmentConfig, NetworkCreateRequest, SecretSpec,
    ServiceSpec as DockerServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, SwarmInitRequest,
    SwarmJoinRequest, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecPlacement,
};
use bollard::query_parameters::{
    InspectServiceOptions, LeaveSwarmOptionsBuilder, ListSecretsOptionsBuilder,
    ListServicesOptionsBuilder, ListTasksOptionsBuilder, PushImageOptions, TagImageOptions,
    UpdateServiceOptionsBuilder,
};
use futures_util::StreamExt;
use ipnet::Ipv4Net;

use super::exec::{drain_logs, logs_options};
use super::{
    creation_error, docker_message, is_not_found, network_refusal, status_code, DockerEngine,
};
use crate::runtime::swarm::{
    pinned, split_tag, ServiceInfo, ServiceSpec, Swarm, SwarmNode, SwarmTask,
};

/// The port managers listen on for the Swarm's control traffic.
const SWARM_PORT: u16 = 2377;

fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{key}={value}")])])
}

fn docker_spec(spec: &ServiceSpec, secret_ids: &[String]) -> DockerServiceSpec {
    let secrets = spec
        .secrets
        .iter()
        .zip(secret_ids)
        .map(|((secret, file), id)| TaskSpecContainerSpecSecrets {
            secret_name: Some(secret.clone()),
            secret_id: Some(id.clone()),
            file: Some(TaskSpecContainerSpecFile {
                name: Some(file.clone()),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o400),
            }),
        })
        .collect();
    let ports = spec
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            target_port: Some(i64::from(p.target)),
            published_port: Some(i64::from(p.published)),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect();
    DockerServiceSpec {
        name: Some(spec.name.clone()),
        labels: Some(spec.labels.clone()),
        task_template: Some(TaskSpec {
            // The tasks' containers carry none of labctl's labels: the
            // Swarm owns them, and what labctl finds by its labels on an
            // engine (`ls`, a lab's containers) must not take them for a
            // lab of containers.
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(spec.image.clone()),
                hostname: Some(spec.hostname.clone()),
                env: Some(spec.env.clone()),
                secrets: Some(secrets),
                stop_grace_period: Some((spec.stop_grace_s * 1_000_000_000) as i64),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(spec.constraints.clone()),
                max_replicas: spec.one_per_node.then_some(1),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(spec.network.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(spec.replicas as i64),
            }),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            // Virtual IPs need IPVS, which not every kernel has: the service
            // name resolves to its tasks' own addresses instead.
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: Some(ports),
        }),
        ..Default::default()
    }
}

#[async_trait]
impl Swarm for DockerEngine {
    async fn local_node(&self) -> Result<Option<(String, bool)>> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .context("asking the engine for its Swarm state")?;
        let swarm = info.swarm.unwrap_or_default();
        let active = swarm
            .local_node_state
            .is_some_and(|s| s.to_string() == "active");
        Ok(match swarm.node_id.filter(|id| active && !id.is_empty()) {
            Some(id) => Some((id, swarm.control_available.unwrap_or(false))),
            None => None,
        })
    }

    async fn init(&self, advertise: Ipv4Addr) -> Result<String> {
        let request = SwarmInitRequest {
            listen_addr: Some(format!("0.0.0.0:{SWARM_PORT}")),
            advertise_addr: Some(advertise.to_string()),
            ..Default::default()
        };
        self.docker
            .init_swarm(request)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .context("making the engine a Swarm manager")?;
        let swarm = self
            .docker
            .inspect_swarm()
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .context("reading the Swarm's join tokens")?;
        swarm
            .join_tokens
            .and_then(|t| t.worker)
            .context("the Swarm has no worker join token")
    }

    async fn join(&self, manager: &str, token: &str, advertise: Ipv4Addr) -> Result<()> {
        let request = SwarmJoinRequest {
            listen_addr: Some(format!("0.0.0.0:{SWARM_PORT}")),
            advertise_addr: Some(advertise.to_string()),
            remote_addrs: Some(vec![format!("{manager}:{SWARM_PORT}")]),
            join_token: Some(token.to_string()),
            ..Default::default()
        };
        self.docker
            .join_swarm(request)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("joining the Swarm managed at {manager}"))
    }

    async fn leave(&self) -> Result<()> {
        let options = LeaveSwarmOptionsBuilder::default().force(true).build();
        match self.docker.leave_swarm(Some(options)).await {
            Ok(()) => Ok(()),
            // 503: not part of a Swarm.
            Err(e) if status_code(&e) == Some(503) => Ok(()),
            Err(e) => Err(anyhow!(docker_message(&e))).context("leaving the Swarm"),
        }
    }

    async fn nodes(&self) -> Result<Vec<SwarmNode>> {
        let nodes = self
            .docker
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .context("listing the Swarm's nodes")?;
        Ok(nodes
            .into_iter()
            .map(|n| {
                let spec = n.spec.unwrap_or_default();
                let status = n.status.unwrap_or_default();
                SwarmNode {
                    id: n.id.unwrap_or_default(),
                    hostname: n.description.and_then(|d| d.hostname).unwrap_or_default(),
                    manager: spec.role.is_some_and(|r| r.to_string() == "manager"),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    availability: spec.availability.map(|a| a.to_string()).unwrap_or_default(),
                    addr: status.addr.unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn create_overlay(
        &self,
        name: &str,
        subnet: Ipv4Net,
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("overlay".into()),
            attachable: Some(true),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: Some(subnet.to_string()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            labels: Some(labels.clone()),
            ..Default::default()
        };
        self.docker
            .create_network(request)
            .await
            .map_err(|e| network_refusal(&e))
            .with_context(|| format!("creating overlay network `{name}`"))?;
        Ok(())
    }

    async fn create_secret(
        &self,
        name: &str,
        data: &[u8],
        labels: &HashMap<String, String>,
    ) -> Result<()> {
        let spec = SecretSpec {
            name: Some(name.to_string()),
            labels: Some(labels.clone()),
            data: Some(base64::engine::general_purpose::STANDARD.encode(data)),
            ..Default::default()
        };
        self.docker
            .create_secret(spec)
            .await
            .map_err(|e| creation_error(&e))
            .with_context(|| format!("creating secret `{name}`"))?;
        Ok(())
    }

    async fn secrets_with_label(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let options = ListSecretsOptionsBuilder::default()
            .filters(&label_filter(key, value))
            .build();
        let secrets = self
            .docker
            .list_secrets(Some(options))
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .context("listing secrets")?;
        Ok(secrets
            .into_iter()
            .filter_map(|s| s.spec.and_then(|s| s.name))
            .collect())
    }

    async fn remove_secret(&self, name: &str) -> Result<()> {
        match self.docker.delete_secret(name).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(docker_message(&e)))
                .with_context(|| format!("removing secret `{name}`")),
        }
    }

    async fn create_service(&self, spec: &ServiceSpec) -> Result<()> {
        let mut ids = Vec::new();
        for (secret, _) in &spec.secrets {
            let found = self
                .docker
                .inspect_secret(secret)
                .await
                .map_err(|e| anyhow!(docker_message(&e)))
                .with_context(|| format!("finding secret `{secret}`"))?;
            ids.push(
                found
                    .id
                    .with_context(|| format!("secret `{secret}` has no id"))?,
            );
        }
        self.docker
            .create_service(docker_spec(spec, &ids), None)
            .await
            .map_err(|e| creation_error(&e))
            .with_context(|| format!("creating service `{}`", spec.name))?;
        Ok(())
    }

    async fn services_with_label(&self, key: &str, value: &str) -> Result<Vec<ServiceInfo>> {
        let options = ListServicesOptionsBuilder::default()
            .filters(&label_filter(key, value))
            .build();
        let services = self
            .docker
            .list_services(Some(options))
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .context("listing services")?;
        Ok(services
            .into_iter()
            .map(|s| {
                let spec = s.spec.unwrap_or_default();
                ServiceInfo {
                    id: s.id.unwrap_or_default(),
                    name: spec.name.unwrap_or_default(),
                    labels: spec.labels.unwrap_or_default(),
                    replicas: spec
                        .mode
                        .and_then(|m| m.replicated)
                        .and_then(|r| r.replicas)
                        .unwrap_or(0)
                        .max(0) as u64,
                    env: spec
                        .task_template
                        .and_then(|t| t.container_spec)
                        .and_then(|c| c.env)
                        .unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn scale_service(&self, name: &str, replicas: u64) -> Result<()> {
        let current = self
            .docker
            .inspect_service(name, None::<InspectServiceOptions>)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("reading service `{name}`"))?;
        let version = current
            .version
            .and_then(|v| v.index)
            .with_context(|| format!("service `{name}` has no version"))?;
        let mut spec = current.spec.unwrap_or_default();
        spec.mode = Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas as i64),
            }),
            ..Default::default()
        });
        let options = UpdateServiceOptionsBuilder::default()
            .version(version as i32)
            .build();
        self.docker
            .update_service(name, spec, options, None)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("scaling service `{name}` to {replicas}"))?;
        Ok(())
    }

    async fn remove_service(&self, name: &str) -> Result<()> {
        match self.docker.delete_service(name).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(anyhow!(docker_message(&e)))
                .with_context(|| format!("removing service `{name}`")),
        }
    }

    async fn tasks(&self, service: &str) -> Result<Vec<SwarmTask>> {
        let filters = HashMap::from([("service".to_string(), vec![service.to_string()])]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let tasks = self
            .docker
            .list_tasks(Some(options))
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("listing the tasks of service `{service}`"))?;
        Ok(tasks
            .into_iter()
            .map(|t| {
                let status = t.status.unwrap_or_default();
                SwarmTask {
                    id: t.id.unwrap_or_default(),
                    slot: t.slot.unwrap_or(0).max(0) as u32,
                    node_id: t.node_id.unwrap_or_default(),
                    state: status.state.map(|s| s.to_string()).unwrap_or_default(),
                    desired: t.desired_state.map(|s| s.to_string()).unwrap_or_default(),
                    container_id: status
                        .container_status
                        .and_then(|c| c.container_id)
                        .filter(|id| !id.is_empty()),
                    error: status.err.filter(|e| !e.is_empty()),
                    since: status.timestamp.map(|t| t.to_string()).unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn stream_task_logs(
        &self,
        task_id: &str,
        req: &crate::runtime::LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        let stream = self.docker.task_logs(task_id, Some(logs_options(req)));
        drain_logs(stream, &format!("task `{task_id}`"), sink).await
    }

    async fn push_image(&self, image: &str, target: &str) -> Result<String> {
        let (repo, tag) = split_tag(target);
        self.docker
            .tag_image(
                image,
                Some(TagImageOptions {
                    repo: Some(repo.to_string()),
                    tag: Some(tag.to_string()),
                }),
            )
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("tagging {image} as {target}"))?;
        let mut stream = self.docker.push_image(
            repo,
            Some(PushImageOptions {
                tag: Some(tag.to_string()),
                ..Default::default()
            }),
            // The engine wants the header even for a registry without
            // authentication.
            Some(DockerCredentials::default()),
        );
        while let Some(item) = stream.next().await {
            let info = item
                .map_err(|e| anyhow!(docker_message(&e)))
                .with_context(|| format!("pushing {target}"))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                bail!("pushing {target}: {err}");
            }
        }
        self.pinned_reference(target).await
    }

    async fn pull_pinned(&self, reference: &str) -> Result<String> {
        crate::runtime::Runtime::pull_image(self, reference)
            .await
            .with_context(|| format!("pulling {reference}"))?;
        self.pinned_reference(reference).await
    }
}

impl DockerEngine {
    /// `reference` pinned to the digest its registry holds, from the local
    /// image's repository digests.
    async fn pinned_reference(&self, reference: &str) -> Result<String> {
        let (repo, _) = split_tag(reference);
        let info = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("inspecting {reference}"))?;
        pinned(repo, &info.repo_digests.unwrap_or_default())
            .with_context(|| format!("the registry gave no digest for {reference}"))
    }
}
