//! `labctl bench`: print the lab's figures.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::bench::{self, Name};
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

pub(super) async fn run(ctx: &Context, args: &BenchArgs) -> Result<ExitCode> {
    let names: Vec<Name> = if args.names.is_empty() {
        Name::ALL.to_vec()
    } else {
        args.names.clone()
    };
    let build = args.build.options();
    ctx.ensure_images(&build).await?;
    let runtime = &ctx.runtime;
    let foreign = images::foreign_arch(runtime.as_ref(), &build).await?;
    if foreign.is_some() && names.iter().any(|n| n.native_only()) {
        return Err(crate::usage::usage(format!(
            "--platform {}: the compose, images and swarm benchmarks run on the engine's own \
             platform; name the others (join, leave, zero-downtime, scale-many)",
            args.build
                .platform
                .map(|p| p.to_string())
                .unwrap_or_default()
        )));
    }
    if names.contains(&Name::Platforms) {
        // Both platforms' images, before any figure is taken.
        let native = images::engine_arch(runtime.as_ref()).await?;
        let other = foreign.unwrap_or(native.other());
        for arch in [native, other] {
            ctx.ensure_images(&images::BuildOptions {
                platform: Some(crate::platform::Platform::linux(arch)),
                ..build.clone()
            })
            .await?;
        }
    }
    let plan = bench::Plan {
        names: names
            .iter()
            .copied()
            .filter(|n| *n != Name::Swarm)
            .collect(),
        runs: args.runs.max(1),
        cycles: args.cycles.max(1),
        scale_to: args.scale_to,
        charts: args.charts.clone(),
        cluster: None,
        foreign,
    };
    let mut report = bench::run(runtime, &plan, &ctx.progress).await?;
    if names.contains(&Name::Swarm) {
        // The cluster runs only while its benchmark does: its engines would
        // be load on the others'.
        let cluster = crate::cluster::up(
            runtime.as_ref(),
            &ctx.templates,
            &build,
            &bench_cluster(),
            &ctx.progress,
        )
        .await;
        let swarm = match cluster {
            Ok(cluster) => {
                let plan = bench::Plan {
                    names: vec![Name::Swarm],
                    cluster: Some(cluster),
                    ..plan
                };
                bench::run(runtime, &plan, &ctx.progress).await
            }
            Err(e) => Err(e),
        };
        crate::cluster::down(runtime.as_ref(), bench::swarm::CLUSTER, &ctx.progress).await?;
        report.swarm = swarm?.swarm;
    }
    ctx.progress.finish();
    let command = format!(
        "labctl bench {}--runs {} --cycles {} --scale-to {} --format markdown",
        if args.names.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
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
