//! The host-side verbs, one file each; this file dispatches to them.

mod bench;
mod build;
mod cluster;
mod collect;
mod doctor;
mod down;
mod events;
mod exec;
mod logs;
mod ls;
mod nodes;
mod preflight;
mod ps;
mod scale;
mod status;
mod swarm;
mod up;
mod validate;

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::lab::Lab;
use crate::naming::LabNames;
use crate::output::Progress;
use crate::templates::Templates;

/// What every verb gets: the checked global options and a connection.
pub struct Context {
    /// The lab acted on.
    pub lab: Lab,
    /// Progress reporting.
    pub progress: Progress,
    /// The templates in force.
    pub templates: Templates,
}

/// `labctl report`: no engine needed.
fn report(args: &crate::cli::ReportArgs) -> Result<ExitCode> {
    let written = crate::lab_report::write(&args.logs, &args.out, args.force)?;
    if let Some(backup) = &written.backup {
        crate::errln!("the file that was there is kept as {}", backup.display());
    }
    for part in &written.edited {
        crate::errln!(
            "labctl's part `{part}` was edited by hand and is kept as it is; delete every line \
             between its two marker lines to have labctl fill it again"
        );
    }
    crate::outln!("wrote {}", written.file.display())?;
    Ok(ExitCode::SUCCESS)
}

/// Runs a host-side verb.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Validate(args) => return validate::run(args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command, "labctl", &mut script);
            crate::output::write_bytes(&script)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Report(args) => return report(args),
        Command::Doctor(args) => {
            crate::naming::LabNames::new(&cli.global.lab).map_err(crate::usage::usage)?;
            return doctor::run(&cli.global, args).await;
        }
        Command::Cluster(args) => return cluster::run(&cli.global, args).await,
        Command::Man => {
            let command = <Cli as clap::CommandFactory>::command();
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            crate::output::write_bytes(&page)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    preflight::check(&cli)?;
    let names = LabNames::new(&cli.global.lab)?;
    let templates = Templates::load(cli.global.templates.as_deref())?;
    let progress = Progress::new(cli.global.quiet);
    let runtime = crate::runtime::connect().await?;
    let ctx = Context {
        lab: Lab::new(runtime, names),
        progress,
        templates,
    };
    match cli.command {
        Command::Build(args) => build::run(&ctx, &args).await,
        Command::Up(args) => up::run(&ctx, &args).await,
        Command::Scale(args) => scale::run(&ctx, &args).await,
        Command::Ps(args) => ps::run(&ctx, &args).await,
        Command::Status(args) => status::run(&ctx, &args).await,
        Command::Logs(args) => logs::run(&ctx, &args).await,
        Command::Exec(args) => exec::run(&ctx, &args).await,
        Command::Down(args) => down::run(&ctx, &args).await,
        Command::Start(args) => nodes::start(&ctx, &args).await,
        Command::Stop(args) => nodes::stop(&ctx, &args).await,
        Command::Restart(args) => nodes::restart(&ctx, &args).await,
        Command::Kill(args) => nodes::kill(&ctx, &args).await,
        Command::Ls(args) => ls::run(&ctx, &args).await,
        Command::Events(args) => events::run(&ctx, &args).await,
        Command::Run(args) => collect::run_file(&ctx, &args).await,
        Command::Collect(args) => collect::run_tasks(&ctx, &args).await,
        Command::Bench(args) => bench::run(&ctx, &args).await,
        Command::Validate(_)
        | Command::Completions(_)
        | Command::Man
        | Command::Doctor(_)
        | Command::Cluster(_)
        | Command::Report(_) => {
            unreachable!("these run without an engine")
        }
        Command::Node(_) => unreachable!("node commands run without an engine"),
    }
}
