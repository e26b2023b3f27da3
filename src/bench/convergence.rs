//! How fast the lab converges: a web app joining (start → UP in HAProxy)
//! and leaving (gracefully, or SIGKILLed → out of rotation).

use std::time::{Duration, Instant};

use anyhow::Result;

use super::{fresh_lab, until};
use crate::engine::Engine;
use crate::naming;
use crate::output::Progress;

const WAIT: Duration = Duration::from_secs(60);

/// Start → verified UP, one web app at a time (2 → 12), and 2 → 12 in one
/// step until all UP.
pub async fn join(
    engine: &Engine,
    runs: usize,
    progress: &Progress,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut one = Vec::new();
    let mut step = Vec::new();
    for run in 0..runs {
        let lab = fresh_lab(engine, "bench-join", 2, progress).await?;
        for n in 3..=12 {
            let node = naming::webapp_name(n);
            progress.set(format!("join run {}: {node}", run + 1));
            let t0 = Instant::now();
            lab.start_node(&node, progress).await?;
            until(&lab, Duration::from_secs(30), |s| {
                s.iter().any(|s| s.name == node && s.is_verified_up())
            })
            .await?;
            one.push(t0.elapsed());
        }
        lab.scale_to(2, WAIT, progress).await?;
        let t0 = Instant::now();
        lab.scale_to(12, WAIT, progress).await?;
        step.push(t0.elapsed());
        lab.down(progress).await?;
    }
    Ok((one, step))
}

/// Graceful leave → out of rotation, and SIGKILL → out of rotation.
pub async fn leave(
    engine: &Engine,
    runs: usize,
    progress: &Progress,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut graceful = Vec::new();
    let mut kill = Vec::new();
    for run in 0..runs {
        let lab = fresh_lab(engine, "bench-leave", 12, progress).await?;
        for n in (3..=12).rev() {
            let node = naming::webapp_name(n);
            let name = lab.names().container(&node);
            progress.set(format!("leave run {}: {node}", run + 1));
            let t0 = Instant::now();
            if n > 7 {
                engine
                    .exec(&name, &["s6-svc", "-d", "/run/s6/serf"])
                    .await?;
            } else {
                engine.kill_container(&name, "SIGKILL").await?;
            }
            until(&lab, Duration::from_secs(30), |s| {
                !s.iter().any(|s| s.name == node && s.is_up())
            })
            .await?;
            if n > 7 {
                graceful.push(t0.elapsed());
            } else {
                kill.push(t0.elapsed());
            }
            engine.remove_container(&name).await?;
        }
        lab.down(progress).await?;
    }
    Ok((graceful, kill))
}
