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
    let names = args.chosen();
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
        engine_host: None,
    };
    if let Some(beside) = &args.beside {
        return side_by_side(ctx, args, &build, plan, beside).await;
    }
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

/// The benchmarks of `plan` on the context's engine and on the engine at
/// `beside`, one after the other for each benchmark.
async fn side_by_side(
    ctx: &Context,
    args: &BenchArgs,
    build: &images::BuildOptions,
    plan: bench::Plan,
    beside: &str,
) -> Result<ExitCode> {
    // preflight refused the benchmarks and --platform that --beside cannot
    // take.
    let other = crate::runtime::connect_given(beside, "--beside").await?;
    crate::images::ensure(other.as_ref(), &ctx.templates, build, false, &ctx.progress).await?;
    let engines = [&ctx.runtime, &other];
    let mut reports = [bench::Report::default(), bench::Report::default()];
    for name in &plan.names {
        for (i, runtime) in engines.iter().enumerate() {
            let one = bench::Plan {
                names: vec![*name],
                engine_host: (i == 1).then(|| beside.to_string()),
                charts: plan.charts.join(format!("engine-{}", i + 1)),
                ..plan.clone()
            };
            let report = bench::run(runtime, &one, &ctx.progress).await?;
            let mine = &mut reports[i];
            mine.machine.clone_from(&report.machine);
            mine.runs = report.runs;
            mine.cycles = report.cycles;
            mine.absorb(report);
        }
    }
    ctx.progress.finish();
    let [first, second] = reports;
    let side = bench::side::Side {
        runs: plan.runs,
        engines: [
            bench::side::EngineRun {
                engine: described(ctx.runtime.as_ref()).await,
                report: first,
            },
            bench::side::EngineRun {
                engine: described(other.as_ref()).await,
                report: second,
            },
        ],
    };
    let names: Vec<&str> = plan.names.iter().map(|n| n.as_str()).collect();
    let command = format!(
        "labctl bench {} --runs {} --beside {beside}",
        names.join(" "),
        plan.runs
    );
    match args.format {
        BenchFormat::Json => crate::outln!("{}", serde_json::to_string_pretty(&side)?)?,
        BenchFormat::Markdown | BenchFormat::Table => {
            crate::output::write_out(format_args!("{}", bench::side::markdown(&side, &command)))?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An engine in words: what it is and where.
async fn described(runtime: &dyn crate::runtime::Runtime) -> String {
    match runtime.info().await {
        Ok(i) => format!("{} {} at `{}`", i.product, i.version, runtime.address()),
        Err(_) => format!("the engine at `{}`", runtime.address()),
    }
}
