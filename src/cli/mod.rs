//! The command line: every verb, option and its help text.

mod args;
mod cluster;
mod node;
mod parse;

pub use args::{from_environment, parse};

pub use crate::service::LabKind;
pub use cluster::{ClusterArgs, ClusterCommand};
pub use node::NodeCommand;
pub use parse::{
    max_webapps, parse_bool, parse_duration, parse_node, parse_positive_duration,
    parse_scale_target, parse_signal, parse_stats_auth,
};

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::Ipv4Net;

/// Run the "Docker and dynamic scaling" lab: an HAProxy load balancer in front
/// of web apps that join and leave a Serf cluster on their own.
#[derive(Debug, Parser)]
#[command(name = "labctl", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every verb takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The lab to act on. `heig` runs under the lab's own names (network
    /// `heig`, containers `ha`, `s1`, …); any other name runs an isolated lab
    /// beside it (`NAME-heig`, `NAME-ha`, …).
    #[arg(long, global = true, env = "LABCTL_LAB", default_value = crate::naming::DEFAULT_LAB, value_parser = parse::parse_lab, allow_hyphen_values = true)]
    pub lab: String,

    /// Print nothing but results and errors (no progress).
    #[arg(long, short, global = true, env = "LABCTL_QUIET", value_parser = parse_bool, num_args = 0, default_missing_value = "true", default_value = "false")]
    pub quiet: bool,

    /// A directory whose files replace the embedded templates of the same
    /// path (e.g. `ha/haproxy.cfg.tera`). Default: `./templates` if present.
    #[arg(long, global = true, env = "LABCTL_TEMPLATES", value_name = "DIR", value_parser = parse::parse_existing_dir)]
    pub templates: Option<PathBuf>,

    /// Whether `--lab` was typed (not taken from `LABCTL_LAB` or the
    /// default).
    #[arg(skip)]
    pub lab_given: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the `ha` and `webapp` images (and the base image when it is
    /// missing and cannot be pulled).
    Build(BuildArgs),
    /// Start the lab (network `heig`, `ha`, `s1`..`sN`); returns when every
    /// web app is UP in HAProxy.
    Up(UpArgs),
    /// Add or remove web apps, e.g. `labctl scale webapp=5`; returns when
    /// HAProxy serves exactly the new set.
    Scale(ScaleArgs),
    /// List the lab's containers.
    Ps(FormatArgs),
    /// Per node: container state, address, Serf status and HAProxy state.
    Status(FormatArgs),
    /// Start nodes again (a stopped one), or a new web app (`s7`).
    Start(NodesArgs),
    /// Stop nodes (SIGTERM: a web app leaves the cluster gracefully).
    Stop(NodesArgs),
    /// Stop nodes, then start them again.
    Restart(NodesArgs),
    /// Send a signal to nodes (SIGKILL by default: a crash, Serf marks the
    /// node failed).
    Kill(KillArgs),
    /// Every lab on the engine: its web apps, stage and ports.
    Ls(FormatArgs),
    /// What happens in the lab as it happens: containers started and
    /// stopped, nodes joining, leaving or failing in Serf, servers UP or
    /// DOWN in HAProxy, reloads and refused configurations.
    Events(EventsArgs),
    /// Print nodes' logs (every node's when none is named, each line
    /// prefixed with its node); `-f` follows them.
    Logs(LogsArgs),
    /// Run a command inside a node as `docker exec` does (stdin, a TTY on a
    /// terminal), e.g. `labctl exec ha ls /nodes` or `labctl exec -it ha sh`.
    Exec(ExecArgs),
    /// Remove everything the lab created (containers, network), nothing else.
    Down(DownArgs),
    /// Run a scenario file (YAML) on a fresh lab, writing its snapshots to
    /// `logs/<scenario name>/`; fails when an expectation fails.
    Run(RunArgs),
    /// Reproduce a task's deliverables into `logs/taskN/` with the built-in
    /// scenario: `labctl collect task5`, or `labctl collect all`.
    Collect(CollectArgs),
    /// Check scenario files without running them (no Docker needed).
    Validate(ValidateArgs),
    /// A local multi-node Docker Swarm in containers, to run the lab past
    /// one machine: `labctl cluster up --nodes 3`, then `labctl up --engine
    /// swarm` against its manager.
    Cluster(ClusterArgs),
    /// Measure convergence, zero-downtime scaling and labctl against Docker
    /// Compose; prints figures (BENCHMARKS.md is its Markdown output).
    Bench(BenchArgs),
    /// Write a lab report skeleton (`report/README.md`) with the lab's
    /// structure and every deliverable of `logs/` embedded; running it again
    /// keeps what was written under each heading.
    Report(ReportArgs),
    /// Check that this machine can run the lab: the engine, the base image,
    /// disk space, the lab's ports and subnet, screenshots, multi-host;
    /// exits 0 when `labctl up` will work.
    Doctor(DoctorArgs),
    /// Print a shell completion script: `labctl completions bash >
    /// /etc/bash_completion.d/labctl` (also zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print labctl's man page (roff): `labctl man | man -l -`.
    Man,
    /// The node side, run inside the lab's containers.
    #[command(subcommand, hide = true)]
    Node(NodeCommand),
}

