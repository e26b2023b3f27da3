//! `labctl build`: build the lab's images.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::BuildArgs;
use crate::images::{self, Role};

pub(super) async fn run(ctx: &Context, args: &BuildArgs) -> Result<ExitCode> {
    let runtime = ctx.runtime.as_ref();
    let build = args.options();
    images::ensure(runtime, &ctx.templates, &build, true, &ctx.progress).await?;
    ctx.progress.finish();
    let foreign = images::foreign_arch(runtime, &build).await?;
    for role in Role::ALL {
        let image = images::image_name(role, foreign);
        let size = runtime.image_size(&image).await?;
        crate::outln!("{image:<22} {:>6.1} MB", size as f64 / 1e6)?;
    }
    Ok(ExitCode::SUCCESS)
}
