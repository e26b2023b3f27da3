//! Screenshots of the stats page: with the host's headless Chromium (or the
//! browser `LABCTL_BROWSER` names) when there is one, else with headless
//! Chromium in a container of labctl's own browser image, on the lab's
//! network, loading the page from `ha` itself. The image is built from the
//! lab's base the first time a screenshot needs it, and kept.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::contract::Role;
use crate::images::BuildOptions;
use crate::lab::Lab;
use crate::naming::{HA, STATS_PORT};
use crate::output::Progress;
use crate::templates::Templates;

/// Where screenshots come from, and what the browser image is built from.
pub struct Screenshots<'a> {
    /// The templates (the browser's Dockerfile among them).
    pub templates: &'a Templates,
    /// The base image and mirror.
    pub build: &'a BuildOptions,
    /// Progress of a first build of the browser image.
    pub progress: &'a Progress,
}

/// The window the page is shown in.
const WINDOW: &str = "--window-size=1280,900";

impl Screenshots<'_> {
    /// Takes a screenshot of the stats page into `png`: from `html` (the
    /// page as saved) with the host's browser, or from `ha` with the lab's
    /// browser container. `Ok(Err(why))` when neither can.
    pub async fn take(&self, lab: &Lab, html: &Path, png: &Path) -> Result<Result<(), String>> {
        if let Some(browser) = host_browser() {
            on_host(&browser, html, png).await?;
            return Ok(Ok(()));
        }
        match self.in_container(lab, png).await {
            Ok(()) => Ok(Ok(())),
            Err(e) => Ok(Err(format!(
                "no browser on this host and the lab's browser container could not take it \
                 ({e:#}); install Chromium, or name a browser with LABCTL_BROWSER"
            ))),
        }
    }

    async fn in_container(&self, lab: &Lab, png: &Path) -> Result<()> {
        crate::images::ensure_browser(
            lab.runtime().as_ref(),
            self.templates,
            self.build,
            self.progress,
        )
        .await?;
        let auth = lab
            .stats_auth()
            .await?
            .map(|a| format!("{a}@"))
            .unwrap_or_default();
        // By address: not every engine resolves names on the lab's network
        // (Podman's, without its DNS plugin, does not).
        let ha = lab.node(HA).await?;
        let host = ha
            .addresses
            .get(&lab.names().network())
            .map_or_else(|| HA.to_string(), ToString::to_string);
        let url = format!("http://{auth}{host}:{STATS_PORT}/");
        let timeout = SCREENSHOT_TIMEOUT.as_secs().to_string();
        let script = format!(
            "timeout {timeout} chromium --headless --no-sandbox --disable-gpu \
             --hide-scrollbars {WINDOW} --user-data-dir=/tmp/profile \
             --screenshot=/tmp/stats.png \"$1\" >/tmp/chromium.log 2>&1; \
             if [ -s /tmp/stats.png ]; then base64 -w0 /tmp/stats.png; \
             else tail -n 3 /tmp/chromium.log >&2; exit 1; fi"
        );
        let out = lab
            .run_helper(Role::Browser, &["sh", "-c", &script, "sh", &url])
            .await?
            .success("chromium in the lab's browser container")?;
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(out.stdout.trim())
            .context("reading the screenshot from the browser container")?;
        std::fs::write(png, bytes).with_context(|| format!("writing `{}`", png.display()))
    }
}

/// A screenshot of a saved stats page with the host's browser only (a lab
/// whose `ha` this host's engine cannot put a browser beside);
/// `Ok(Err(why))` when the host has none.
pub async fn from_file(html: &Path, png: &Path) -> Result<Result<(), String>> {
    match host_browser() {
        Some(browser) => on_host(&browser, html, png).await.map(Ok),
        None => Ok(Err(
            "a lab on a Swarm is shot with this host's browser, and it has none: install \
             Chromium, or name a browser with LABCTL_BROWSER"
                .into(),
        )),
    }
}

/// How long the browser may take for one screenshot.
const SCREENSHOT_TIMEOUT: Duration = Duration::from_secs(60);

/// The browser that takes screenshots: `LABCTL_BROWSER` (a name on `PATH`
/// or a path), else the first of Chromium's usual names found on `PATH`.
pub fn host_browser() -> Option<String> {
    if let Some(named) = std::env::var_os("LABCTL_BROWSER") {
        let named = named.to_string_lossy().into_owned();
        return (Path::new(&named).is_file() || crate::host::which(&named)).then_some(named);
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| crate::host::which(b))
        .map(String::from)
}

/// Takes a screenshot of an HTML file with the host's browser.
async fn on_host(browser: &str, html: &Path, png: &Path) -> Result<()> {
    let html = html
        .canonicalize()
        .with_context(|| format!("finding `{}`", html.display()))?;
    let png = std::path::absolute(png).with_context(|| format!("finding `{}`", png.display()))?;
    let profile = std::env::temp_dir().join(format!("labctl-chromium-{}", std::process::id()));
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            WINDOW,
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCREENSHOT_TIMEOUT, run)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "{browser} took more than {} s for a screenshot; it was stopped",
                SCREENSHOT_TIMEOUT.as_secs()
            )
        })?
        .with_context(|| format!("running {browser}"))?;
    let _ = std::fs::remove_dir_all(&profile);
    anyhow::ensure!(
        png.is_file(),
        "{browser} made no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );
    Ok(())
}
