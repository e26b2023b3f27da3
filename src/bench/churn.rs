//! Scaling under load: the lab scales (2 → 6 → 2 with a kill per cycle, or
//! 2 → N → 2) while clients of every kind send requests through `ha`,
//! none of them ever sending a request twice. Also counts HAProxy's reloads
//! and records a timeline for the chart.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::fresh_lab;
use super::load::{Load, LoadRun, Mix};
use super::until;
use crate::engine::Engine;
use crate::lab::Lab;
use crate::naming;
use crate::output::Progress;

/// How often the servers in rotation are sampled for the timeline.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// At most this many requests per client.
const MAX_REQUESTS: u64 = 5_000_000;

/// What happened while the lab scaled under load.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Churn {
    /// What each kind of client saw.
    pub load: LoadRun,
    /// HAProxy reloads during the run (from its master's count).
    pub reloads: u64,
    /// HAProxy worker processes started during the run (new worker ids
    /// seen by the sampler).
    pub workers_started: usize,
    /// Scale steps, in order.
    #[serde(skip)]
    pub events: Vec<(Duration, String)>,
    /// Servers in rotation (UP) over time.
    #[serde(skip)]
    pub rotation: Vec<(Duration, usize)>,
}

/// The figures of the 2 → N → 2 run.
#[derive(Debug, Clone, Serialize)]
pub struct Many {
    /// How many web apps at the top.
    pub to: u32,
    /// `scale webapp=N` from 2 until all N are UP in HAProxy, ms.
    pub up_ms: f64,
    /// `scale webapp=2` from N until HAProxy serves exactly 2, and the
    /// others removed, ms.
    pub down_ms: f64,
    /// What the clients and HAProxy saw.
    pub churn: Churn,
}

/// Servers in rotation over time, and every HAProxy worker id seen.
type Samples = (Vec<(Duration, usize)>, BTreeSet<u32>);

/// Samples the servers in rotation and HAProxy's workers in the background.
struct Sampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Samples>,
}

impl Sampler {
    fn start(lab: Lab, started: Instant) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut rotation = Vec::new();
            let mut workers = BTreeSet::new();
            // Bounded by the run: at most one sample per interval for a day.
            for _ in 0..(24 * 3600 * 4) {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                if let Ok(b) = lab.backends().await {
                    let up = b.servers.iter().filter(|s| s.is_up()).count();
                    rotation.push((started.elapsed(), up));
                    if let Some(p) = b.processes {
                        workers.extend(p.workers);
                    }
                }
                tokio::time::sleep(SAMPLE_EVERY).await;
            }
            (rotation, workers)
        });
        Self { stop, task }
    }

    async fn finish(self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

async fn reloads(lab: &Lab) -> Result<u64> {
    Ok(lab
        .backends()
        .await?
        .processes
        .context("HAProxy's master CLI did not answer in `ha`")?
        .reloads)
}

/// Runs `work` on `lab` under load from the benchmark's clients, and
/// returns what the clients and HAProxy saw. `work` notes its steps in the
/// events it is given.
async fn under_load<F>(lab: &Lab, mix: Mix, max_time: Duration, work: F) -> Result<Churn>
where
    F: AsyncFnOnce(&mut Vec<(Duration, String)>, Instant) -> Result<()>,
{
    let port = lab.ha_port(80).await?;
    let reloads_before = reloads(lab).await?;
    let load = Load::start(port, mix, MAX_REQUESTS, max_time);
    let started = load.started();
    let sampler = Sampler::start(lab.clone(), started);
    let mut events = Vec::new();
    let result = work(&mut events, started).await;
    // A moment of steady load after the last step, for the timeline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let load = load.finish().await;
    let (rotation, workers) = sampler.finish().await;
    result?;
    Ok(Churn {
        load,
        reloads: reloads(lab).await? - reloads_before,
        workers_started: workers.len().saturating_sub(1),
        events,
        rotation,
    })
}

fn keep_for_inspection(e: anyhow::Error, lab: &str) -> anyhow::Error {
    e.context(format!(
        "lab `{lab}` is left as it is for inspection (`labctl --lab {lab} status`); \
         `labctl --lab {lab} down` removes it"
    ))
}

/// Scales 2 → 6 → 2 `cycles` times under load, killing one web app per cycle.
pub async fn zero_downtime(engine: &Engine, cycles: usize, progress: &Progress) -> Result<Churn> {
    let name = "bench-zero";
    let lab = fresh_lab(engine, name, 2, progress).await?;
    let wait = Duration::from_secs(60);
    let churn = under_load(
        &lab,
        Mix::BENCH,
        Duration::from_secs(30 * 60),
        async |events, t0| {
            for c in 0..cycles {
                progress.set(format!("zero-downtime: cycle {}/{cycles}", c + 1));
                events.push((t0.elapsed(), "scale 6".into()));
                lab.scale_to(6, wait, progress).await?;
                let victim = naming::webapp_name(3 + (c % 4) as u32);
                events.push((t0.elapsed(), format!("kill {victim}")));
                engine
                    .kill_container(&lab.names().container(&victim), "SIGKILL")
                    .await?;
                until(&lab, Duration::from_secs(30), |s| {
                    !s.iter().any(|s| s.name == victim && s.is_up())
                })
                .await?;
                events.push((t0.elapsed(), "scale 2".into()));
                lab.scale_to(2, wait, progress).await?;
            }
            Ok(())
        },
    )
    .await
    .map_err(|e| keep_for_inspection(e, name))?;
    lab.down(progress).await?;
    Ok(churn)
}

/// Scales 2 → `to` → 2 under load.
pub async fn many(engine: &Engine, to: u32, progress: &Progress) -> Result<Many> {
    let name = "bench-many";
    let lab = fresh_lab(engine, name, 2, progress).await?;
    let wait = Duration::from_secs(300);
    let (mut up, mut down) = (Duration::ZERO, Duration::ZERO);
    // Lighter load: on two cores, many web apps starting and clients
    // sending as fast as they can would starve the Serf agents' gossip.
    let mix = Mix {
        keep_alive: 1,
        close: 1,
        idle: 16,
    };
    let churn = under_load(
        &lab,
        mix,
        Duration::from_secs(20 * 60),
        async |events, t0| {
            progress.set(format!("scale-many: 2 → {to}"));
            events.push((t0.elapsed(), format!("scale {to}")));
            let t = Instant::now();
            lab.scale_to(to, wait, progress).await?;
            up = t.elapsed();
            events.push((t0.elapsed(), "scale 2".into()));
            progress.set(format!("scale-many: {to} → 2"));
            let t = Instant::now();
            lab.scale_to(2, wait, progress).await?;
            down = t.elapsed();
            Ok(())
        },
    )
    .await
    .map_err(|e| keep_for_inspection(e, name))?;
    lab.down(progress).await?;
    Ok(Many {
        to,
        up_ms: up.as_secs_f64() * 1000.0,
        down_ms: down.as_secs_f64() * 1000.0,
        churn,
    })
}
