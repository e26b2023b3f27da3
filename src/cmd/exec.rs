//! `labctl exec [-it] NODE [--] CMD...`: run a command inside a node, as
//! `docker exec` does: stdin attached, output as it comes, a TTY when this
//! is a terminal, the command's exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ExecArgs;
use crate::runner::Subject;

pub(super) async fn run(lab: &dyn Subject, args: &ExecArgs) -> Result<ExitCode> {
    let tty = args.tty
        || (!args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let cmd: Vec<&str> = args.cmd.iter().map(String::as_str).collect();
    let code = lab.exec_attached(&args.node, &cmd, tty).await?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
