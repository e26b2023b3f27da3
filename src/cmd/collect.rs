//! `labctl run FILE` and `labctl collect TASK...`: scenarios on a fresh lab,
//! their snapshots in `logs/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::{BuildArgs, CollectArgs, RunArgs};
use crate::images;
use crate::runner::{self, Report};
use crate::scenario::{self, Scenario};
use crate::screenshot::Screenshots;

pub async fn run_file(ctx: &Context, args: &RunArgs) -> Result<ExitCode> {
    let name = args.file.display().to_string();
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading `{name}`"))?;
    let scenario = scenario::parse(&name, &text)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| runner::default_out(&scenario.name));
    run_all(ctx, &[(scenario, out)], &args.build, args.junit.as_deref()).await
}

pub async fn run_tasks(ctx: &Context, args: &CollectArgs) -> Result<ExitCode> {
    let mut wanted: Vec<&str> = Vec::new();
    for t in &args.tasks {
        if t == "all" {
            wanted.extend(scenario::BUILT_IN.iter().map(|(n, _)| *n));
        } else if let Some((n, _)) = scenario::BUILT_IN.iter().find(|(n, _)| n == t) {
            wanted.push(n);
        } else {
            bail!("unknown task `{t}`: use task0 … task6, or all (e.g. `labctl collect task5`)");
        }
    }
    wanted.dedup();
    let mut runs = Vec::new();
    for task in wanted {
        let (_, text) = scenario::BUILT_IN
            .iter()
            .find(|(n, _)| *n == task)
            .context("built-in scenario")?;
        let scenario = scenario::parse(&format!("scenarios/{task}.yaml"), text)?;
        runs.push((scenario, args.out_root.join(task)));
    }
    run_all(ctx, &runs, &args.build, args.junit.as_deref()).await
}

async fn run_all(
    ctx: &Context,
    runs: &[(Scenario, PathBuf)],
    build: &BuildArgs,
    junit: Option<&Path>,
) -> Result<ExitCode> {
    // Scenarios stop and start given nodes and capture containers: a lab on
    // one engine. Refused before anything is touched, the Swarm lab kept.
    if std::env::var("LABCTL_ENGINE").is_ok_and(|e| e == "swarm")
        || super::swarm::find(ctx).await?.is_some()
    {
        bail!(
            "lab `{}` runs on a Swarm here (or LABCTL_ENGINE=swarm): scenarios run a lab on one \
             engine (their steps stop and start given nodes, their snapshots capture containers \
             and fixed addresses); run them against an engine without a Swarm lab, or `labctl \
             down` the Swarm lab first",
            ctx.lab.names().lab()
        );
    }
    images::ensure(
        ctx.lab.runtime().as_ref(),
        &ctx.templates,
        build,
        false,
        &ctx.progress,
    )
    .await?;
    let shots = Screenshots {
        templates: &ctx.templates,
        build,
        progress: &ctx.progress,
    };
    let mut reports: Vec<Report> = Vec::new();
    for (scenario, out) in runs {
        let report = runner::run(&ctx.lab, &shots, scenario, out, &ctx.progress).await?;
        let passed = report.passed();
        if passed {
            println!(
                "{}: passed; files in {}/ (see INDEX.md)",
                scenario.name,
                out.display()
            );
        } else if let Some(step) = report.steps.last() {
            println!(
                "{}: FAILED at step {}: {}\n  files of the failed run: {}.failed/",
                scenario.name,
                step.name,
                step.failure.as_deref().unwrap_or(""),
                out.display()
            );
        }
        reports.push(report);
        if !passed {
            break;
        }
    }
    ctx.progress.finish();
    if let Some(path) = junit {
        std::fs::write(path, runner::junit(&reports))
            .with_context(|| format!("writing the JUnit report `{}`", path.display()))?;
    }
    Ok(
        if reports.iter().all(Report::passed) && reports.len() == runs.len() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