/// How images are built.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Base image of both images. When it is missing and cannot be pulled,
    /// labctl makes a Debian bookworm base with debootstrap instead.
    #[arg(long, env = "LABCTL_BASE", default_value = crate::images::DEFAULT_BASE, value_name = "IMAGE")]
    pub base: String,

    /// Debian mirror for debootstrap (default: the first Debian mirror in
    /// this host's apt configuration).
    #[arg(long, env = "LABCTL_MIRROR", value_name = "URL")]
    pub mirror: Option<String>,

    /// Rebuild every layer.
    #[arg(long)]
    pub no_cache: bool,

    /// The platform of the lab's images and containers, as `docker build`
    /// spells it: `linux/amd64` or `linux/arm64` (default: the engine's
    /// own). Another architecture than the engine's runs under emulation.
    #[arg(long, env = "LABCTL_PLATFORM", value_parser = crate::platform::Platform::parse, value_name = "PLATFORM")]
    pub platform: Option<crate::platform::Platform>,
}

impl BenchArgs {
    /// The benchmarks named, or the default set when none is.
    pub fn chosen(&self) -> Vec<crate::bench::Name> {
        if self.names.is_empty() {
            crate::bench::Name::ALL.to_vec()
        } else {
            self.names.clone()
        }
    }
}

impl BuildArgs {
    /// The build options these arguments ask for.
    pub fn options(&self) -> crate::images::BuildOptions {
        crate::images::BuildOptions {
            base: self.base.clone(),
            mirror: self.mirror.clone(),
            no_cache: self.no_cache,
            platform: self.platform,
        }
    }
}

/// How `up` starts the lab.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Number of web apps (default: 2 for a new lab; a lab that is up
    /// keeps the web apps it has, and stopped ones are started again).
    #[arg(long, short = 'n', value_name = "N", allow_negative_numbers = true, value_parser = parse::parse_webapps)]
    pub webapps: Option<u32>,

    #[command(flatten)]
    pub place: PlacementArgs,

    /// Where the lab runs: `docker` (containers on this engine) or `swarm`
    /// (services on the Swarm this engine manages; stage 6 only).
    #[arg(long = "engine", env = "LABCTL_ENGINE", value_enum, default_value_t = LabKind::Docker)]
    pub kind: LabKind,

    /// Make the lab behave as at the end of task N of the lab (0: HAProxy
    /// alone with static servers … 6: the final system).
    #[arg(long, default_value_t = crate::stage::FINAL, value_parser = parse::parse_stage, value_name = "N", allow_negative_numbers = true)]
    pub stage: crate::stage::Stage,

    /// Credentials the stats page asks for, `user:pass`.
    #[arg(long, env = "LABCTL_STATS_AUTH", value_parser = parse_stats_auth, value_name = "USER:PASS")]
    pub stats_auth: Option<String>,
    /// With --engine swarm: the registry (`HOST:PORT`) the Swarm's nodes
    /// pull the lab's images from; the images this engine holds are pushed
    /// there first. Without it, every node must hold them already.
    #[arg(long, env = "LABCTL_REGISTRY", value_parser = parse::parse_registry, value_name = "HOST:PORT")]
    pub registry: Option<String>,

    #[command(flatten)]
    pub wait: WaitArgs,

    #[command(flatten)]
    pub build: BuildArgs,
}

/// How commands that change the lab wait for it.
#[derive(Debug, Clone, Copy, Args)]
pub struct WaitArgs {
    /// Return as soon as the containers are started.
    #[arg(long, short = 'd', visible_alias = "detach")]
    pub no_wait: bool,

