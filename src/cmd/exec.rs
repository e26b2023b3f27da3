//! `labctl exec [-it] NODE [--] CMD...`: run a command inside a node, as
//! `docker exec` does: stdin attached, output as it comes, a TTY when this
//! is a terminal, the command's exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Result};

use super::Context;
use crate::cli::ExecArgs;

pub async fn run(ctx: &Context, args: &ExecArgs) -> Result<ExitCode> {
    if let Some(lab) = super::swarm::find(ctx).await? {
        return super::swarm::exec(&lab, args).await;
    }
    let node = ctx.lab.node(&args.node).await?;
    if !node.state.is_running() {
        bail!(
            "node `{}` is {}, not running; `labctl start {}` starts it again",
            args.node,
            node.state,
            args.node
        );
    }
    let tty = args.tty
        || (!args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let cmd: Vec<&str> = args.cmd.iter().map(String::as_str).collect();
    let code = ctx.lab.exec_attached(&args.node, &cmd, tty).await?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
