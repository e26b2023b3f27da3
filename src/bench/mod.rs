//! `labctl bench`: how fast the lab converges, whether it loses requests
//! while it scales, and how it compares with Docker Compose on the same
//! images. Each benchmark runs on a fresh lab of its own and sends load only
//! to that lab's published port on 127.0.0.1.

pub mod load;
pub mod stats;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::engine::Engine;
use crate::images::Role;
use crate::lab::{Lab, Publish};
use crate::naming::{self, LabNames};
use crate::output::Progress;
use stats::{summarize, Summary};

/// The benchmarks, by name.
pub const ALL: [&str; 5] = ["join", "leave", "zero-downtime", "compose", "images"];

/// What `labctl bench` measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: String,
    /// Runs per benchmark.
    pub runs: usize,
    /// Start → UP, one web app at a time (2 → 12).
    pub join_one_by_one: Option<Summary>,
    /// 2 → 12 in one step, until all UP.
    pub join_one_step: Option<Summary>,
    /// Graceful leave → out of HAProxy.
    pub leave_graceful: Option<Summary>,
    /// SIGKILL → out of rotation.
    pub leave_sigkill: Option<Summary>,
    /// Load while scaling 2 → 6 → 2 with a kill per cycle.
    pub zero_downtime: Option<load::LoadReport>,
    /// Scale cycles run under load.
    pub cycles: usize,
    /// labctl vs Docker Compose.
    pub compose: Option<Compose>,
    /// Image sizes and build times.
    pub images: Option<Images>,
}

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

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or_else(String::new, |kb| {
            format!(", {:.0} GiB", kb / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores{mem}, Linux {}", kernel.trim())
}

fn publish() -> Publish {
    Publish {
        bind: std::net::IpAddr::from([127, 0, 0, 1]),
        http: 0,
        stats: 0,
        stats_auth: None,
    }
}

/// Runs the named benchmarks.
pub async fn run(
    engine: &Engine,
    names: &[String],
    runs: usize,
    cycles: usize,
    progress: &Progress,
) -> Result<Report> {
    let mut report = Report {
        machine: machine(),
        runs,
        cycles,
        ..Report::default()
    };
    for name in names {
        progress.info(format!("bench {name}"));
        match name.as_str() {
            "join" => {
                let (one, step) = join(engine, runs, progress).await?;
                report.join_one_by_one = Some(summarize(&one));
                report.join_one_step = Some(summarize(&step));
            }
            "leave" => {
                let (graceful, kill) = leave(engine, runs, progress).await?;
                report.leave_graceful = Some(summarize(&graceful));
                report.leave_sigkill = Some(summarize(&kill));
            }
            "zero-downtime" => {
                report.zero_downtime = Some(zero_downtime(engine, cycles, progress).await?)
            }
            "compose" => report.compose = Some(compose(engine, runs, progress).await?),
            "images" => report.images = Some(images(engine, progress).await?),
            other => bail!(
                "unknown benchmark `{other}`: choose among {}",
                ALL.join(", ")
            ),
        }
    }
    Ok(report)
}

async fn fresh_lab(engine: &Engine, name: &str, webapps: u32, progress: &Progress) -> Result<Lab> {
    let lab = Lab::new(engine.clone(), LabNames::new(name)?);
    lab.down(progress).await?;
    lab.up(None, &publish(), webapps, crate::stage::FINAL, progress)
        .await?;
    lab.wait_converged(webapps, Duration::from_secs(120), progress)
        .await?;
    lab.finish_scale(webapps, progress).await?;
    Ok(lab)
}

/// Polls HAProxy inside `ha` until `done` holds for its servers.
async fn until(
    lab: &Lab,
    timeout: Duration,
    done: impl Fn(&[crate::stats::ServerState]) -> bool,
) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Ok(b) = lab.backends().await {
            if done(&b.servers) {
                return Ok(());
            }
        }
    }
    bail!(
        "HAProxy did not reach the expected state within {} s",
        timeout.as_secs()
    )
}

