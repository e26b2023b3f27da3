//! The platforms benchmark: the lab on the engine's own architecture and
//! on another one under emulation, side by side in one run: the agent's
//! build (cold, in a folder of its own, and warm), the images' sizes, `up`
//! with 2 web apps and `scale` 2 → 6, each until HAProxy serves them all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use super::stats::{summarize, Summary};
use super::{fresh_lab, tidy};
use crate::images::Role;
use crate::output::Progress;
use crate::platform::{Arch, Platform};
use crate::runtime::Runtime;

/// One platform's figures.
#[derive(Debug, Serialize)]
pub struct PlatformFigures {
    /// `linux/amd64`, `linux/arm64`.
    pub platform: String,
    /// Whether it ran under emulation.
    pub emulated: bool,
    /// The agent built from nothing (a fresh target folder), seconds.
    pub agent_cold_s: f64,
    /// The agent built again with nothing changed, seconds.
    pub agent_warm_s: f64,
    /// `ha` image size, MB.
    pub ha_mb: f64,
    /// `webapp` image size, MB.
    pub webapp_mb: f64,
    /// `up` with 2 web apps until served, ms.
    pub up: Summary,
    /// `scale` 2 → 6 until served, ms.
    pub scale: Summary,
}

/// Times a cold build of the agent for `arch` into a folder of its own
/// (removed after), then a warm one where `up` keeps it.
fn agent_times(arch: Arch, progress: &Progress) -> Result<(f64, f64)> {
    let source = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cold_dir = std::env::temp_dir().join(format!("labctl-bench-agent-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cold_dir);
    progress.set(format!(
        "platforms: agent for {} from nothing",
        arch.musl_target()
    ));
    let started = Instant::now();
    let out = crate::agent::build_command(&source, arch.musl_target())
        .env("CARGO_TARGET_DIR", &cold_dir)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running cargo")?;
    let cold = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&cold_dir);
    anyhow::ensure!(
        out.status.success(),
        "the cold agent build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    crate::agent::for_arch(arch, progress)?;
    let started = Instant::now();
    crate::agent::for_arch(arch, progress)?;
    Ok((cold, started.elapsed().as_secs_f64()))
}

/// The figures of `arch` on `engine` (whose own architecture is `native`).
async fn one(
    runtime: &Arc<dyn Runtime>,
    native: Arch,
    arch: Arch,
    runs: usize,
    progress: &Progress,
) -> Result<PlatformFigures> {
    let foreign = (arch != native).then_some(arch);
    let (agent_cold_s, agent_warm_s) = agent_times(arch, progress)?;
    let mut up = Vec::new();
    let mut scale = Vec::new();
    let name = format!("bench-{}", arch.docker());
    for run in 0..runs {
        progress.set(format!(
            "platforms: {} run {}/{runs}",
            Platform::linux(arch),
            run + 1
        ));
        let started = Instant::now();
        let lab = fresh_lab(runtime, foreign, &name, 2, progress).await?;
        up.push(started.elapsed());
        let started = Instant::now();
        lab.scale_to(6, Duration::from_secs(600), progress).await?;
        scale.push(started.elapsed());
        tidy(&lab, progress).await?;
    }
    let size = |role: Role| async move {
        runtime
            .image_size(&crate::images::image_name(role, foreign))
            .await
            .map(|b| b as f64 / 1e6)
    };
    Ok(PlatformFigures {
        platform: Platform::linux(arch).to_string(),
        emulated: foreign.is_some(),
        agent_cold_s,
        agent_warm_s,
        ha_mb: size(Role::Ha).await?,
        webapp_mb: size(Role::Webapp).await?,
        up: summarize(&up),
        scale: summarize(&scale),
    })
}

/// The engine's own platform, then `other` (the given `--platform`, or
/// the other architecture), alternating run by run would double the image
/// builds: each platform's runs are consecutive, in one command.
pub async fn platforms(
    runtime: &Arc<dyn Runtime>,
    other: Option<Arch>,
    runs: usize,
    progress: &Progress,
) -> Result<Vec<PlatformFigures>> {
    let native = crate::images::engine_arch(runtime.as_ref()).await?;
    let other = other.unwrap_or(native.other());
    let mut out = vec![one(runtime, native, native, runs, progress).await?];
    if other != native {
        out.push(one(runtime, native, other, runs, progress).await?);
    }
    Ok(out)
}
