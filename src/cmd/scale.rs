//! `labctl scale webapp=N`: add or remove web apps, gracefully.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::ScaleArgs;
use crate::runner::Subject;
use crate::service::LabKind;

pub(super) async fn run(ctx: &Context, lab: &dyn Subject, args: &ScaleArgs) -> Result<ExitCode> {
    lab.scale(args.target, args.wait.limit(), &ctx.progress)
        .await?;
    ctx.progress.finish();
    crate::outln!(
        "lab `{}`: {} web app(s){}",
        lab.names().lab(),
        args.target,
        if lab.kind() == LabKind::Swarm {
            " on the Swarm"
        } else {
            ""
        }
    )?;
    Ok(ExitCode::SUCCESS)
}