async fn join(
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
        lab.scale(2, progress).await?;
        lab.wait_converged(2, Duration::from_secs(60), progress)
            .await?;
        lab.finish_scale(2, progress).await?;
        let t0 = Instant::now();
        lab.scale(12, progress).await?;
        lab.wait_converged(12, Duration::from_secs(60), progress)
            .await?;
        step.push(t0.elapsed());
        lab.down(progress).await?;
    }
    Ok((one, step))
}

async fn leave(
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
                until(&lab, Duration::from_secs(30), |s| {
                    !s.iter().any(|s| s.name == node)
                })
                .await?;
                graceful.push(t0.elapsed());
            } else {
                engine.kill_container(&name, "SIGKILL").await?;
                until(&lab, Duration::from_secs(30), |s| {
                    !s.iter().any(|s| s.name == node && s.is_up())
                })
                .await?;
                kill.push(t0.elapsed());
            }
            engine.remove_container(&name).await?;
        }
        lab.down(progress).await?;
    }
    Ok((graceful, kill))
}

/// Scales 2 → 6 → 2 `cycles` times under load, killing one web app per cycle.
pub async fn zero_downtime(
    engine: &Engine,
    cycles: usize,
    progress: &Progress,
) -> Result<load::LoadReport> {
    let lab = fresh_lab(engine, "bench-zero", 2, progress).await?;
    let port = lab.ha_port(80).await?;
    let load = load::Load::start(port, 4, 4, 2_000_000, Duration::from_secs(30 * 60));
    let result: Result<()> = async {
        for c in 0..cycles {
            progress.set(format!("zero-downtime: cycle {}/{cycles}", c + 1));
            lab.scale(6, progress).await?;
            lab.wait_converged(6, Duration::from_secs(60), progress)
                .await?;
            let victim = naming::webapp_name(3 + (c % 4) as u32);
            engine
                .kill_container(&lab.names().container(&victim), "SIGKILL")
                .await?;
            until(&lab, Duration::from_secs(30), |s| {
                !s.iter().any(|s| s.name == victim && s.is_up())
            })
            .await?;
            lab.scale(2, progress).await?;
            lab.wait_converged(2, Duration::from_secs(60), progress)
                .await?;
            lab.finish_scale(2, progress).await?;
        }
        Ok(())
    }
    .await;
    let report = load.finish().await;
    if let Err(e) = result {
        return Err(e.context(
            "lab `bench-zero` is left as it is for inspection (`labctl --lab bench-zero status`); \
             `labctl --lab bench-zero down` removes it",
        ));
    }
    lab.down(progress).await?;
    Ok(report)
}

