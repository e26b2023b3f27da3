//! `labctl scale webapp=N`: add or remove web apps, gracefully.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::ScaleArgs;

pub async fn run(ctx: &Context, args: &ScaleArgs) -> Result<ExitCode> {
    if let Some(lab) = super::swarm::find(ctx).await? {
        return super::swarm::scale(ctx, &lab, args).await;
    }
    let _lock = ctx.lab.lock(&ctx.progress).await?;
    ctx.lab.scale(args.target, &ctx.progress).await?;
    ctx.lab
        .converge(args.target, args.wait.limit(), &ctx.progress)
        .await?;
    ctx.progress.finish();
    crate::outln!(
        "lab `{}`: {} web app(s)",
        ctx.lab.names().lab(),
        args.target
    )?;
    Ok(ExitCode::SUCCESS)
}
