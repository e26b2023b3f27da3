//! `labctl bench`: print the lab's figures.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::bench;
use crate::cli::{BenchArgs, BenchFormat};
use crate::images;

pub async fn run(ctx: &Context, args: &BenchArgs) -> Result<ExitCode> {
    let names: Vec<String> = if args.names.is_empty() {
        bench::ALL.iter().map(|s| (*s).to_string()).collect()
    } else {
        args.names.clone()
    };
    for n in &names {
        anyhow::ensure!(
            bench::ALL.contains(&n.as_str()),
            "unknown benchmark `{n}`: choose among {}",
            bench::ALL.join(", ")
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
    let plan = bench::Plan {
        names: names.clone(),
        runs: args.runs.max(1),
        cycles: args.cycles.max(1),
        scale_to: args.scale_to,
        charts: args.charts.clone(),
    };
    let report = bench::run(ctx.lab.runtime(), &plan, &ctx.progress).await?;
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
        BenchFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        BenchFormat::Markdown => print!("{}", bench::markdown(&report, &command)),
        BenchFormat::Table => println!("{}", bench::text(&report)),
    }
    Ok(ExitCode::SUCCESS)
}
