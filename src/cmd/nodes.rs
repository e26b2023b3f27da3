//! `labctl start|stop|restart|kill NODE…`: what the scenario steps do, by
//! hand, under the lab's lock.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use super::Context;
use crate::cli::{KillArgs, NodesArgs};
use crate::runner::Subject;

/// How long a stopping node gets before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn start(ctx: &Context, lab: &dyn Subject, args: &NodesArgs) -> Result<ExitCode> {
    // `start` may create a new web app, so it checks as it goes.
    let _hold = lab.hold(&ctx.progress).await?;
    for node in &args.nodes {
        lab.start_node(node, &ctx.progress).await?;
        crate::outln!("started {node}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn stop(ctx: &Context, lab: &dyn Subject, args: &NodesArgs) -> Result<ExitCode> {
    // Every node named must exist before any is touched.
    let _hold = lab.hold(&ctx.progress).await?;
    lab.check_nodes(&args.nodes).await?;
    for node in &args.nodes {
        lab.stop_node(node, STOP_TIMEOUT, &ctx.progress).await?;
        crate::outln!("stopped {node}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn restart(
    ctx: &Context,
    lab: &dyn Subject,
    args: &NodesArgs,
) -> Result<ExitCode> {
    let _hold = lab.hold(&ctx.progress).await?;
    lab.check_nodes(&args.nodes).await?;
    for node in &args.nodes {
        lab.restart_node(node, STOP_TIMEOUT, &ctx.progress).await?;
        crate::outln!("restarted {node}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn kill(ctx: &Context, lab: &dyn Subject, args: &KillArgs) -> Result<ExitCode> {
    let _hold = lab.hold(&ctx.progress).await?;
    lab.check_nodes(&args.nodes).await?;
    for node in &args.nodes {
        lab.kill_node(node, &args.signal, &ctx.progress).await?;
        crate::outln!("sent {} to {node}", args.signal)?;
    }
    Ok(ExitCode::SUCCESS)
}
