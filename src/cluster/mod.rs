//! A local multi-node Docker Swarm for trying the lab past one machine: each
//! node a container running Debian's Docker Engine, node 1 the manager, the
//! lab's images loaded into every node (no registry needed), or pushed to
//! the cluster's own registry for the nodes to pull.

pub(crate) mod plan;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::future::try_join_all;

use crate::contract::Role;
use crate::images::BuildOptions;
use crate::output::Progress;
use crate::runtime::{self, Runtime};
use crate::templates::Templates;
pub(crate) use plan::{ClusterRequest, ClusterSummary};

/// How long a node's engine may take to answer after its container starts.
const ENGINE_START: Duration = Duration::from_secs(90);

/// The images every node needs.
const LAB_IMAGES: [&str; 2] = ["labctl/ha:latest", "labctl/webapp:latest"];

/// The local clusters on the host's engine.
pub(crate) async fn list(runtime: &dyn Runtime) -> Result<Vec<ClusterSummary>> {
    let containers = runtime
        .containers_with_label(crate::labels::MANAGED, "true")
        .await?;
    Ok(plan::summarize(&containers))
}

/// Connects to a node's engine, waiting for it to answer.
async fn wait_engine(url: &str) -> Result<Arc<dyn Runtime>> {
    let started = Instant::now();
    loop {
        match runtime::connect_to(url).await {
            Ok(runtime) => return Ok(runtime),
            Err(e) if started.elapsed() > ENGINE_START => {
                return Err(e).with_context(|| {
                    format!(
                        "the engine at {url} did not answer within {} s; see its output with \
                         `docker logs` on its node container",
                        ENGINE_START.as_secs()
                    )
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn swarm_of(runtime: &dyn Runtime) -> Result<&dyn runtime::swarm::Swarm> {
    runtime
        .as_swarm()
        .context("this engine cannot be a Swarm node")
}

/// Makes the cluster: builds the images it needs, starts the nodes, forms
/// the Swarm and loads the lab's images into every node. What it made is
/// removed again if it fails. Returns the cluster as it then is.
pub(crate) async fn up(
    runtime: &dyn Runtime,
    templates: &Templates,
    build: &BuildOptions,
    req: &ClusterRequest,
    progress: &Progress,
) -> Result<ClusterSummary> {
    make(runtime, templates, build, req, progress).await?;
    list(runtime)
        .await?
        .into_iter()
        .find(|c| c.name == req.name)
        .with_context(|| format!("cluster `{}` is gone", req.name))
}

async fn make(
    runtime: &dyn Runtime,
    templates: &Templates,
    build: &BuildOptions,
    req: &ClusterRequest,
    progress: &Progress,
) -> Result<String> {
    req.check().map_err(crate::usage::usage)?;
    crate::images::ensure(runtime, templates, build, false, progress).await?;
    if let Some(existing) = list(runtime)
        .await?
        .into_iter()
        .find(|c| c.name == req.name)
    {
        let manager = existing.manager.clone().with_context(|| {
            format!(
                "cluster `{}` has no manager publishing its engine; remove it with \
                 `labctl cluster down{}` and make it again",
                req.name,
                name_flag(&req.name)
            )
        })?;
        if req.registry_port.is_some() && existing.registry.is_none() {
            bail!(
                "cluster `{}` is up without a registry: remove it (`labctl cluster down{}`) and \
                 make it again with --registry",
                req.name,
                name_flag(&req.name)
            );
        }
        restart_stopped(runtime, &existing, progress).await?;
        refresh_images(runtime, &existing, progress).await?;
        return Ok(manager);
    }
    crate::images::ensure_tool(runtime, templates, build, Role::Engine, progress).await?;
    if req.registry_port.is_some() {
        crate::images::ensure_tool(runtime, templates, build, Role::Registry, progress).await?;
    }
    let made = form(runtime, req, progress).await;
    if made.is_err() {
        progress.info(format!("removing the half-made cluster `{}`", req.name));
        let _ = down(runtime, &req.name, progress).await;
    }
    made
}

fn name_flag(name: &str) -> String {
    if name == plan::DEFAULT_CLUSTER {
        String::new()
    } else {
        format!(" --name {name}")
    }
}

/// Starts the nodes and forms the Swarm.
async fn form(runtime: &dyn Runtime, req: &ClusterRequest, progress: &Progress) -> Result<String> {
    let network = plan::network(&req.name);
    runtime
        .create_network(
            &network,
            req.subnet,
            plan::gateway(req.subnet),
            &plan::cluster_labels(&req.name),
        )
        .await
        .map_err(|e| {
            if runtime::refused(&e, |r| matches!(r, runtime::Refusal::Overlaps(_))) {
                e.context("choose another subnet for the cluster's nodes with --subnet")
            } else {
                e
            }
        })?;
    if let Some(spec) = plan::registry_spec(req) {
        progress.info(format!(
            "starting the cluster's registry at {}",
            plan::registry_address(req.subnet)
        ));
        start(runtime, &spec).await?;
    }
    let specs = plan::node_specs(req);
    progress.info(format!(
        "starting {} node{} of cluster `{}` on {}",
        specs.len(),
        if specs.len() == 1 { "" } else { "s" },
        req.name,
        req.subnet
    ));
    for spec in &specs {
        start(runtime, spec).await?;
    }
    let engines = try_join_all(specs.iter().map(|s| wait_engine_at(s.ip))).await?;
    progress.info("forming the Swarm (node1 manages)");
    let manager_ip = specs[0].ip;
    let token = swarm_of(engines[0].as_ref())?.init(manager_ip).await?;
    let joins = engines.iter().zip(&specs).skip(1).map(|(runtime, spec)| {
        let token = token.clone();
        async move {
            swarm_of(runtime.as_ref())?
                .join(&manager_ip.to_string(), &token, spec.ip)
                .await
        }
    });
    let images = async {
        match req.registry_port {
            Some(port) => {
                push_images(
                    runtime,
                    &format!("{}:{port}", host_side(req.bind)),
                    progress,
                )
                .await
            }
            None => load_images(runtime, &engines, progress).await,
        }
    };
    let (joined, imaged) = tokio::join!(try_join_all(joins), images);
    joined?;
    imaged?;
    let manager = swarm_of(engines[0].as_ref())?;
    let nodes = manager.nodes().await?;
    let ready = nodes.iter().filter(|n| n.state == "ready").count();
    if ready != specs.len() {
        bail!(
            "the Swarm has {ready} ready node(s) of {}: {}",
            specs.len(),
            nodes
                .iter()
                .map(|n| format!("{} {}", n.hostname, n.state))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(format!("tcp://{}:{}", host_side(req.bind), req.api_port))
}

/// The address the host reaches a port published on `bind` at.
fn host_side(bind: std::net::IpAddr) -> String {
    match bind {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    }
}

/// Creates and starts one of the cluster's containers.
async fn start(runtime: &dyn Runtime, spec: &runtime::ContainerSpec) -> Result<()> {
    runtime.create_container(spec).await?;
    match runtime.start_container(&spec.name).await {
        Err(e) if runtime::refused(&e, |r| matches!(r, runtime::Refusal::PortTaken(_))) => Err(e
            .context(
                "a host port of the cluster is taken; choose others with --api-port, \
                 --http-port, --stats-port and --registry-port",
            )),
        other => other,
    }
}

/// Loads the lab's images into every node's engine.
async fn load_images(
    runtime: &dyn Runtime,
    engines: &[Arc<dyn Runtime>],
    progress: &Progress,
) -> Result<()> {
    let archive = runtime
        .export_images(&LAB_IMAGES)
        .await
        .context("saving the lab's images for the cluster's nodes")?;
    progress.info(format!(
        "loading the lab's images into {} node{} ({} MB)",
        engines.len(),
        if engines.len() == 1 { "" } else { "s" },
        archive.len() / 1_000_000
    ));
    try_join_all(engines.iter().enumerate().map(|(i, runtime)| {
        let archive = archive.clone();
        async move {
            runtime
                .load_images(archive)
                .await
                .with_context(|| format!("loading the lab's images into node{}", i + 1))
        }
    }))
    .await
    .map(|_| ())
}

/// Pushes the lab's images from the host's engine to the cluster's
/// registry, published on the host at `registry` (waiting for it to answer).
async fn push_images(runtime: &dyn Runtime, registry: &str, progress: &Progress) -> Result<()> {
    let swarm = swarm_of(runtime)?;
    progress.info(format!(
        "pushing the lab's images to the cluster's registry ({registry})"
    ));
    let started = Instant::now();
    for role in Role::ALL {
        let target = crate::swarm::plan::registry_reference(registry, role);
        loop {
            match swarm.push_image(role.image(), &target).await {
                Ok(_) => break,
                // The registry may not listen yet.
                Err(_) if started.elapsed() < ENGINE_START => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Err(e) => return Err(e.context("the cluster's registry did not take the images")),
            }
        }
    }
    Ok(())
}

async fn wait_engine_at(ip: std::net::Ipv4Addr) -> Result<Arc<dyn Runtime>> {
    wait_engine(&plan::engine_url(ip)).await
}

/// Starts the nodes of a cluster that were stopped, and waits for them to
/// be ready in the Swarm again.
async fn restart_stopped(
    runtime: &dyn Runtime,
    cluster: &ClusterSummary,
    progress: &Progress,
) -> Result<()> {
    for registry in runtime
        .containers_with_label(plan::CLUSTER, &cluster.name)
        .await?
        .iter()
        .filter(|c| plan::is_registry(c) && !c.state.is_running())
    {
        progress.info(format!("starting {} again", registry.name));
        runtime.start_container(&registry.name).await?;
    }
    let stopped: Vec<&String> = cluster
        .nodes
        .iter()
        .filter(|(_, _, state)| state != "running")
        .map(|(_, name, _)| name)
        .collect();
    if stopped.is_empty() {
        return Ok(());
    }
    progress.info(format!(
        "starting {} again",
        stopped
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    for name in &stopped {
        runtime.start_container(name).await?;
    }
    let manager = cluster
        .manager
        .as_deref()
        .context("the cluster's manager publishes no engine port")?;
    let runtime = wait_engine(manager).await?;
    let started = Instant::now();
    loop {
        let nodes = swarm_of(runtime.as_ref())?.nodes().await?;
        if nodes.len() == cluster.nodes.len() && nodes.iter().all(|n| n.state == "ready") {
            return Ok(());
        }
        if started.elapsed() > ENGINE_START {
            bail!(
                "the Swarm's nodes are not all ready {} s after starting them again: {}",
                ENGINE_START.as_secs(),
                nodes
                    .iter()
                    .map(|n| format!("{} {}", n.hostname, n.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Loads the lab's images again into the nodes whose copies differ from the
/// host's (after `labctl build`).
async fn refresh_images(
    runtime: &dyn Runtime,
    cluster: &ClusterSummary,
    progress: &Progress,
) -> Result<()> {
    if let Some(registry) = &cluster.registry_host {
        // Layers the registry holds already are not sent again.
        return push_images(runtime, registry, progress).await;
    }
    let mut wanted = Vec::new();
    for image in LAB_IMAGES {
        wanted.push(runtime.image_id(image).await?);
    }
    let containers = runtime
        .containers_with_label(plan::CLUSTER, &cluster.name)
        .await?;
    let mut stale = Vec::new();
    for c in containers.iter().filter(|c| !plan::is_registry(c)) {
        let ip = c
            .addresses
            .get(&plan::network(&cluster.name))
            .copied()
            .with_context(|| format!("node container `{}` has no address", c.name))?;
        let runtime = wait_engine_at(ip).await?;
        let mut ids = Vec::new();
        for image in LAB_IMAGES {
            ids.push(runtime.image_id(image).await.unwrap_or_default());
        }
        if ids != wanted {
            stale.push((c.name.clone(), runtime));
        }
    }
    if stale.is_empty() {
        return Ok(());
    }
    let archive = runtime.export_images(&LAB_IMAGES).await?;
    progress.info(format!(
        "loading the lab's new images into {}",
        stale
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    try_join_all(
        stale
            .iter()
            .map(|(_, runtime)| runtime.load_images(archive.clone())),
    )
    .await?;
    Ok(())
}

/// Removes a cluster's nodes (with the images and containers they held) and
/// its network. A cluster that is not there is fine.
pub(crate) async fn down(
    runtime: &dyn Runtime,
    name: &str,
    progress: &Progress,
) -> Result<Vec<String>> {
    plan::check_name(name).map_err(crate::usage::usage)?;
    let containers = runtime.containers_with_label(plan::CLUSTER, name).await?;
    let removed: Vec<String> = containers
        .iter()
        .filter(|c| c.label(crate::labels::MANAGED) == Some("true"))
        .map(|c| c.name.clone())
        .collect();
    if !removed.is_empty() {
        progress.info(format!("removing {}", removed.join(", ")));
    }
    try_join_all(removed.iter().map(|n| runtime.remove_container(n))).await?;
    let network = plan::network(name);
    if let Some(net) = runtime.network(&network).await? {
        if net.labels.get(plan::CLUSTER).map(String::as_str) == Some(name) {
            runtime.remove_network(&network).await?;
        }
    }
    Ok(removed)
}
