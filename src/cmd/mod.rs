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
mod scale;
mod up;
mod validate;

use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Result;

use crate::cli::{Cli, Command, Format, LabKind};
use crate::images::BuildOptions;
use crate::naming::LabNames;
use crate::output::Progress;
use crate::runtime::Runtime;
use crate::service::View;
use crate::templates::Templates;

/// What every verb gets: the checked global options and a connection.
pub(crate) struct Context {
    /// The engine.
    pub runtime: Arc<dyn Runtime>,
    /// The lab's names.
    pub names: LabNames,
    /// Progress reporting.
    pub progress: Progress,
    /// The templates in force.
    pub templates: Templates,
}

impl Context {
    /// Builds the lab's images where they are missing or out of date.
    pub(crate) async fn ensure_images(&self, build: &BuildOptions) -> Result<()> {
        crate::images::ensure(
            self.runtime.as_ref(),
            &self.templates,
            build,
            false,
            &self.progress,
        )
        .await
    }
}

/// Prints a listing in the format asked for.
fn print_view(view: &View, format: Format) -> Result<()> {
    match format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&view.json)?)?,
        Format::Table => {
            let text = view.table.strip_suffix('\n').unwrap_or(&view.table);
            crate::outln!("{text}")?;
        }
    }
    Ok(())
}

/// Whether `command` changes one lab (and so waits for its lock).
fn changes_the_lab(command: &Command) -> bool {
    matches!(
        command,
        Command::Scale(_)
            | Command::Down(_)
            | Command::Start(_)
            | Command::Stop(_)
            | Command::Restart(_)
            | Command::Kill(_)
    )
}

/// The kind of lab a command line asks for, when the lab is not up yet.
fn kind_wanted(command: &Command) -> LabKind {
    match command {
        Command::Up(args) => args.kind,
        Command::Run(args) => args.target.kind,
        Command::Collect(args) => args.target.kind,
        _ => LabKind::Docker,
    }
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
pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
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
        runtime,
        names,
        progress,
        templates,
    };
    // The verbs on no one lab.
    match &cli.command {
        Command::Build(args) => return build::run(&ctx, args).await,
        Command::Ls(args) => return ls::run(&ctx, args).await,
        Command::Bench(args) => return bench::run(&ctx, args).await,
        Command::Down(args) if args.all => return down::all(&ctx).await,
        _ => {}
    }
    // The lab's kind is decided here, once; every verb below has one body.
    let wanted = kind_wanted(&cli.command);
    let mut lab = crate::service::open(ctx.runtime.clone(), ctx.names.clone(), wanted).await?;
    // A verb that changes the lab decides its kind once it holds the lab's
    // lock: a command that was making the lab meanwhile (a scenario
    // starting it on the Swarm) has made it by then.
    let _held = if changes_the_lab(&cli.command) {
        let held = lab.hold(&ctx.progress).await?;
        lab = crate::service::open(ctx.runtime.clone(), ctx.names.clone(), wanted).await?;
        Some(held)
    } else {
        None
    };
    let lab = lab.as_ref();
    match cli.command {
        Command::Up(args) => up::run(&ctx, lab, &args).await,
        Command::Scale(args) => scale::run(&ctx, lab, &args).await,
        Command::Ps(args) => print_view(&lab.ps().await?, args.format).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => {
            print_view(&lab.status().await?, args.format).map(|()| ExitCode::SUCCESS)
        }
        Command::Logs(args) => logs::run(lab, &args).await,
        Command::Exec(args) => exec::run(lab, &args).await,
        Command::Down(_) => down::run(&ctx, lab).await,
        Command::Start(args) => nodes::start(&ctx, lab, &args).await,
        Command::Stop(args) => nodes::stop(&ctx, lab, &args).await,
        Command::Restart(args) => nodes::restart(&ctx, lab, &args).await,
        Command::Kill(args) => nodes::kill(&ctx, lab, &args).await,
        Command::Events(args) => events::run(lab, &args).await,
        Command::Run(args) => collect::run_file(&ctx, lab, &args).await,
        Command::Collect(args) => collect::run_tasks(&ctx, lab, &args).await,
        Command::Build(_) | Command::Ls(_) | Command::Bench(_) => {
            unreachable!("these act on no one lab")
        }
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
