//! `labctl bench`: how fast the lab converges, whether any client loses a
//! request while it scales, and how it compares with Docker Compose on the
//! same images. Each benchmark runs on a fresh lab of its own and sends load
//! only to that lab's published port on 127.0.0.1.

pub mod chart;
pub mod compose;
pub mod images;
pub mod join;
pub mod leave;
pub mod load;
pub mod platforms;
pub mod report;
pub mod scale_many;
pub mod side;
pub mod stats;
pub mod swarm;
pub mod under_load;
pub mod zero_downtime;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use std::sync::Arc;

use crate::lab::{Lab, Publish};
use crate::naming::LabNames;
use crate::output::Progress;
use crate::runtime::{refused, Refusal, Runtime};
pub use report::{markdown, text};
use stats::{summarize, Summary};

/// Every benchmark, by name: the ones `labctl bench` runs when none is
/// named ([`ALL`]), then the Swarm benchmark, which makes a local cluster of
/// its own and runs only when named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Name {
    /// Start → UP, one web app at a time.
    Join,
    /// A web app's leave, graceful and by SIGKILL.
    Leave,
    /// Scale cycles under load: requests lost.
    ZeroDowntime,
    /// 2 → N → 2 under load.
    ScaleMany,
    /// labctl beside docker compose.
    Compose,
    /// The images: build times and sizes.
    Images,
    /// The lab on a local 3-node Swarm.
    Swarm,
    /// The engine's own platform beside the other, under emulation.
    Platforms,
}

impl Name {
    /// The benchmarks `labctl bench` runs when none is named.
    pub const ALL: [Name; 6] = [
        Name::Join,
        Name::Leave,
        Name::ZeroDowntime,
        Name::ScaleMany,
        Name::Compose,
        Name::Images,
    ];

