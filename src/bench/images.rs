//! The images benchmark: their sizes, a cold build and a rebuild after a
//! template edit.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio::process::Command;

use super::compose::timed;
use crate::images::Role;
use crate::output::Progress;
use crate::runtime::Runtime;

/// Image figures.
#[derive(Debug, Serialize)]
pub struct Images {
    /// `labctl/ha` size, MB.
    pub ha_mb: f64,
    /// `labctl/webapp` size, MB.
    pub webapp_mb: f64,
    /// `labctl build --no-cache` (base image present), seconds.
    pub cold_build_s: f64,
    /// Rebuild after a one-line template edit, seconds.
    pub rebuild_after_edit_s: f64,
}

pub async fn images(runtime: &Arc<dyn Runtime>, progress: &Progress) -> Result<Images> {
    let exe = std::env::current_exe()?;
    progress.set("images: cold build (--no-cache)");
    let t0 = Instant::now();
    timed(Command::new(&exe).args(["--quiet", "build", "--no-cache"])).await?;
    let cold = t0.elapsed();
    let dir = std::env::temp_dir().join(format!("labctl-bench-tpl-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ha"))?;
    let template = crate::templates::Templates::embedded();
    let text = &template
        .get(crate::templates::HAPROXY_TEMPLATE)
        .context("template")?
        .text;
    std::fs::write(
        dir.join("ha/haproxy.cfg.tera"),
        format!("{text}# edited for the rebuild benchmark\n"),
    )?;
    progress.set("images: rebuild after a template edit");
    let t0 = Instant::now();
    timed(
        Command::new(&exe)
            .arg("--templates")
            .arg(&dir)
            .args(["--quiet", "build"]),
    )
    .await?;
    let rebuild = t0.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    // Back to the images of the embedded templates.
    timed(Command::new(&exe).args(["--quiet", "build"])).await?;
    Ok(Images {
        ha_mb: runtime.image_size(Role::Ha.image()).await? as f64 / 1e6,
        webapp_mb: runtime.image_size(Role::Webapp.image()).await? as f64 / 1e6,
        cold_build_s: cold.as_secs_f64(),
        rebuild_after_edit_s: rebuild.as_secs_f64(),
    })
}
