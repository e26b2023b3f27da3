//! `labctl cluster` and the choice of engine.

use std::net::IpAddr;

use clap::{Args, Subcommand};
use ipnet::Ipv4Net;

use super::{BuildArgs, Format};

/// `cluster`'s arguments.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The cluster's name.
    #[arg(long, global = true, env = "LABCTL_CLUSTER", default_value = crate::cluster::plan::DEFAULT_CLUSTER, value_parser = super::parse::parse_cluster_name)]
    pub name: String,
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// `cluster`'s verbs.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Start a local Swarm: N containers running Docker's engine (node1
    /// manages), the lab's images loaded into each; prints the manager's
    /// DOCKER_HOST. Run again after `labctl build` to load new images.
    Up(ClusterUpArgs),
    /// Remove the local Swarm's nodes (and all they held) and its network.
    Down,
    /// List the local Swarms and their nodes.
    Ls {
        /// Output format.
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// `cluster up`'s arguments.
#[derive(Debug, Args)]
pub struct ClusterUpArgs {
    /// How many nodes: one manager and N-1 workers.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = super::parse::parse_cluster_nodes, allow_negative_numbers = true)]
    pub nodes: u32,

    /// The subnet of the nodes' own network on this host.
    #[arg(long, default_value = crate::cluster::plan::DEFAULT_SUBNET, value_parser = super::parse::parse_cluster_subnet)]
    pub subnet: Ipv4Net,

    /// Host address the manager's ports are published on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Host port of the manager's engine (DOCKER_HOST=tcp://BIND:PORT).
    #[arg(long, default_value_t = 2375, value_parser = super::parse::parse_port, allow_negative_numbers = true)]
    pub api_port: u16,

    /// Host port of the lab's port 80 (`ha` runs on the manager).
    #[arg(long, default_value_t = 80, value_parser = super::parse::parse_port, allow_negative_numbers = true)]
    pub http_port: u16,

    /// Host port of the lab's stats page.
    #[arg(long, default_value_t = crate::naming::STATS_PORT, value_parser = super::parse::parse_port, allow_negative_numbers = true)]
    pub stats_port: u16,

    /// Run an image registry beside the nodes (Debian's docker-registry):
    /// the lab's images are pushed to it once and the nodes pull them, in
    /// place of loading them into every node; `up --engine swarm
    /// --registry` then uses it.
    #[arg(long)]
    pub registry: bool,

    /// Host port of the registry (where this host's engine pushes).
    #[arg(long, default_value_t = 5000, requires = "registry", value_parser = super::parse::parse_port, allow_negative_numbers = true)]
    pub registry_port: u16,

    #[command(flatten)]
    pub build: BuildArgs,
}
