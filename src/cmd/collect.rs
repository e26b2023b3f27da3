//! `labctl run FILE` and `labctl collect TASK...`: scenarios on a fresh lab,
//! their snapshots in `logs/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::{CollectArgs, RunArgs, ScenarioTarget};
use crate::images;
use crate::runner::{self, OnEngine, Report, Subject};
use crate::scenario::{self, Scenario};
use crate::screenshot::Screenshots;

pub async fn run_file(ctx: &Context, args: &RunArgs) -> Result<ExitCode> {
    let name = args.file.display().to_string();
    let text = scenario::read(&args.file).map_err(crate::usage::usage)?;
    let scenario = scenario::parse(&name, &text)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| runner::default_out(&scenario.name));
    run_all(ctx, &[(scenario, out)], &args.target, args.junit.as_deref()).await
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
    run_all(ctx, &runs, &args.target, args.junit.as_deref()).await
}

async fn run_all(
    ctx: &Context,
    runs: &[(Scenario, PathBuf)],
    on: &ScenarioTarget,
    junit: Option<&Path>,
) -> Result<ExitCode> {
    let shots = Screenshots {
        templates: &ctx.templates,
        build: &on.build,
        progress: &ctx.progress,
    };
    // A lab on the Swarm (asked for, or running there) runs the scenarios
    // whose steps the Swarm allows; every step is checked before anything
    // is touched. The Swarm's nodes hold the lab's images already.
    let swarm = super::swarm::scenario_lab(ctx, on.engine, &on.place, on.registry.clone()).await?;
    let one = OnEngine {
        foreign: images::foreign_arch(ctx.lab.runtime().as_ref(), &on.build).await?,
        lab: &ctx.lab,
        subnet: on.place.subnet,
        publish: on.place.publish(ctx.lab.names()),
    };
    let lab: &dyn Subject = match &swarm {
        Some(s) => s,
        None => &one,
    };
    for (scenario, _) in runs {
        runner::refused(lab, scenario)?;
    }
    if swarm.is_none() {
        images::ensure(
            ctx.lab.runtime().as_ref(),
            &ctx.templates,
            &on.build,
            false,
            &ctx.progress,
        )
        .await?;
    }
    let mut reports: Vec<Report> = Vec::new();
    for (scenario, out) in runs {
        let report = runner::run(lab, &shots, scenario, out, &ctx.progress).await?;
        let passed = report.passed();
        if passed {
            crate::outln!(
                "{}: passed; files in {}/ (see INDEX.md)",
                scenario.name,
                out.display()
            )?;
        } else if let Some(step) = report.steps.last() {
            crate::outln!(
                "{}: FAILED at step {}: {}\n  files of the failed run: {}.failed/",
                scenario.name,
                step.name,
                step.failure.as_deref().unwrap_or(""),
                out.display()
            )?;
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
