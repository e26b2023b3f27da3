//! `labctl bench`: print the lab's figures.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::bench;
use crate::cli::{BenchArgs, BenchFormat};
use crate::images;

/// The Swarm benchmark's own local cluster, beside any other.
fn bench_cluster() -> crate::cluster::ClusterRequest {
    crate::cluster::ClusterRequest {
        name: bench::swarm::CLUSTER.to_string(),
        nodes: bench::swarm::NODES,
        subnet: "192.168.144.0/24".parse().expect("a subnet"),
        bind: std::net::IpAddr::from([127, 0, 0, 1]),
        api_port: 23771,
        http_port: 28091,
        stats_port: 28947,
        registry_port: None,
    }
}

pub async fn run(ctx: &Context, args: &BenchArgs) -> Result<ExitCode> {
    let names: Vec<String> = if args.names.is_empty() {
        bench::ALL.iter().map(|s| (*s).to_string()).collect()
    } else {
        args.names.clone()
    };
    for n in &names {
        anyhow::ensure!(
            bench::NAMES.contains(&n.as_str()),
            "unknown benchmark `{n}`: choose among {}",
            bench::NAMES.join(", ")
        );
    }
    images::ensure(
        ctx.lab.runtime().as_ref(),
        &ctx.templates,
        &args.build,
        false,
        &ctx.progress,
    )
    .await?;
    let host = ctx.lab.runtime();
    let foreign = images::foreign_arch(host.as_ref(), &args.build).await?;
    if foreign.is_some()
        && names
            .iter()
            .any(|n| ["compose", "images", "swarm"].contains(&n.as_str()))
    {
        return Err(crate::usage::usage(format!(
            "--platform {}: the compose, images and swarm benchmarks run on the engine's own \
             platform; name the others (join, leave, zero-downtime, scale-many)",
            args.build
                .platform
                .map(|p| p.to_string())
                .unwrap_or_default()
        )));
    }
    if names.iter().any(|n| n == "platforms") {
        // Both platforms' images, before any figure is taken.
        let native = images::engine_arch(host.as_ref()).await?;
        let other = foreign.unwrap_or(native.other());
        for arch in [native, other] {
            let build = crate::cli::BuildArgs {
                platform: Some(crate::platform::Platform::linux(arch)),
                ..args.build.clone()
            };
            images::ensure(host.as_ref(), &ctx.templates, &build, false, &ctx.progress).await?;
        }
    }
    let plan = bench::Plan {
        names: names.iter().filter(|n| *n != "swarm").cloned().collect(),
        runs: args.runs.max(1),
        cycles: args.cycles.max(1),
        scale_to: args.scale_to,
        charts: args.charts.clone(),
        cluster: None,
        foreign,
    };
    let mut report = bench::run(host, &plan, &ctx.progress).await?;
    if names.iter().any(|n| n == "swarm") {
        // The cluster runs only while its benchmark does: its engines would
        // be load on the others'.
        let cluster = crate::cluster::up(
            host.as_ref(),
            &ctx.templates,
            &args.build,
            &bench_cluster(),
            &ctx.progress,
        )
        .await;
        let swarm = match cluster {
            Ok(cluster) => {
                let plan = bench::Plan {
                    names: vec!["swarm".into()],
                    cluster: Some(cluster),
                    ..plan
                };
                bench::run(host, &plan, &ctx.progress).await
            }
            Err(e) => Err(e),
        };
        crate::cluster::down(host.as_ref(), bench::swarm::CLUSTER, &ctx.progress).await?;
        report.swarm = swarm?.swarm;
    }
    ctx.progress.finish();
    let command = format!(
        "labctl bench {}--runs {} --cycles {} --scale-to {} --format markdown",
        if args.names.is_empty() {
            String::new()
        } else {
            format!("{} ", names.join(" "))
        },
        args.runs,
        args.cycles,
        args.scale_to
    );
    match args.format {
        BenchFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(&report)?)?,
        BenchFormat::Markdown => {
            crate::output::write_out(format_args!("{}", bench::markdown(&report, &command)))?
        }
        BenchFormat::Table => crate::outln!("{}", bench::text(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}
