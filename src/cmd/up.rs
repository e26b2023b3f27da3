//! `labctl up`: build what is missing, start the lab, wait until it serves.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::UpArgs;
use crate::images;
use crate::lab::Publish;

/// Web apps of a new lab, as in the lab's compose file.
const DEFAULT_WEBAPPS: u32 = 2;

pub async fn run(ctx: &Context, args: &UpArgs) -> Result<ExitCode> {
    let publish = Publish {
        stats_auth: args.stats_auth.clone(),
        ..Publish::defaults(ctx.lab.names(), args.bind, args.http_port, args.stats_port)
    };
    images::ensure(
        ctx.lab.engine(),
        &ctx.templates,
        &args.build,
        false,
        &ctx.progress,
    )
    .await?;
    // `up` on a lab that is up keeps its size: it never removes a web app
    // unless asked to with --webapps.
    let webapps = match args.webapps {
        Some(n) => n,
        None => ctx.lab.highest_webapp().await?.unwrap_or(DEFAULT_WEBAPPS),
    };
    ctx.lab
        .up(
            args.subnet,
            &publish,
            webapps,
            crate::stage::Stage::new(args.stage)?,
            &ctx.progress,
        )
        .await?;
    super::scale::converge(ctx, webapps, &args.wait).await?;
    ctx.progress.finish();
    super::ps::print_endpoints(ctx).await?;
    let outdated = ctx.lab.outdated().await?;
    if !outdated.is_empty() {
        eprintln!(
            "note: {} run(s) an older image than the one just built; `labctl down` then \
             `labctl up` starts them on the new one",
            outdated.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
