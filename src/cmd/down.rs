//! `labctl down [--all]`: remove everything the lab (or every lab)
//! created.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::runner::Subject;

/// Says what was removed. The removal is done whatever becomes of the
/// line, so a closed stdout is no failure here.
fn say(lab: &str, removed: &[String]) {
    let _ = if removed.is_empty() {
        crate::outln!("lab `{lab}` has nothing to remove")
    } else {
        crate::outln!("removed {}", removed.join(", "))
    };
}

pub(super) async fn run(ctx: &Context, lab: &dyn Subject) -> Result<ExitCode> {
    let removed = lab.down(&ctx.progress).await?;
    ctx.progress.finish();
    say(lab.names().lab(), &removed);
    Ok(ExitCode::SUCCESS)
}

/// `down --all`: every lab of containers on the engine.
pub(super) async fn all(ctx: &Context) -> Result<ExitCode> {
    let results = crate::lab::down_all(&ctx.runtime, &ctx.progress).await?;
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
