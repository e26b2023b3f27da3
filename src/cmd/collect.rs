//! `labctl run FILE` and `labctl collect TASK...`: scenarios on a fresh lab,
//! their snapshots in `logs/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};

use super::Context;
use crate::cli::{CollectArgs, RunArgs, ScenarioTarget};
use crate::runner::{self, Report, Subject};
use crate::scenario::{self, Scenario};
use crate::screenshot::Screenshots;
use crate::service::{Placement, Prepare};

pub(super) async fn run_file(ctx: &Context, lab: &dyn Subject, args: &RunArgs) -> Result<ExitCode> {
    let name = args.file.display().to_string();
    let text = scenario::read(&args.file).map_err(crate::usage::usage)?;
    let scenario = scenario::parse(&name, &text)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| runner::default_out(&scenario.name));
    run_all(
        ctx,
        lab,
        &[(scenario, out)],
        &args.target,
        args.junit.as_deref(),
    )
    .await
}

pub(super) async fn run_tasks(
    ctx: &Context,
    lab: &dyn Subject,
    args: &CollectArgs,
) -> Result<ExitCode> {
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
    run_all(ctx, lab, &runs, &args.target, args.junit.as_deref()).await
}

async fn run_all(
    ctx: &Context,
    lab: &dyn Subject,
    runs: &[(Scenario, PathBuf)],
    on: &ScenarioTarget,
    junit: Option<&Path>,
) -> Result<ExitCode> {
    // Every step of every scenario is checked before anything is touched
    // (a Swarm refuses the steps it decides itself).
    for (scenario, _) in runs {
        runner::refused(lab, scenario)?;
    }
    let build = on.build.options();
    let prepare = Prepare {
        build: &build,
        templates: &ctx.templates,
        replaces_lab: true,
    };
    let foreign = lab.prepare(&prepare, &ctx.progress).await?;
    let place = Placement {
        registry: on.registry.clone(),
        foreign,
        ..on.place.placement()
    };
    let shots = Screenshots {
        templates: &ctx.templates,
        build: &build,
        progress: &ctx.progress,
    };
    let mut reports: Vec<Report> = Vec::new();
    for (scenario, out) in runs {
        let report = runner::run(lab, &place, &shots, scenario, out, &ctx.progress).await?;
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
