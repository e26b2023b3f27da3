//! labctl against Docker Compose on the same images, and the images' sizes
//! and build times.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::stats::{summarize, Summary};
use std::sync::Arc;

use crate::images::Role;
use crate::lab::Lab;
use crate::naming::LabNames;
use crate::output::Progress;
use crate::runtime::Runtime;

/// labctl against Docker Compose, same images, alternating runs.
#[derive(Debug, Serialize)]
pub struct Compose {
    /// `labctl up` (ha + 2) until both web apps answer through ha.
    pub labctl_up: Summary,
    /// `docker-compose up -d` of the equivalent file, same criterion.
    pub compose_up: Summary,
    /// `labctl scale webapp=20` until 20 web apps answer.
    pub labctl_scale: Summary,
    /// `docker-compose up -d --scale webapp=20`, same criterion.
    pub compose_scale: Summary,
}

/// Sends requests through `port` until `n` distinct web apps answered.
async fn until_answering(port: u16, n: usize, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let mut hosts = BTreeSet::new();
    while started.elapsed() < timeout {
        if let Ok(r) = crate::http::get(port, &[], Duration::from_secs(5)).await {
            if r.status == 200 {
                if let Some(h) = serde_json::from_str::<serde_json::Value>(&r.body)
                    .ok()
                    .and_then(|v| v["host"].as_str().map(String::from))
                {
                    hosts.insert(h);
                    if hosts.len() >= n {
                        return Ok(());
                    }
                }
            }
        } else {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    bail!(
        "only {} of {n} web apps answered within {} s",
        hosts.len(),
        timeout.as_secs()
    )
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Runs a command to its end; fails with its stderr unless it succeeded.
pub async fn timed(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The Compose file that matches `labctl up` on the same images.
pub fn compose_file(http_port: u16, key: &str) -> String {
    format!(
        "version: '2.4'\nservices:\n  ha:\n    image: {ha}\n    hostname: ha\n    environment:\n      NODE_NAME: ha\n      LABCTL_STAGE: '6'\n      SERF_ENCRYPT_KEY: '{key}'\n    ports:\n      - '127.0.0.1:{http_port}:80'\n  webapp:\n    image: {webapp}\n    environment:\n      SERF_JOIN: ha\n      LABCTL_STAGE: '6'\n      SERF_ENCRYPT_KEY: '{key}'\n    depends_on: [ha]\n",
        ha = Role::Ha.image(),
        webapp = Role::Webapp.image()
    )
}

pub async fn compose(
    runtime: &Arc<dyn Runtime>,
    runs: usize,
    engine_host: Option<&str>,
    progress: &Progress,
) -> Result<Compose> {
    // The commands it starts reach the benchmark's engine.
    let at = |mut c: Command| {
        if let Some(host) = engine_host {
            c.env("DOCKER_HOST", host).env_remove("DOCKER_CONTEXT");
        }
        c
    };
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("labctl-bench-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("docker-compose.yml");
    let project = "labctlbench";
    let (mut lu, mut cu, mut ls, mut cs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let lab_name = "bench-compose";
    let lab = Lab::new(runtime.clone(), LabNames::new(lab_name)?);
    let compose_cmd = |args: &[&str]| {
        let mut c = at(Command::new("docker-compose"));
        c.args(["-p", project, "-f"]).arg(&file).args(args);
        c
    };
    for run in 0..runs {
        // labctl
        progress.set(format!("compose run {}: labctl up", run + 1));
        super::tidy(&lab, progress).await?;
        let port = free_port()?;
        let t0 = Instant::now();
        timed(at(Command::new(&exe)).args([
            "--lab",
            lab_name,
            "--quiet",
            "up",
            "--http-port",
            &port.to_string(),
            "--stats-port",
            "0",
        ]))
        .await?;
        until_answering(port, 2, Duration::from_secs(120)).await?;
        lu.push(t0.elapsed());
        progress.set(format!("compose run {}: labctl scale", run + 1));
        let t0 = Instant::now();
        timed(at(Command::new(&exe)).args(["--lab", lab_name, "--quiet", "scale", "webapp=20"]))
            .await?;
        until_answering(port, 20, Duration::from_secs(120)).await?;
        ls.push(t0.elapsed());
        super::tidy(&lab, progress).await?;
        // docker compose
        progress.set(format!("compose run {}: docker-compose up", run + 1));
        let port = free_port()?;
        std::fs::write(&file, compose_file(port, &crate::lab::new_serf_key()?))?;
        let _ = compose_cmd(&["down", "-v"]).output().await;
        let measured = async {
            let t0 = Instant::now();
            timed(&mut compose_cmd(&["up", "-d", "--scale", "webapp=2"])).await?;
            until_answering(port, 2, Duration::from_secs(120)).await?;
            cu.push(t0.elapsed());
            progress.set(format!("compose run {}: docker-compose scale", run + 1));
            let t0 = Instant::now();
            timed(&mut compose_cmd(&["up", "-d", "--scale", "webapp=20"])).await?;
            until_answering(port, 20, Duration::from_secs(180)).await?;
            cs.push(t0.elapsed());
            anyhow::Ok(())
        }
        .await;
        // Its containers go whatever happened.
        let down = timed(&mut compose_cmd(&["down", "-v"])).await;
        measured.context(
            "the docker-compose side (names on the compose network: on Podman that needs its \
             dnsname plugin, Debian's golang-github-containernetworking-plugin-dnsname)",
        )?;
        down?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Compose {
        labctl_up: summarize(&lu),
        compose_up: summarize(&cu),
        labctl_scale: summarize(&ls),
        compose_scale: summarize(&cs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compose_file_uses_the_lab_images_and_loopback() {
        let f = compose_file(8080, "k3y");
        assert!(f.contains("image: labctl/ha:latest"));
        assert!(f.contains("image: labctl/webapp:latest"));
        assert!(f.contains("'127.0.0.1:8080:80'"));
        assert!(f.contains("SERF_JOIN: ha"));
        assert!(serde_yaml::from_str::<serde_yaml::Value>(&f).is_ok());
    }
}