    /// Its name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Join => "join",
            Name::Leave => "leave",
            Name::ZeroDowntime => "zero-downtime",
            Name::ScaleMany => "scale-many",
            Name::Compose => "compose",
            Name::Images => "images",
            Name::Swarm => "swarm",
            Name::Platforms => "platforms",
        }
    }

    /// Whether it runs on the engine's own platform only.
    pub fn native_only(self) -> bool {
        matches!(self, Name::Compose | Name::Images | Name::Swarm)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `labctl bench` measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: String,
    /// Runs per benchmark.
    pub runs: usize,
    /// Start → UP, one web app at a time (2 → 12).
    pub join_one_by_one: Option<Summary>,
    /// Of each join one by one, start → in rotation (first seen UP).
    pub join_in_rotation: Option<Summary>,
    /// Of each join one by one, the engine's part (container created and
    /// started).
    pub join_engine: Option<Summary>,
    /// Of each join one by one, the lab's part (container started → UP).
    pub join_lab: Option<Summary>,
    /// 2 → 12 in one step, until all UP.
    pub join_one_step: Option<Summary>,
    /// Graceful leave → out of rotation.
    pub leave_graceful: Option<Summary>,
    /// SIGKILL → out of rotation.
    pub leave_sigkill: Option<Summary>,
    /// Load while scaling 2 → 6 → 2 with a kill per cycle.
    pub zero_downtime: Option<under_load::Churn>,
    /// Scale cycles run under load.
    pub cycles: usize,
    /// Load while scaling 2 → N → 2, and how long each way took.
    pub many: Option<scale_many::Many>,
    /// labctl vs Docker Compose.
    pub compose: Option<compose::Compose>,
    /// Image sizes and build times.
    pub images: Option<images::Images>,
    /// The lab on a local Swarm.
    pub swarm: Option<swarm::SwarmFigures>,
    /// The lab on the engine's own platform and on another under emulation.
    pub platforms: Option<Vec<platforms::PlatformFigures>>,
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or_else(String::new, |kb| {
            format!(", {:.0} GiB", kb / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores{mem}, Linux {}", kernel.trim())
}

fn publish() -> Publish {
    Publish {
        bind: std::net::IpAddr::from([127, 0, 0, 1]),
        http: 0,
        stats: 0,
        stats_auth: None,
    }
}

/// What `labctl bench` is asked to do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Benchmarks, by name.
    pub names: Vec<Name>,
    /// Runs of each.
    pub runs: usize,
    /// Scale cycles of the zero-downtime benchmark.
    pub cycles: usize,
    /// Web apps at the top of the scale-many benchmark.
    pub scale_to: u32,
    /// Where the charts go (at [`report::CHART_ZERO`] and
    /// [`report::CHART_MANY`] below it).
    pub charts: std::path::PathBuf,
    /// The local cluster the Swarm benchmark runs on.
    pub cluster: Option<crate::cluster::ClusterSummary>,
    /// The architecture the labs run under emulation (`--platform`), when
    /// not the engine's own.
    pub foreign: Option<crate::platform::Arch>,
    /// The engine's address for the commands a benchmark starts (labctl,
    /// docker-compose), when it is not the one their environment names
    /// (`--beside`).
    pub engine_host: Option<String>,
}

/// Runs the benchmarks of `plan`; the runs under load are also drawn as PNG
/// charts.
pub async fn run(runtime: &Arc<dyn Runtime>, plan: &Plan, progress: &Progress) -> Result<Report> {
    let (names, runs, cycles, charts) = (&plan.names, plan.runs, plan.cycles, &plan.charts);
    let mut report = Report {
        machine: machine(),
        runs,
        cycles,
        ..Report::default()
    };
    for name in names {
        progress.info(format!("bench {name}"));
        match name {
            Name::Join => {
                let j = join::join(runtime, plan.foreign, runs, progress).await?;
                let lab: Vec<Duration> =
                    j.one.iter().zip(&j.engine).map(|(t, e)| *t - *e).collect();
                report.join_one_by_one = Some(summarize(&j.one));
                report.join_in_rotation = Some(summarize(&j.in_rotation));
                report.join_engine = Some(summarize(&j.engine));
                report.join_lab = Some(summarize(&lab));
                report.join_one_step = Some(summarize(&j.step));
            }
            Name::Leave => {
                let (graceful, kill) = leave::leave(runtime, plan.foreign, runs, progress).await?;
                report.leave_graceful = Some(summarize(&graceful));
                report.leave_sigkill = Some(summarize(&kill));
            }
            Name::ZeroDowntime => {
                let churn =
                    zero_downtime::zero_downtime(runtime, plan.foreign, cycles, progress).await?;
                let title = format!("zero downtime: {cycles} cycles 2 → 6 → 2, one SIGKILL each");
                chart::write(&charts.join(report::CHART_ZERO), &title, &churn)?;
                report.zero_downtime = Some(churn);
            }
            Name::ScaleMany => {
                let many = scale_many::many(runtime, plan.foreign, plan.scale_to, progress).await?;
                chart::write(
                    &charts.join(report::CHART_MANY),
                    &format!("scale 2 → {} → 2 under load", plan.scale_to),
                    &many.churn,
                )?;
                report.many = Some(many);
            }
            Name::Compose => {
                report.compose = Some(
                    compose::compose(runtime, runs, plan.engine_host.as_deref(), progress).await?,
                )
            }
            Name::Images => report.images = Some(images::images(runtime, progress).await?),
            Name::Swarm => {
                let cluster = plan
                    .cluster
                    .as_ref()
                    .context("the Swarm benchmark needs its local cluster")?;
                report.swarm =
                    Some(swarm::swarm(cluster, runs, plan.scale_to.min(30), progress).await?);
            }
            Name::Platforms => {
                report.platforms =
                    Some(platforms::platforms(runtime, plan.foreign, runs, progress).await?);
            }
        }
    }
    Ok(report)
}

/// Removes the benchmark's lab between runs. A network the engine keeps
/// (endpoints of containers that are gone, an engine fault seen after many
/// removals at once) is reported and left: the next `up` uses it as it is.
pub(super) async fn tidy(lab: &Lab, progress: &Progress) -> Result<()> {
    match lab.down(progress).await {
        Err(e) if refused(&e, |r| matches!(r, Refusal::NetworkKept(_))) => {
            crate::errln!("warning: {e:#}");
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

async fn fresh_lab(
    runtime: &Arc<dyn Runtime>,
    foreign: Option<crate::platform::Arch>,
    name: &str,
    webapps: u32,
    progress: &Progress,
) -> Result<Lab> {
    let lab = Lab::new(runtime.clone(), LabNames::new(name)?);
    tidy(&lab, progress).await?;
    let request = crate::lab::UpRequest {
        subnet: None,
        publish: publish(),
        webapps: Some(webapps),
        stage: crate::stage::FINAL,
        foreign,
    };
    lab.up_and_wait(&request, Some(Duration::from_secs(120)), progress)
        .await?;
    Ok(lab)
}

/// Polls HAProxy's statistics (the CSV of its stats page, on the lab's
/// published port: a few milliseconds a look, where an exec into `ha` takes
/// tens) until `done` holds for its servers.
async fn until(
    lab: &Lab,
    timeout: Duration,
    done: impl Fn(&[crate::stats::ServerState]) -> bool,
) -> Result<()> {
    let port = lab.ha_port(crate::naming::STATS_PORT).await?;
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(r) = crate::http::get_path(port, "/;csv", &[], Duration::from_secs(2)).await {
            if r.status == 200
                && done(&crate::stats::servers(
                    &r.body,
                    crate::node::servers::BACKEND,
                ))
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!(
        "HAProxy did not reach the expected state within {} s",
        timeout.as_secs()
    )
}
