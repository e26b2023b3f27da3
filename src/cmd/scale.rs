//! `labctl scale webapp=N`: add or remove web apps, gracefully.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::Context;
use crate::cli::{ScaleArgs, WaitArgs};

pub async fn run(ctx: &Context, args: &ScaleArgs) -> Result<ExitCode> {
    ctx.lab.scale(args.target, &ctx.progress).await?;
    converge(ctx, args.target, &args.wait).await?;
    ctx.progress.finish();
    println!(
        "lab `{}`: {} web app(s)",
        ctx.lab.names().lab(),
        args.target
    );
    Ok(ExitCode::SUCCESS)
}

/// Waits (unless told not to) until HAProxy serves exactly `wanted` web
/// apps, then removes the ones that left.
pub async fn converge(ctx: &Context, wanted: u32, wait: &WaitArgs) -> Result<()> {
    if !wait.no_wait {
        let took = ctx
            .lab
            .wait_converged(wanted, Duration::from_secs(wait.timeout), &ctx.progress)
            .await?;
        ctx.progress.info(format!(
            "HAProxy serves {wanted} web app(s), all UP ({:.1} s)",
            took.as_secs_f64()
        ));
    }
    ctx.lab.finish_scale(wanted, &ctx.progress).await
}
