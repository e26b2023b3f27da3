//! `labctl scale webapp=N`: add or remove web apps, gracefully.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::Context;
use crate::cli::ScaleArgs;

pub async fn run(ctx: &Context, args: &ScaleArgs) -> Result<ExitCode> {
    let _lock = ctx.lab.lock(&ctx.progress).await?;
    ctx.lab.scale(args.target, &ctx.progress).await?;
    if let Some(took) = ctx
        .lab
        .converge(args.target, args.wait.limit(), &ctx.progress)
        .await?
    {
        say_served(ctx, args.target, took);
    }
    ctx.progress.finish();
    println!(
        "lab `{}`: {} web app(s)",
        ctx.lab.names().lab(),
        args.target
    );
    Ok(ExitCode::SUCCESS)
}

/// Says that the lab serves what it should, and how long that took.
pub fn say_served(ctx: &Context, webapps: u32, took: Duration) {
    ctx.progress.info(format!(
        "HAProxy serves {webapps} web app(s), all UP ({:.1} s)",
        took.as_secs_f64()
    ));
}
