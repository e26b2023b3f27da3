//! `labctl up`: build what is missing, start the lab, wait until it serves.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::UpArgs;
use crate::runner::Subject;
use crate::service::{Prepare, UpOptions};

pub(super) async fn run(ctx: &Context, lab: &dyn Subject, args: &UpArgs) -> Result<ExitCode> {
    let build = args.build.options();
    let prepare = Prepare {
        build: &build,
        templates: &ctx.templates,
        replaces_lab: false,
    };
    let foreign = lab.prepare(&prepare, &ctx.progress).await?;
    let opts = UpOptions {
        webapps: args.webapps,
        stage: args.stage,
        place: crate::service::Placement {
            stats_auth: args.stats_auth.clone(),
            registry: args.registry.clone(),
            foreign,
            ..args.place.placement()
        },
        wait: args.wait.limit(),
    };
    let said = lab.up(&opts, &ctx.progress).await?;
    ctx.progress.finish();
    for line in said {
        crate::outln!("{line}")?;
    }
    Ok(ExitCode::SUCCESS)
}
