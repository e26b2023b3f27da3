//! Running a scenario against a lab: each step in turn, snapshots into an
//! output folder that replaces the previous one only when the whole run
//! succeeded, an INDEX.md of what was captured, and a JUnit report.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::lab::{Lab, Publish};
use crate::naming::HA;
use crate::output::Progress;
use crate::scenario::{Capture, Expectation, Scenario, Step};
use crate::snapshot::{self, Written};
use crate::stage::Stage;

/// How a step went.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// `NN-kind`.
    pub name: String,
    /// How long it took.
    pub took: Duration,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// How a whole run went.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// Every step that ran, the failed one last.
    pub steps: Vec<StepResult>,
    /// Steps not run after a failure.
    pub skipped: usize,
}

impl Report {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.skipped == 0 && self.steps.iter().all(|s| s.failure.is_none())
    }
}

/// Default wait for `wait: {converged | until}`.
const DEFAULT_TIMEOUT: u64 = 60;

/// Runs `scenario` on `lab` (started afresh) and writes its snapshots to
/// `out`, replacing what was there only when every step passed; a failed
/// run's files go to `<out>.failed`.
pub async fn run(
    lab: &Lab,
    scenario: &Scenario,
    out: &Path,
    progress: &Progress,
) -> Result<Report> {
    let stage = Stage::new(scenario.stage)?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("creating `{}`", parent.display()))?;
    let leaf = out
        .file_name()
        .context("the output folder needs a name")?
        .to_string_lossy()
        .into_owned();
    let partial = parent.join(format!(".{leaf}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .with_context(|| format!("creating `{}`", partial.display()))?;

    progress.info(format!(
        "scenario {} (stage {}): lab `{}` is started afresh",
        scenario.name,
        stage.number(),
        lab.names().lab()
    ));
    lab.down(progress).await?;

    let mut report = Report {
        scenario: scenario.name.clone(),
        steps: Vec::new(),
        skipped: 0,
    };
    let mut index: Vec<(String, String, Vec<Written>)> = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let name = format!("{:02}-{}", i + 1, step.kind());
        progress.info(format!(
            "step {}/{}: {}",
            i + 1,
            scenario.steps.len(),
            describe(step)
        ));
        let started = Instant::now();
        let result = run_step(lab, stage, step, &partial, progress, &mut index, i + 1).await;
        let failure = result.err().map(|e| format!("{e:#}"));
        let failed = failure.is_some();
        report.steps.push(StepResult {
            name,
            took: started.elapsed(),
            failure,
        });
        if failed {
            report.skipped = scenario.steps.len() - i - 1;
            break;
        }
    }
    write_index(&partial, scenario, &index, &report)?;
    if report.passed() {
        replace_dir(&partial, out)?;
        let _ = std::fs::remove_dir_all(parent.join(format!("{leaf}.failed")));
    } else {
        let failed = parent.join(format!("{leaf}.failed"));
        let _ = std::fs::remove_dir_all(&failed);
        std::fs::rename(&partial, &failed)
            .with_context(|| format!("keeping the failed run in `{}`", failed.display()))?;
    }
    Ok(report)
}