/// Sends requests through `port` until `n` distinct web apps answered.
async fn until_answering(port: u16, n: usize, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let mut hosts = BTreeSet::new();
    while started.elapsed() < timeout {
        if let Ok(r) = crate::http::get(port, "", Duration::from_secs(5)).await {
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

fn timed(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
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

async fn compose(engine: &Engine, runs: usize, progress: &Progress) -> Result<Compose> {
    let exe = std::env::current_exe()?;
    let dir = std::env::temp_dir().join(format!("labctl-bench-compose-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("docker-compose.yml");
    let project = "labctlbench";
    let (mut lu, mut cu, mut ls, mut cs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let lab_name = "bench-cmp";
    let lab = Lab::new(engine.clone(), LabNames::new(lab_name)?);
    let compose_cmd = |args: &[&str]| {
        let mut c = Command::new("docker-compose");
        c.args(["-p", project, "-f"]).arg(&file).args(args);
        c
    };
    for run in 0..runs {
        // labctl
        progress.set(format!("compose run {}: labctl up", run + 1));
        lab.down(progress).await?;
        let port = free_port()?;
        let t0 = Instant::now();
        timed(Command::new(&exe).args([
            "--lab",
            lab_name,
            "--quiet",
            "up",
            "--http-port",
            &port.to_string(),
            "--stats-port",
            "0",
        ]))?;
        until_answering(port, 2, Duration::from_secs(120)).await?;
        lu.push(t0.elapsed());
        progress.set(format!("compose run {}: labctl scale", run + 1));
        let t0 = Instant::now();
        timed(Command::new(&exe).args(["--lab", lab_name, "--quiet", "scale", "webapp=20"]))?;
        until_answering(port, 20, Duration::from_secs(120)).await?;
        ls.push(t0.elapsed());
        lab.down(progress).await?;
        // docker compose
        progress.set(format!("compose run {}: docker-compose up", run + 1));
        let port = free_port()?;
        std::fs::write(&file, compose_file(port, &bench_key()?))?;
        let _ = compose_cmd(&["down", "-v"]).output();
        let t0 = Instant::now();
        timed(&mut compose_cmd(&["up", "-d", "--scale", "webapp=2"]))?;
        until_answering(port, 2, Duration::from_secs(120)).await?;
        cu.push(t0.elapsed());
        progress.set(format!("compose run {}: docker-compose scale", run + 1));
        let t0 = Instant::now();
        timed(&mut compose_cmd(&["up", "-d", "--scale", "webapp=20"]))?;
        until_answering(port, 20, Duration::from_secs(180)).await?;
        cs.push(t0.elapsed());
        timed(&mut compose_cmd(&["down", "-v"]))?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Compose {
        labctl_up: summarize(&lu),
        compose_up: summarize(&cu),
        labctl_scale: summarize(&ls),
        compose_scale: summarize(&cs),
    })
}

fn bench_key() -> Result<String> {
    use base64::Engine as _;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(key))
}

async fn images(engine: &Engine, progress: &Progress) -> Result<Images> {
    let exe = std::env::current_exe()?;
    progress.set("images: cold build (--no-cache)");
    let t0 = Instant::now();
    timed(Command::new(&exe).args(["--quiet", "build", "--no-cache"]))?;
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
    )?;
    let rebuild = t0.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    // Back to the images of the embedded templates.
    timed(Command::new(&exe).args(["--quiet", "build"]))?;
    Ok(Images {
        ha_mb: engine.image_size(Role::Ha.image()).await? as f64 / 1e6,
        webapp_mb: engine.image_size(Role::Webapp.image()).await? as f64 / 1e6,
        cold_build_s: cold.as_secs_f64(),
        rebuild_after_edit_s: rebuild.as_secs_f64(),
    })
}

fn ms(s: &Summary) -> String {
    format!(
        "{:.0} / {:.0} ms (min {:.0}, max {:.0}, n = {})",
        s.p50, s.p95, s.min, s.max, s.n
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The report as Markdown (BENCHMARKS.md is this, from a real run).
pub fn markdown(r: &Report, command: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# labctl benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `{command}` — do not edit by hand; run it again.\n"
    );
    let _ = writeln!(md, "Machine: {}. Runs per benchmark: {}. Figures are medians / p95 with min–max, measured in one run.\n", r.machine, r.runs);
    let _ = writeln!(md, "## Method\n");
    let _ = writeln!(
        md,
        "- Each benchmark runs on a fresh lab of its own (`bench-…`), stage 6, published on 127.0.0.1; load goes only to that port.\n\
         - **Join**: from just before the container is created and started to the moment HAProxy (read through its runtime API inside `ha`) reports it UP with a passed health check; 2 → 12 one by one, then 2 → 12 in one `scale`.\n\
         - **Leave**: graceful = the node's Serf agent is taken down (it leaves the cluster) until HAProxy no longer lists it; SIGKILL = `docker kill` until HAProxy no longer has it UP.\n\
         - **Zero downtime**: 4 kept-alive and 4 new-connection workers (these send `Connection: close`) send `GET /` through `ha` while the lab scales 2 → 6 → 2 {} times, with one web app SIGKILLed per cycle.\n\
         - **Compose**: the same images; `labctl up` / `scale` as commands against `docker-compose up -d` / `--scale` of an equivalent file, alternating, each until every web app has answered through `ha`.\n",
        r.cycles
    );
    let _ = writeln!(md, "## Results against the targets\n");
    let _ = writeln!(md, "| figure | measured | target | |\n|---|---|---|---|");
    if let Some(s) = &r.join_one_by_one {
        let _ = writeln!(
            md,
            "| join: start → UP, p50 / p95 (one by one) | {} | p95 ≤ 1000 ms | {} |",
            ms(s),
            verdict(s.p95 <= 1000.0)
        );
    }
    if let Some(s) = &r.join_one_step {
        let _ = writeln!(md, "| join: 2 → 12 in one step, all UP | {} | — | |", ms(s));
    }
    if let Some(s) = &r.leave_graceful {
        let _ = writeln!(
            md,
            "| graceful leave → out of rotation | {} | p95 ≤ 500 ms | {} |",
            ms(s),
            verdict(s.p95 <= 500.0)
        );
    }
    if let Some(s) = &r.leave_sigkill {
        let _ = writeln!(
            md,
            "| SIGKILL → out of rotation | {} | p95 ≤ 2000 ms | {} |",
            ms(s),
            verdict(s.p95 <= 2000.0)
        );
    }
    if let Some(z) = &r.zero_downtime {
        let lat = z.latency.map_or_else(String::new, |l| {
            format!("; latency p50 {:.1} ms, p99 {:.1} ms", l.p50, l.p99)
        });
        let _ = writeln!(
            md,
            "| failed requests in {} scale cycles with kills | {} of {} (non-2xx {}, connection errors {}; {} stale keep-alive reuses resent){lat} | 0 | {} |",
            r.cycles, z.failed(), z.sent, z.non_2xx, z.connection_errors, z.stale_reuses, verdict(z.failed() == 0 && z.sent > 0)
        );
    }
    if let Some(c) = &r.compose {
        let up = c.labctl_up.p50 / c.compose_up.p50;
        let sc = c.labctl_scale.p50 / c.compose_scale.p50;
        let _ = writeln!(md, "| `labctl up` / compose up (all answering) | {:.0} ms / {:.0} ms = {up:.2} | ≤ 1.0 | {} |", c.labctl_up.p50, c.compose_up.p50, verdict(up <= 1.0));
        let _ = writeln!(md, "| `labctl scale webapp=20` / compose scale | {:.0} ms / {:.0} ms = {sc:.2} | ≤ 1.0 | {} |", c.labctl_scale.p50, c.compose_scale.p50, verdict(sc <= 1.0));
    }
    if let Some(i) = &r.images {
        let _ = writeln!(
            md,
            "| webapp image / ha image | {:.1} MB / {:.1} MB | ≤ 100 / ≤ 130 MB | {} |",
            i.webapp_mb,
            i.ha_mb,
            verdict(i.webapp_mb <= 100.0 && i.ha_mb <= 130.0)
        );
        let _ = writeln!(
            md,
            "| rebuild after a template edit | {:.1} s | ≤ 5 s | {} |",
            i.rebuild_after_edit_s,
            verdict(i.rebuild_after_edit_s <= 5.0)
        );
        let _ = writeln!(
            md,
            "| cold build (`--no-cache`, base image present) | {:.1} s | — | |",
            i.cold_build_s
        );
    }
    if let Some(c) = &r.compose {
        let _ = writeln!(md, "\n## labctl and Docker Compose, every run\n\n| | labctl | docker-compose |\n|---|---|---|");
        let _ = writeln!(
            md,
            "| up (ha + web apps answering) | {} | {} |",
            ms(&c.labctl_up),
            ms(&c.compose_up)
        );
        let _ = writeln!(
            md,
            "| scale to 20 (all answering) | {} | {} |",
            ms(&c.labctl_scale),
            ms(&c.compose_scale)
        );
        let _ = writeln!(
            md,
            "\nThe compose file is the one a user of the lab would write: `webapp` depends on `ha` and joins it by name; every web app answers through `ha` before the clock stops, for both tools."
        );
    }
    let _ = writeln!(
        md,
        "\n## What was tuned\n\nEach change was measured side by side, before and after, when it was made; this run does not measure them again.\n\n{TUNING}"
    );
    md
}

/// What was tuned to reach the targets, and what each change bought. These
/// figures were measured side by side (before and after, same machine, same
/// session) when each change was made; a bench run does not measure them
/// again, and the Markdown says so.
const TUNING: &str = "\
| change | figure | before → after |
|---|---|---|
| Serf `local` profile; `ha` polls its agent every 100 ms over one kept RPC connection instead of waiting for Serf's coalesced events | graceful leave → out, p50 / p95 | 475 / 538 → 219 / 284 ms |
| HAProxy checks `inter 300ms fastinter 150ms fall 2 rise 1`, `timeout check 300ms` | SIGKILL → out, p50 / p95 | 1448 / 3746 → 855 / 895 ms |
| a replaced `ha` gets one `-retry-join` per known web app | replaced `ha` back in its cluster | ≈ 110 s → 0.5 s |
| a new `ha` also joins the web apps started with it (Serf retries a failed join only after 1 s, its minimum) | `labctl up`, ha + 2 all UP, 8 runs each | 0.9–2.8 s (one run in two paid the retry) → 0.8–1.1 s |
| ha's HAProxy template copied last | rebuild of `ha` after a template edit | 8.5 → 7.0 s |
| Dockerfile metadata (ENV, EXPOSE, ENTRYPOINT, constant labels) above the files; only the context digest given as a build label (the engine adds one committed step per build label) | rebuild of `ha` after a template edit | 6.8 → 4.0 (metadata moved) → 2.1 s (one label) |
| the two Dockerfiles share no step (the role is set in the first): the engine's cache follows the newest equal step, which after `build --no-cache` was the other image's | rebuild of `ha` after a template edit, just after `build --no-cache` | 14.0 → 2.0 s |
| the load generator's one-request workers send `Connection: close`, so HAProxy closes first; before, the Docker proxy behind the published port did, and its connections to `ha` filled every local port in TIME_WAIT (28 230) within a minute, after which it reset new clients | connection errors in the zero-downtime bench, 10 cycles | 90 of 307 457 and 122 of 285 526 → 0 of 362 506 (p99 26.5 → 12.8 ms) |
| 32 container creations at once instead of 16 | `labctl scale webapp=20`, 3 pairs | 3870 / 4360 / 4516 → 3797 / 4368 / 4600 ms: no gain, 16 kept |
";

/// The report as plain tables for a terminal: the figures, without the
/// method and the tuning history that BENCHMARKS.md carries.
pub fn text(r: &Report) -> String {
    let md = markdown(r, "labctl bench");
    let figures = md.split("\n## What was tuned").next().unwrap_or_default();
    figures
        .lines()
        .filter(|l| l.starts_with('|') || (l.starts_with("## ") && *l != "## Method"))
        .collect::<Vec<_>>()
        .join("\n")
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

    #[test]
    fn the_markdown_says_whether_targets_are_met() {
        let s = |p95| Summary {
            n: 20,
            p50: p95 / 2.0,
            p95,
            p99: p95,
            min: 1.0,
            max: p95,
        };
        let r = Report {
            machine: "test".into(),
            runs: 2,
            join_one_by_one: Some(s(800.0)),
            leave_graceful: Some(s(900.0)),
            ..Report::default()
        };
        let md = markdown(&r, "labctl bench");
        assert!(md.contains("## What was tuned"), "{md}");
        let plain = text(&r);
        assert!(
            plain.starts_with("## Results against the targets\n|"),
            "{plain}"
        );
        assert!(
            plain.contains("| graceful leave → out of rotation |"),
            "{plain}"
        );
        assert!(
            !plain.contains("Method") && !plain.contains("What was tuned"),
            "{plain}"
        );
        assert!(md.contains("| join: start → UP, p50 / p95 (one by one) | 400 / 800 ms (min 1, max 800, n = 20) | p95 ≤ 1000 ms | met |"), "{md}");
        assert!(md.contains("| graceful leave → out of rotation | 450 / 900 ms (min 1, max 900, n = 20) | p95 ≤ 500 ms | NOT met |"), "{md}");
    }
}
