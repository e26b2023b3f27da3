//! `labctl down [--all]`: remove everything the lab (or every lab)
//! created.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::DownArgs;

/// Says what was removed. The removal is done whatever becomes of the
/// line, so a closed stdout is no failure here.
fn say(lab: &str, removed: &[String]) {
    let _ = if removed.is_empty() {
        crate::outln!("lab `{lab}` has nothing to remove")
    } else {
        crate::outln!("removed {}", removed.join(", "))
    };
}

pub async fn run(ctx: &Context, args: &DownArgs) -> Result<ExitCode> {
    if !args.all {
        if let Some(lab) = super::swarm::find(ctx).await? {
            return super::swarm::down(ctx, &lab, args).await;
        }
    }
    if !args.all {
        let removed = ctx.lab.down(&ctx.progress).await?;
        ctx.progress.finish();
        say(ctx.lab.names().lab(), &removed);
        return Ok(ExitCode::SUCCESS);
    }
    let results = crate::lab::down_all(ctx.lab.runtime(), &ctx.progress).await?;
    ctx.progress.finish();
    if results.is_empty() {
        crate::outln!("no lab to remove")?;
    }
    let mut code = ExitCode::SUCCESS;
    for (lab, result) in results {
        match result {
            Ok(removed) => say(&lab, &removed),
            // The other labs are removed all the same.
            Err(e) => {
                crate::errln!("error: {e:#}");
                code = ExitCode::FAILURE;
            }
        }
    }
    Ok(code)
}
