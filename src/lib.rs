//! labctl: builds, runs, scales and inspects the "Docker and dynamic scaling"
//! lab on a Docker Engine, and is the node side inside the lab's containers.

#![warn(unreachable_pub)]

mod agent;
mod base_image;
pub mod bench;
pub mod cli;
mod cluster;
mod cmd;
mod contract;
mod doctor;
mod fnv;
mod host;
pub mod http;
pub mod images;
pub mod lab;
mod lab_report;
pub mod labels;
pub mod lock;
pub mod naming;
mod neighbours;
mod node;
pub mod output;
pub mod platform;
mod reach;
pub mod runner;
pub mod runtime;
pub mod scenario;
pub mod screenshot;
pub mod service;
pub mod stage;
mod stats;
mod swarm;
pub mod templates;
mod terminal;
pub mod usage;
mod writable;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};

use cli::{Cli, Command, NodeCommand};

/// Exit code of a command cut short by Ctrl-C.
const EXIT_INTERRUPTED: u8 = 130;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Node(node) = cli.command {
        return run_node(node);
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let result = tokio::select! {
            result = cmd::run(cli) => result,
            _ = tokio::signal::ctrl_c() => {
                crate::errln!(
                    "interrupted: what was started keeps running; run the same command again to \
                     converge, or `labctl down` to remove the lab"
                );
                Ok(ExitCode::from(EXIT_INTERRUPTED))
            }
        };
        // The claims this command let go of leave the engine before it ends.
        lock::settle().await;
        result
    })
}

fn run_node(command: NodeCommand) -> Result<ExitCode> {
    match command {
        NodeCommand::Init => node::init()?,
        NodeCommand::OnEvent => node::on_event()?,
        NodeCommand::Watch { interval_ms } => {
            node::watch(Duration::from_millis(interval_ms.max(10)))?
        }
        NodeCommand::RenderConfig { if_missing } => node::render_config(if_missing)?,
        NodeCommand::Drain { name } => {
            node::leaving::mark(&node::reconcile::Layout::default(), &name)?;
        }
        NodeCommand::Address => node::swarm::print_address()?,
        NodeCommand::Retire => node::swarm::retire()?,
        NodeCommand::Backends => node::print_backends()?,
        NodeCommand::Get {
            port,
            count,
            auth,
            path,
        } => node::get::run(port, &path, auth.as_deref(), count)?,
        NodeCommand::Stat => node::print_stat()?,
        NodeCommand::Api { command, master } => {
            let socket = if master {
                node::haproxy::MASTER_SOCKET
            } else {
                node::haproxy::ADMIN_SOCKET
            };
            print!("{}", node::haproxy::command(socket, &command.join(" "))?);
        }
        NodeCommand::Webapp { port } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            runtime.block_on(node::webapp::serve(port, node::webapp_identity()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
