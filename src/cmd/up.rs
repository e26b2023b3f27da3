//! `labctl up`: build what is missing, start the lab, wait until it serves.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::UpArgs;
use crate::images;
use crate::lab::{Publish, UpRequest};

pub async fn run(ctx: &Context, args: &UpArgs) -> Result<ExitCode> {
    // A lab that runs on this engine's Swarm stays there.
    if args.engine == crate::cli::Engine::Swarm || super::swarm::find(ctx).await?.is_some() {
        return super::swarm::up(ctx, args).await;
    }
    let publish = Publish {
        stats_auth: args.stats_auth.clone(),
        ..args.place.publish(ctx.lab.names())
    };
    // A lab that is up keeps its platform unless --platform names one; a
    // lab that runs another platform is refused before anything is built.
    let running = ctx.lab.observe().await?.foreign_arch();
    let mut build = args.build.clone();
    if build.platform.is_none() {
        build.platform = running.map(crate::platform::Platform::linux);
    }
    let foreign = images::foreign_arch(ctx.lab.runtime().as_ref(), &build).await?;
    ctx.lab.check_platform(foreign).await?;
    images::ensure(
        ctx.lab.runtime().as_ref(),
        &ctx.templates,
        &build,
        false,
        &ctx.progress,
    )
    .await?;
    let request = UpRequest {
        subnet: args.place.subnet,
        publish,
        webapps: args.webapps,
        stage: crate::stage::Stage::new(args.stage)?,
        foreign,
    };
    ctx.lab
        .up_and_wait(&request, args.wait.limit(), &ctx.progress)
        .await?;
    ctx.progress.finish();
    super::ps::print_endpoints(ctx).await?;
    let outdated = ctx.lab.outdated().await?;
    if !outdated.is_empty() {
        crate::errln!(
            "note: {} run(s) an older image than the one just built; `labctl down` then \
             `labctl up` starts them on the new one",
            outdated.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
