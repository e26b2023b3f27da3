//! `labctl exec NODE -- CMD...`: run a command inside a node.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::Context;
use crate::cli::ExecArgs;

pub async fn run(ctx: &Context, args: &ExecArgs) -> Result<ExitCode> {
    let node = ctx.lab.node(&args.node).await?;
    if !node.state.is_running() {
        bail!(
            "node `{}` is {}, not running; `labctl up` starts it again (the lab keeps its size)",
            args.node,
            node.state
        );
    }
    let cmd: Vec<&str> = args.cmd.iter().map(String::as_str).collect();
    let out = ctx.lab.exec(&args.node, &cmd).await?;
    std::io::stdout().write_all(out.stdout.as_bytes())?;
    std::io::stderr().write_all(out.stderr.as_bytes())?;
    Ok(ExitCode::from(u8::try_from(out.code).unwrap_or(1)))
}
