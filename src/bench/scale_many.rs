//! The scale-many benchmark: 2 → N → 2 under a lighter load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::fresh_lab;
use super::load::Mix;
use super::under_load::{keep_for_inspection, under_load, Churn};
use crate::output::Progress;
use crate::platform::Arch;
use crate::runtime::Runtime;

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

/// Scales 2 → `to` → 2 under load.
pub async fn many(
    runtime: &Arc<dyn Runtime>,
    foreign: Option<Arch>,
    to: u32,
    progress: &Progress,
) -> Result<Many> {
    let name = "bench-many";
    // Refused at once rather than after the lab is up and loaded.
    let limit = runtime.info().await?.neighbour_limit;
    if let Some(why) = limit.and_then(|l| crate::neighbours::shortfall(u64::from(to), l)) {
        anyhow::bail!("scale-many cannot reach {to} web apps on this host: {why}; or pass a smaller --scale-to");
    }
    let lab = fresh_lab(runtime, foreign, name, 2, progress).await?;
    let wait = Duration::from_secs(300);
    let (mut up, mut down) = (Duration::ZERO, Duration::ZERO);
    // Lighter load: many web apps starting at once already load the
    // machine's cores.
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
    super::tidy(&lab, progress).await?;
    Ok(Many {
        to,
        up_ms: up.as_secs_f64() * 1000.0,
        down_ms: down.as_secs_f64() * 1000.0,
        churn,
    })
}
