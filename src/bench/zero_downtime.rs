//! The zero-downtime benchmark: 2 → 6 → 2 a number of times under load,
//! with one web app SIGKILLed per cycle.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::load::Mix;
use super::under_load::{keep_for_inspection, under_load, Churn};
use super::{fresh_lab, until};
use crate::naming;
use crate::output::Progress;
use crate::platform::Arch;
use crate::runtime::Runtime;

/// Scales 2 → 6 → 2 `cycles` times under load, killing one web app per cycle.
pub async fn zero_downtime(
    runtime: &Arc<dyn Runtime>,
    foreign: Option<Arch>,
    cycles: usize,
    progress: &Progress,
) -> Result<Churn> {
    let name = "bench-zero";
    let lab = fresh_lab(runtime, foreign, name, 2, progress).await?;
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
                lab.kill_node(&victim, "SIGKILL", progress).await?;
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
    super::tidy(&lab, progress).await?;
    Ok(churn)
}
