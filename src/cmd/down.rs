//! `labctl down`: remove everything the lab created.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;

pub async fn run(ctx: &Context) -> Result<ExitCode> {
    let removed = ctx.lab.down(&ctx.progress).await?;
    ctx.progress.finish();
    if removed.is_empty() {
        println!("lab `{}` has nothing to remove", ctx.lab.names().lab());
    } else {
        println!("removed {}", removed.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}
