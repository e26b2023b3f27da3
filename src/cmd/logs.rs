//! `labctl logs NODE`: a node's output.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::LogsArgs;

pub async fn run(ctx: &Context, args: &LogsArgs) -> Result<ExitCode> {
    ctx.lab.node(&args.node).await?;
    let tail = args
        .tail
        .map_or_else(|| "all".to_string(), |n| n.to_string());
    let text = ctx.lab.logs(&args.node, &tail).await?;
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