    /// Give up waiting after this long: seconds, or a duration such as
    /// `90s`, `2m`, `1m30s`.
    #[arg(long, default_value = "120s", value_parser = parse_positive_duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub timeout: std::time::Duration,
}

impl WaitArgs {
    /// How long to wait for the lab to serve, or `None` not to wait.
    pub fn limit(&self) -> Option<std::time::Duration> {
        (!self.no_wait).then_some(self.timeout)
    }
}

/// Node verbs' arguments.
#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Node names (`ha`, `s1`, …).
    #[arg(required = true, value_name = "NODE", value_parser = parse_node, allow_negative_numbers = true)]
    pub nodes: Vec<String>,
}

/// `kill`'s arguments.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Node names (`ha`, `s1`, …).
    #[arg(required = true, value_name = "NODE", value_parser = parse_node, allow_negative_numbers = true)]
    pub nodes: Vec<String>,
    /// The signal, e.g. `SIGKILL`, `SIGTERM`, `SIGHUP`.
    #[arg(long, short, default_value = "SIGKILL", value_parser = parse_signal)]
    pub signal: String,
}

/// `events`' arguments.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output format: a line per event, or a JSON object per line.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Stop after this many events.
    #[arg(long, value_name = "N", value_parser = parse::parse_events, allow_negative_numbers = true)]
    pub count: Option<usize>,
    /// Stop after this long (e.g. `30s`, `5m`); default: until Ctrl-C.
    #[arg(long = "for", value_parser = parse_positive_duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub duration: Option<std::time::Duration>,
}

/// `down`'s arguments.
#[derive(Debug, Args)]
pub struct DownArgs {
    /// Remove every lab on the engine (every resource labctl created),
    /// not only the one `--lab` names.
    #[arg(long)]
    pub all: bool,
}

/// `report`'s arguments.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The folder `collect` wrote the deliverables into.
    #[arg(long, default_value = "logs", value_name = "DIR")]
    pub logs: PathBuf,
    /// The folder that receives `README.md`.
    #[arg(long, default_value = "report", value_name = "DIR")]
    pub out: PathBuf,
    /// Replace a `README.md` that `labctl report` did not make (or that an
    /// earlier labctl made): it is kept as `README.md.bak` first.
    #[arg(long)]
    pub force: bool,
}

/// Where a lab goes: its subnet and published ports (`up`, and `doctor`
/// checking what `up` would be given).
#[derive(Debug, Clone, Args)]
pub struct PlacementArgs {
    /// The lab's subnet (default: 192.168.42.0/24 for lab `heig`, a free
    /// 192.168.x.0/24 for other labs).
    #[arg(long, env = "LABCTL_SUBNET", value_parser = parse::parse_subnet)]
    pub subnet: Option<Ipv4Net>,

    /// Host address the published ports bind to.
    #[arg(long, env = "LABCTL_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Host port for HAProxy's traffic port 80 (default: 80 for lab `heig`,
    /// a free port for other labs).
    #[arg(long, env = "LABCTL_HTTP_PORT", value_parser = parse::parse_port, allow_negative_numbers = true)]
    pub http_port: Option<u16>,

    /// Host port for HAProxy's stats page (default: 1936 for lab `heig`, a
    /// free port for other labs).
    #[arg(long, env = "LABCTL_STATS_PORT", value_parser = parse::parse_port, allow_negative_numbers = true)]
    pub stats_port: Option<u16>,
}

impl PlacementArgs {
    /// The placement these arguments ask for (with no stats credentials,
    /// registry or foreign platform: each verb adds its own).
    pub fn placement(&self) -> crate::service::Placement {
        crate::service::Placement {
            subnet: self.subnet,
            bind: self.bind,
            http_port: self.http_port,
            stats_port: self.stats_port,
            ..crate::service::Placement::default()
        }
    }
}

/// `doctor`'s arguments: what `up` would be given.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub place: PlacementArgs,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// `completions`' arguments.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `scale`'s arguments.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// `webapp=N`: the number of web apps wanted.
    #[arg(value_parser = parse_scale_target, value_name = "webapp=N", allow_negative_numbers = true)]
    pub target: u32,

    #[command(flatten)]
    pub wait: WaitArgs,
}

/// `run`'s arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Output folder (default `logs/<scenario name>`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub target: ScenarioTarget,
}