/// Puts `new` in place of `dest` in two renames, so that `dest` is never
/// half-written.
fn replace_dir(new: &Path, dest: &Path) -> Result<()> {
    let old = dest.with_file_name(format!(
        ".{}.old-{}",
        dest.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let had = dest.exists();
    if had {
        std::fs::rename(dest, &old)
            .with_context(|| format!("moving `{}` aside", dest.display()))?;
    }
    if let Err(e) = std::fs::rename(new, dest) {
        if had {
            let _ = std::fs::rename(&old, dest);
        }
        return Err(e).with_context(|| format!("putting the new `{}` in place", dest.display()));
    }
    if had {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

fn describe(step: &Step) -> String {
    match step {
        Step::Up(u) => format!("up with {} web app(s)", u.webapps),
        Step::Scale(s) => format!("scale to {} web app(s)", s.webapps),
        Step::Start(n) => format!("start {n}"),
        Step::Stop(n) => format!("stop {n}"),
        Step::Kill(n) => format!("kill {n}"),
        Step::Wait(w) if w.converged => "wait until converged".into(),
        Step::Wait(w) => match w.seconds {
            Some(s) => format!("wait {s} s"),
            None => "wait until the expectation holds".into(),
        },
        Step::Snapshot(s) => format!("snapshot {}", s.name),
        Step::Exec(e) => format!("exec in {}: {}", e.node, e.cmd.join(" ")),
        Step::Http(h) => format!("{} request(s) through ha", h.requests),
        Step::Expect(_) => "expect".into(),
    }
}

async fn run_step(
    lab: &Lab,
    stage: Stage,
    step: &Step,
    out: &Path,
    progress: &Progress,
    index: &mut Vec<(String, String, Vec<Written>)>,
    number: usize,
) -> Result<()> {
    let engine = lab.engine();
    match step {
        Step::Up(u) => {
            let publish = Publish::defaults(lab.names(), IpAddr::from([127, 0, 0, 1]), None, None);
            lab.up(None, &publish, u.webapps, stage, progress).await?;
            lab.wait_converged(u.webapps, Duration::from_secs(120), progress)
                .await?;
        }
        Step::Scale(s) => {
            lab.scale(s.webapps, progress).await?;
            lab.wait_converged(s.webapps, Duration::from_secs(120), progress)
                .await?;
            lab.finish_scale(s.webapps, progress).await?;
        }
        Step::Start(node) => lab.start_node(node, progress).await?,
        Step::Stop(node) => {
            let c = lab.node(node).await?;
            engine.stop_container(&c.name, 10).await?;
        }
        Step::Kill(node) => {
            let c = lab.node(node).await?;
            engine.kill_container(&c.name, "SIGKILL").await?;
        }
        Step::Wait(w) => {
            let timeout = Duration::from_secs(w.timeout.unwrap_or(DEFAULT_TIMEOUT));
            if w.converged {
                let expected = lab.running_webapps().await?;
                lab.wait_for(&expected, timeout, progress).await?;
            } else if let Some(sec) = w.seconds {
                tokio::time::sleep(Duration::from_secs_f64(sec)).await;
            } else if let Some(until) = &w.until {
                let started = Instant::now();
                loop {
                    match check(lab, stage, until).await {
                        Ok(()) => break,
                        Err(e) if started.elapsed() > timeout => {
                            bail!("still not true after {} s: {e:#}", timeout.as_secs())
                        }
                        Err(e) => progress.set(format!("waiting: {e:#}")),
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
        Step::Snapshot(s) => {
            let folder = format!("{number:02}-{}", s.name);
            let parts = s.capture.clone().unwrap_or_else(|| Capture::ALL.to_vec());
            let files = snapshot::capture(lab, stage, &parts, &out.join(&folder), &folder).await?;
            progress.info(format!("  captured {} file(s) into {folder}/", files.len()));
            index.push((folder, s.deliverable.clone(), files));
        }
        Step::Exec(e) => {
            let c = lab.node(&e.node).await?;
            let cmd: Vec<&str> = e.cmd.iter().map(String::as_str).collect();
            let result = engine.exec(&c.name, &cmd).await?;
            if let Some(file) = &e.save_as {
                std::fs::write(out.join(file), &result.stdout)
                    .with_context(|| format!("writing `{file}`"))?;
                index.push((
                    String::new(),
                    format!("output of `{}` in `{}`", e.cmd.join(" "), e.node),
                    vec![Written {
                        path: file.clone(),
                        what: format!("`{}` in `{}`", e.cmd.join(" "), e.node),
                    }],
                ));
            }
            if result.code != e.expect_exit {
                bail!(
                    "`{}` in `{}` exited with {}, not {}: {}",
                    e.cmd.join(" "),
                    e.node,
                    result.code,
                    e.expect_exit,
                    result.stderr.trim()
                );
            }
        }
        Step::Http(h) => {
            let port = lab.ha_port(80).await?;
            let mut hosts = BTreeSet::new();
            for i in 0..h.requests {
                let (status, body) = http_get(port)
                    .await
                    .with_context(|| format!("request {}", i + 1))?;
                if status != h.expect_status {
                    bail!(
                        "request {} answered {status}, not {}: {}",
                        i + 1,
                        h.expect_status,
                        body.trim()
                    );
                }
                if let Some(host) = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["host"].as_str().map(String::from))
                {
                    hosts.insert(host);
                }
            }
            let missing: Vec<&String> = h
                .expect_hosts
                .iter()
                .filter(|n| !hosts.contains(*n))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "no answer from {} in {} request(s); answers came from: {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    h.requests,
                    hosts.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
        }
        Step::Expect(e) => check(lab, stage, e).await?,
    }
    Ok(())
}

/// Checks an expectation once; the error says what differs.
pub async fn check(lab: &Lab, stage: Stage, e: &Expectation) -> Result<()> {
    let engine = lab.engine();
    let ha = lab.names().container(HA);
    if let Some(n) = e.members {
        let alive = lab
            .members()
            .await?
            .into_iter()
            .filter(|m| {
                m.status == "alive" && m.tags.get("role").map(String::as_str) == Some("backend")
            })
            .count();
        if alive != n {
            bail!("{alive} alive web app member(s) in Serf, expected {n}");
        }
    }
    if let Some(want) = &e.config_servers {
        let path = stage.generated_config();
        let text = engine
            .exec(&ha, &["cat", path])
            .await?
            .success(&format!("reading `{path}`"))?;
        let have = snapshot::config_servers(&text.stdout);
        if &have != want {
            bail!(
                "`{path}` lists servers [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            );
        }
    }
    if let Some(want) = &e.running_servers {
        let have: Vec<String> = lab
            .backends()
            .await?
            .servers
            .into_iter()
            .map(|s| s.name)
            .collect();
        if &have != want {
            bail!(
                "the running HAProxy has servers [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            );
        }
    }
    if let Some(want) = &e.nodes {
        let have = lab.registry().await?;
        if &have != want {
            bail!(
                "/nodes holds [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            );
        }
    }
    if let Some(want) = &e.servers {
        let servers = lab.backends().await?.servers;
        for (name, state) in want {
            let have = servers.iter().find(|s| &s.name == name);
            let ok = have.is_some_and(|s| {
                if state == "UP" {
                    s.is_verified_up()
                } else {
                    s.status.starts_with(state.as_str())
                }
            });
            if !ok {
                bail!(
                    "`{name}` is {} in HAProxy, expected {state}",
                    have.map_or("absent".to_string(), |s| s.status.clone())
                );
            }
        }
    }
    if let Some(f) = &e.file {
        let c = lab.node(&f.node).await?;
        let out = engine.exec(&c.name, &["cat", &f.path]).await?;
        if out.code != 0 {
            bail!(
                "`{}` cannot be read in `{}`: {}",
                f.path,
                f.node,
                out.stderr.trim()
            );
        }
        if let Some(text) = &f.contains {
            if !out.stdout.contains(text.as_str()) {
                bail!("`{}` in `{}` does not contain `{text}`", f.path, f.node);
            }
        }
        if let Some(text) = &f.not_contains {
            if out.stdout.contains(text.as_str()) {
                bail!("`{}` in `{}` contains `{text}`", f.path, f.node);
            }
        }
    }
    Ok(())
}

/// One GET through `ha` on 127.0.0.1: status and body.
async fn http_get(port: u16) -> Result<(u16, String)> {
    let r = crate::http::get(port, "", Duration::from_secs(30)).await?;
    Ok((r.status, r.body))
}

fn write_index(
    dir: &Path,
    scenario: &Scenario,
    index: &[(String, String, Vec<Written>)],
    report: &Report,
) -> Result<()> {
    let mut md = String::new();
    let _ = writeln!(md, "# {}: {}\n", scenario.name, scenario.description);
    let _ = writeln!(
        md,
        "Made by `labctl` from scenario `{}` at lab stage {}; {}.\n",
        scenario.name,
        scenario.stage,
        if report.passed() {
            "every step passed"
        } else {
            "the run FAILED"
        }
    );
    let _ = writeln!(md, "| file | step | deliverable |\n|---|---|---|");
    for (folder, deliverable, files) in index {
        for f in files {
            let _ = writeln!(
                md,
                "| [{}]({}) — {} | {} | {} |",
                f.path,
                f.path,
                f.what,
                if folder.is_empty() { "exec" } else { folder },
                deliverable
            );
        }
    }
    let _ = writeln!(md, "\n## Steps\n");
    for s in &report.steps {
        let _ = writeln!(
            md,
            "- {} ({:.1} s){}",
            s.name,
            s.took.as_secs_f64(),
            s.failure
                .as_ref()
                .map(|f| format!(": FAILED: {f}"))
                .unwrap_or_default()
        );
    }
    std::fs::write(dir.join("INDEX.md"), md).context("writing INDEX.md")
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A JUnit XML document of several runs, one test suite each.
pub fn junit(reports: &[Report]) -> String {
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for r in reports {
        let failures = r.steps.iter().filter(|s| s.failure.is_some()).count();
        let total: f64 = r.steps.iter().map(|s| s.took.as_secs_f64()).sum();
        let _ = writeln!(
            xml,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{}\" time=\"{total:.3}\">",
            xml_escape(&r.scenario),
            r.steps.len() + r.skipped,
            r.skipped
        );
        for s in &r.steps {
            let _ = write!(
                xml,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                xml_escape(&r.scenario),
                xml_escape(&s.name),
                s.took.as_secs_f64()
            );
            match &s.failure {
                None => xml.push_str("/>\n"),
                Some(f) => {
                    let _ = writeln!(
                        xml,
                        ">\n      <failure message=\"{}\"/>\n    </testcase>",
                        xml_escape(f)
                    );
                }
            }
        }
        for i in 0..r.skipped {
            let _ = writeln!(
                xml,
                "    <testcase classname=\"{}\" name=\"not run {}\"><skipped/></testcase>",
                xml_escape(&r.scenario),
                i + 1
            );
        }
        xml.push_str("  </testsuite>\n");
    }
    xml.push_str("</testsuites>\n");
    xml
}

/// Where a scenario's files go by default: `logs/<name>`.
pub fn default_out(name: &str) -> PathBuf {
    Path::new("logs").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_reports_failures_and_skips() {
        let r = Report {
            scenario: "task5".into(),
            steps: vec![
                StepResult {
                    name: "01-up".into(),
                    took: Duration::from_millis(1500),
                    failure: None,
                },
                StepResult {
                    name: "02-expect".into(),
                    took: Duration::ZERO,
                    failure: Some("/nodes holds [s1] <not s2>".into()),
                },
            ],
            skipped: 1,
        };
        assert!(!r.passed());
        let xml = junit(&[r]);
        assert!(xml.contains("<testsuite name=\"task5\" tests=\"3\" failures=\"1\" skipped=\"1\" time=\"1.500\">"), "{xml}");
        assert!(
            xml.contains("<testcase classname=\"task5\" name=\"01-up\" time=\"1.500\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"/nodes holds [s1] &lt;not s2&gt;\"/>"),
            "{xml}"
        );
        assert!(xml.contains("<skipped/>"));
    }

    #[test]
    fn a_new_folder_replaces_the_old_one_whole() {
        let root = std::env::temp_dir().join(format!("labctl-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("task5")).unwrap();
        std::fs::write(root.join("task5/old.txt"), "old").unwrap();
        std::fs::create_dir_all(root.join("new")).unwrap();
        std::fs::write(root.join("new/new.txt"), "new").unwrap();
        replace_dir(&root.join("new"), &root.join("task5")).unwrap();
        assert!(root.join("task5/new.txt").exists());
        assert!(!root.join("task5/old.txt").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
