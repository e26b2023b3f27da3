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
    images::ensure(
        ctx.lab.runtime().as_ref(),
        &ctx.templates,
        &args.build,
        false,
        &ctx.progress,
    )
    .await?;
    let request = UpRequest {
        subnet: args.place.subnet,
        publish,
        webapps: args.webapps,
        stage: crate::stage::Stage::new(args.stage)?,
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
