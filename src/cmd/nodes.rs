//! `labctl start|stop|restart|kill NODE…`: what the scenario steps do, by
//! hand, under the lab's lock.

use std::process::ExitCode;

use anyhow::Result;

use super::Context;
use crate::cli::{KillArgs, NodesArgs};

/// How long a stopping node gets before SIGKILL.
const STOP_TIMEOUT_S: i32 = 10;

/// Every node named must exist before any is touched (`start` may create a
/// new web app, so it checks as it goes).
async fn check_known(ctx: &Context, nodes: &[String]) -> Result<()> {
    let obs = ctx.lab.observe().await?;
    for node in nodes {
        obs.node(node)?;
    }
    Ok(())
}

pub async fn start(ctx: &Context, args: &NodesArgs) -> Result<ExitCode> {
    let _lock = ctx.lab.lock(&ctx.progress).await?;
    for node in &args.nodes {
        ctx.lab.start_node(node, &ctx.progress).await?;
        crate::outln!("started {node}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn stop(ctx: &Context, args: &NodesArgs) -> Result<ExitCode> {
    let _lock = ctx.lab.lock(&ctx.progress).await?;
    check_known(ctx, &args.nodes).await?;
    for node in &args.nodes {
        ctx.lab
            .stop_node(node, STOP_TIMEOUT_S, &ctx.progress)
            .await?;
        crate::outln!("stopped {node}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn restart(ctx: &Context, args: &NodesArgs) -> Result<ExitCode> {
    let _lock = ctx.lab.lock(&ctx.progress).await?;
    check_known(ctx, &args.nodes).await?;
    for node in &args.nodes {
        ctx.lab
            .restart_node(node, STOP_TIMEOUT_S, &ctx.progress)
            .await?;
        crate::outln!("restarted {node}")?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn kill(ctx: &Context, args: &KillArgs) -> Result<ExitCode> {
    let _lock = ctx.lab.lock(&ctx.progress).await?;
    check_known(ctx, &args.nodes).await?;
    for node in &args.nodes {
        ctx.lab.kill_node(node, &args.signal, &ctx.progress).await?;
        crate::outln!("sent {} to {node}", args.signal)?;
    }
    Ok(ExitCode::SUCCESS)
}
