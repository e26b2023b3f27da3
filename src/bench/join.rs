//! The join benchmark: a new web app from start to UP with a passed check,
//! one by one, and 2 → 12 in one step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{fresh_lab, until};
use crate::naming;
use crate::output::Progress;
use crate::platform::Arch;
use crate::runtime::Runtime;

/// How long a scale step may take.
const WAIT: Duration = Duration::from_secs(60);

/// One by one and in one step.
pub struct Joins {
    /// Start → verified UP, one web app at a time (2 → 12).
    pub one: Vec<Duration>,
    /// Of each of those, start → first seen UP: in rotation, taking
    /// requests (`ha` enables a new server once a check passed; HAProxy
    /// then resets its check status until its next check).
    pub in_rotation: Vec<Duration>,
    /// Of each of those, the engine's part: from the start to the container
    /// created and started (`start` returned).
    pub engine: Vec<Duration>,
    /// 2 → 12 in one step until all UP.
    pub step: Vec<Duration>,
}

/// Start → verified UP, one web app at a time (2 → 12), and 2 → 12 in one
/// step until all UP.
pub async fn join(
    runtime: &Arc<dyn Runtime>,
    foreign: Option<Arch>,
    runs: usize,
    progress: &Progress,
) -> Result<Joins> {
    let mut one = Vec::new();
    let mut engine_part = Vec::new();
    let mut in_rotation = Vec::new();
    let mut step = Vec::new();
    for run in 0..runs {
        let lab = fresh_lab(runtime, foreign, "bench-join", 2, progress).await?;
        for n in 3..=12 {
            let node = naming::webapp_name(n);
            progress.set(format!("join run {}: {node}", run + 1));
            let t0 = Instant::now();
            lab.start_node(&node, progress).await?;
            engine_part.push(t0.elapsed());
            let seen_up = std::cell::Cell::new(None);
            until(&lab, Duration::from_secs(30), |s| {
                let Some(s) = s.iter().find(|s| s.name == node) else {
                    return false;
                };
                if s.is_up() && seen_up.get().is_none() {
                    seen_up.set(Some(t0.elapsed()));
                }
                s.is_verified_up()
            })
            .await?;
            one.push(t0.elapsed());
            in_rotation.push(seen_up.get().unwrap_or_else(|| t0.elapsed()));
        }
        lab.scale_to(2, WAIT, progress).await?;
        let t0 = Instant::now();
        lab.scale_to(12, WAIT, progress).await?;
        step.push(t0.elapsed());
        super::tidy(&lab, progress).await?;
    }
    Ok(Joins {
        one,
        in_rotation,
        engine: engine_part,
        step,
    })
}
