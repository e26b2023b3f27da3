//! The leave benchmark: a graceful leave and a SIGKILL, each until HAProxy
//! has the web app out of rotation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::{fresh_lab, until};
use crate::naming;
use crate::output::Progress;
use crate::platform::Arch;
use crate::runtime::Runtime;

/// Graceful leave → out of rotation, and SIGKILL → out of rotation.
pub async fn leave(
    runtime: &Arc<dyn Runtime>,
    foreign: Option<Arch>,
    runs: usize,
    progress: &Progress,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let mut graceful = Vec::new();
    let mut kill = Vec::new();
    for run in 0..runs {
        let lab = fresh_lab(runtime, foreign, "bench-leave", 12, progress).await?;
        for n in (3..=12).rev() {
            let node = naming::webapp_name(n);
            progress.set(format!("leave run {}: {node}", run + 1));
            let t0 = Instant::now();
            if n > 7 {
                lab.leave_node(&node).await;
            } else {
                lab.kill_node(&node, "SIGKILL", progress).await?;
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
            lab.remove_node(&node, progress).await?;
        }
        super::tidy(&lab, progress).await?;
    }
    Ok((graceful, kill))
}