/// Where scenarios run (`run`, `collect`), and what the images are built
/// from.
#[derive(Debug, Args)]
pub struct ScenarioTarget {
    /// Where the lab runs: `docker` (containers on this engine) or `swarm`
    /// (services on the Swarm this engine manages: stage 6 scenarios whose
    /// steps name no node to stop or start).
    #[arg(long = "engine", env = "LABCTL_ENGINE", value_enum, default_value_t = LabKind::Docker)]
    pub kind: LabKind,
    #[command(flatten)]
    pub place: PlacementArgs,
    /// With --engine swarm: the registry (`HOST:PORT`) the Swarm's nodes
    /// pull the lab's images from; the images this engine holds are pushed
    /// there first. Without it, every node must hold them already.
    #[arg(long, env = "LABCTL_REGISTRY", value_parser = parse::parse_registry, value_name = "HOST:PORT")]
    pub registry: Option<String>,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// `collect`'s arguments.
#[derive(Debug, Args)]
pub struct CollectArgs {
    /// `task0` … `task6`, or `all`.
    #[arg(required = true, value_name = "TASK", value_parser = ["task0", "task1", "task2", "task3", "task4", "task5", "task6", "all"])]
    pub tasks: Vec<String>,
    /// Folder that receives `taskN/`.
    #[arg(long, default_value = "logs", value_name = "DIR")]
    pub out_root: PathBuf,
    /// Also write a JUnit XML report here.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    #[command(flatten)]
    pub target: ScenarioTarget,
}

/// `bench`'s arguments.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Benchmarks to run: join, leave, zero-downtime, scale-many, compose,
    /// images (default: these six), swarm (on a local 3-node cluster it
    /// makes and removes) and platforms (the engine's own platform and
    /// `--platform`'s, or the other architecture, under emulation), the
    /// last two only when named.
    #[arg(value_enum)]
    pub names: Vec<crate::bench::Name>,
    /// Runs of each benchmark.
    #[arg(long, default_value_t = 2, value_parser = parse::parse_runs, allow_negative_numbers = true)]
    pub runs: usize,
    /// Scale cycles of the zero-downtime benchmark.
    #[arg(long, default_value_t = 10, value_parser = parse::parse_cycles, allow_negative_numbers = true)]
    pub cycles: usize,
    /// Web apps at the top of the scale-many benchmark (2 → N → 2).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(3..=250), value_name = "N")]
    pub scale_to: u32,
    /// Where the charts of the runs under load go: `logs/bench/*.png`
    /// below this directory (BENCHMARKS.md links them there).
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub charts: std::path::PathBuf,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = BenchFormat::Table)]
    pub format: BenchFormat,
    /// A second engine, at an address as DOCKER_HOST takes it (Podman's:
    /// unix:///run/podman/podman.sock): each benchmark runs on both, one
    /// after the other, and the report sets their figures side by side.
    #[arg(long, value_name = "ADDRESS")]
    pub beside: Option<String>,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// `bench --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// Tables for a terminal.
    Table,
    /// One JSON document.
    Json,
    /// The BENCHMARKS.md document.
    Markdown,
}

/// `validate`'s arguments.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Scenario files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Output format of `ps` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON document.
    Json,
}

/// `--format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `logs`' arguments.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Node names (`ha`, `s1`, …); none: every node of the lab, each line
    /// prefixed with its node as Compose does.
    #[arg(value_name = "NODE", value_parser = parse_node)]
    pub nodes: Vec<String>,
    /// Only the last N lines (of each node).
    #[arg(long, short = 'n', value_name = "N", value_parser = parse::parse_tail, allow_negative_numbers = true)]
    pub tail: Option<u32>,
    /// Keep printing what the nodes write, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
    /// Show the engine's timestamp of each line.
    #[arg(long, short)]
    pub timestamps: bool,
}

/// `exec`'s arguments.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin attached (it always is; accepted as `docker exec -i`).
    #[arg(long, short)]
    pub interactive: bool,
    /// Give the command a TTY (the default when stdin and stdout are
    /// terminals).
    #[arg(long, short, conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never give the command a TTY.
    #[arg(long, short = 'T')]
    pub no_tty: bool,
    /// Node name (`ha`, `s1`, …).
    #[arg(value_parser = parse_node)]
    pub node: String,
    /// The command and its arguments (`--` before it is optional).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub cmd: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
