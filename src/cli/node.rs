//! The node side's verbs, run inside the lab's containers.

use clap::Subcommand;

/// The node side's verbs.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// The containers' entrypoint: start the services of the lab stage.
    Init,
    /// Serf event handler on `ha`.
    OnEvent,
    /// Watch Serf's member list on `ha` and reconcile on every change.
    Watch {
        /// Polling interval.
        #[arg(long, default_value_t = 25, value_name = "MS")]
        interval_ms: u64,
    },
    /// Render HAProxy's configuration from `/nodes`.
    RenderConfig {
        /// Only when there is no configuration yet.
        #[arg(long)]
        if_missing: bool,
    },
    /// Mark a web app as leaving: `ha` takes it out of its backends at
    /// once, before its Serf agent's leave reaches it.
    Drain {
        /// The node name.
        name: String,
    },
    /// Print this node's address on the lab's network (the interface in
    /// `LABCTL_SUBNET`): what its Serf agent advertises on a Swarm, where
    /// a task has several networks.
    Address,
    /// A web app's graceful stop (its supervisor's SIGTERM handler on a
    /// Swarm): `ha` takes it out of rotation first, then its services stop.
    Retire,
    /// Print HAProxy's backend servers as JSON.
    Backends,
    /// Print HAProxy's statistics CSV.
    Stat,
    /// Send one command to HAProxy's runtime API (`show servers state`, …)
    /// and print its answer; `--master` sends it to the master CLI.
    Api {
        /// The command, as HAProxy's management guide writes it.
        #[arg(required = true, num_args = 1.., value_name = "WORD")]
        command: Vec<String>,
        /// Send it to the master CLI (`show proc`, `reload`).
        #[arg(long)]
        master: bool,
    },
    /// GET a path of one of this node's ports, `--count` times, each once
    /// over a new connection; print the answers as JSON (how labctl reaches
    /// the lab through the engine).
    Get {
        /// The port on this node (80: HAProxy, 1936: its stats page).
        #[arg(long)]
        port: u16,
        /// How many requests.
        #[arg(long, default_value_t = 1)]
        count: u32,
        /// Basic credentials, `user:password`.
        #[arg(long)]
        auth: Option<String>,
        /// The path (`/`, `/;csv`).
        #[arg(default_value = "/")]
        path: String,
    },
    /// Serve the web app.
    Webapp {
        /// Port to listen on.
        #[arg(long, default_value_t = crate::naming::WEBAPP_PORT)]
        port: u16,
    },
}
