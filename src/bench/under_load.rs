//! Scaling under load, the part the zero-downtime and scale-many
//! benchmarks share: the lab changes while clients of every kind send
//! requests through `ha`, none of them ever sending a request twice; HAProxy's
//! reloads are counted and a timeline is recorded for the chart.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::load::{Load, LoadRun, Mix};
use crate::lab::Lab;

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
pub async fn under_load<F>(lab: &Lab, mix: Mix, max_time: Duration, work: F) -> Result<Churn>
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

pub fn keep_for_inspection(e: anyhow::Error, lab: &str) -> anyhow::Error {
    e.context(format!(
        "lab `{lab}` is left as it is for inspection (`labctl --lab {lab} status`); \
         `labctl --lab {lab} down` removes it"
    ))
}
