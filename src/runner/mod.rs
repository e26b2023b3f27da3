//! Running a scenario against a lab: each step in turn, snapshots into an
//! output folder that replaces the previous one only when the whole run
//! succeeded. What a step expects is checked in `expect`; the INDEX.md and
//! JUnit files are written by `report`.

mod expect;
mod record;
pub(crate) mod snapshot;
mod subject;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub use crate::node::get::Answer;
pub use expect::check;
pub use record::{junit, Report, StepResult};
pub use subject::{Listing, Subject};

use record::{write_index, Indexed};

use crate::output::Progress;
use crate::scenario::{Capture, Scenario, Step};
use crate::screenshot::Screenshots;
use crate::service::{Placement, UpOptions};
use crate::stage::Stage;
use snapshot::Written;

/// Default wait for `wait: {converged | until}`.
const DEFAULT_TIMEOUT: u64 = 60;
/// How long an `up` or `scale` step waits for the lab to serve.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a `stop` step lets a node leave before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs `scenario` on `lab` (started afresh where `place` says) and writes its snapshots to
/// `out`, replacing what was there only when every step passed; a failed
/// run's files go to `<out>.failed`.
pub async fn run(
    lab: &dyn Subject,
    place: &Placement,
    shots: &Screenshots<'_>,
    scenario: &Scenario,
    out: &Path,
    progress: &Progress,
) -> Result<Report> {
    let stage = Stage::new(scenario.stage)?;
    refused(lab, scenario)?;
    check_out(out, "--out").map_err(crate::usage::usage)?;
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
    let partial = Partial::new(parent.join(format!(".{leaf}.partial-{}", std::process::id())))?;
    let partial = partial.path();

    progress.info(format!(
        "scenario {} (stage {}): lab `{}` is started afresh",
        scenario.name,
        stage.number(),
        lab.names().lab()
    ));
    // The whole run holds the lab's lock: another command in between would
    // change what the snapshots capture.
    let _lock = lab.hold(progress).await?;
    lab.remove(progress).await?;

    let mut report = Report {
        scenario: scenario.name.clone(),
        steps: Vec::new(),
        skipped: 0,
    };
    let mut index: Vec<Indexed> = Vec::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        let name = format!("{:02}-{}", i + 1, step.kind());
        progress.info(format!(
            "step {}/{}: {}",
            i + 1,
            scenario.steps.len(),
            describe(step)
        ));
        let started = Instant::now();
        let cx = StepContext {
            lab,
            place,
            shots,
            stage,
            progress,
        };
        let result = run_step(&cx, step, partial, &mut index, i + 1).await;
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
    write_index(partial, scenario, &index, &report)?;
    let failed = parent.join(format!("{leaf}.failed"));
    if report.passed() {
        replace_dir(partial, out)?;
        if record::made_by_labctl(&failed) {
            let _ = std::fs::remove_dir_all(&failed);
        }
    } else {
        if record::made_by_labctl(&failed) {
            let _ = std::fs::remove_dir_all(&failed);
        }
        std::fs::rename(partial, &failed)
            .with_context(|| format!("keeping the failed run in `{}`", failed.display()))?;
    }
    Ok(report)
}

/// A run's files while it runs: removed on every way out (an error, a
/// panic, Ctrl-C dropping the run) unless they were moved into place.
struct Partial(PathBuf);

impl Partial {
    fn new(path: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("creating `{}`", path.display()))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        // Gone already when it was renamed into place.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks, before a run, that its output folder `out` (given with
/// `option`) can be written and is labctl's to replace: absent, empty, or
/// a run's folder that labctl made (and likewise `<out>.failed`).
pub fn check_out(out: &Path, option: &str) -> Result<(), String> {
    let Some(leaf) = out.file_name() else {
        return Err(format!(
            "`{}` names no folder; give {option} a folder such as `logs/demo`",
            out.display()
        ));
    };
    let failed = out.with_file_name(format!("{}.failed", leaf.to_string_lossy()));
    for dir in [out, failed.as_path()] {
        if std::fs::symlink_metadata(dir).is_ok() && !record::made_by_labctl(dir) {
            return Err(format!(
                "`{}` exists and labctl did not make it (no INDEX.md of a labctl run in it), \
                 so labctl will not replace it; give {option} another folder, or move it away",
                dir.display()
            ));
        }
    }
    crate::writable::dir(out, option)
}

/// Fails, saying why, when a step of `scenario` cannot run on `lab`:
/// checked for every step before anything is touched.
pub fn refused(lab: &dyn Subject, scenario: &Scenario) -> Result<()> {
    let reasons = refusals(scenario, |stage, step| lab.refuses(stage, step));
    if reasons.is_empty() {
        return Ok(());
    }
    bail!(
        "scenario {} cannot run on lab `{}`; nothing was changed:\n  {}",
        scenario.name,
        lab.names().lab(),
        reasons.join("\n  ")
    )
}

/// Each step `refuses` refuses, with its number and why.
pub fn refusals(
    scenario: &Scenario,
    refuses: impl Fn(Stage, &Step) -> Option<String>,
) -> Vec<String> {
    let Ok(stage) = Stage::new(scenario.stage) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    let mut said = std::collections::HashSet::new();
    for (i, step) in scenario.steps.iter().enumerate() {
        if let Some(why) = refuses(stage, step) {
            // A reason said once; later steps refused for it are named only.
            let line = format!("step {} ({})", i + 1, describe(step));
            if said.insert(why.clone()) {
                out.push(format!("{line}: {why}"));
            } else {
                out.push(format!("{line}: the same"));
            }
        }
    }
    out
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

/// What every step runs with.
struct StepContext<'a> {
    lab: &'a dyn Subject,
    place: &'a Placement,
    shots: &'a Screenshots<'a>,
    stage: Stage,
    progress: &'a Progress,
}

async fn run_step(
    cx: &StepContext<'_>,
    step: &Step,
    out: &Path,
    index: &mut Vec<Indexed>,
    number: usize,
) -> Result<()> {
    let StepContext {
        lab,
        place,
        shots,
        stage,
        progress,
    } = *cx;
    match step {
        Step::Up(u) => {
            let opts = UpOptions {
                webapps: Some(u.webapps),
                stage,
                place: place.clone(),
                wait: Some(CONVERGE_TIMEOUT),
            };
            lab.up(&opts, progress).await?;
        }
        Step::Scale(s) => {
            lab.scale(s.webapps, Some(CONVERGE_TIMEOUT), progress)
                .await?;
        }
        Step::Start(node) => lab.start_node(node, progress).await?,
        Step::Stop(node) => lab.stop_node(node, STOP_GRACE, progress).await?,
        Step::Kill(node) => lab.kill_node(node, "SIGKILL", progress).await?,
        Step::Wait(w) => {
            let timeout = Duration::from_secs(w.timeout.unwrap_or(DEFAULT_TIMEOUT));
            if w.converged {
                lab.wait_converged(timeout, progress).await?;
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
            let files =
                snapshot::capture(lab, shots, stage, &parts, &out.join(&folder), &folder).await?;
            progress.info(format!("  captured {} file(s) into {folder}/", files.len()));
            index.push(Indexed {
                folder,
                deliverable: s.deliverable.clone(),
                files,
            });
        }
        Step::Exec(e) => {
            let cmd: Vec<&str> = e.cmd.iter().map(String::as_str).collect();
            let result = lab.exec(&e.node, &cmd).await?;
            if let Some(file) = &e.save_as {
                std::fs::write(out.join(file), &result.stdout)
                    .with_context(|| format!("writing `{file}`"))?;
                index.push(Indexed {
                    folder: String::new(),
                    deliverable: format!("output of `{}` in `{}`", e.cmd.join(" "), e.node),
                    files: vec![Written {
                        path: file.clone(),
                        what: format!("`{}` in `{}`", e.cmd.join(" "), e.node),
                        missing: None,
                    }],
                });
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
        Step::Http(h) => expect::http(lab, h).await?,
        Step::Expect(e) => check(lab, stage, e).await?,
    }
    Ok(())
}

/// Where a scenario's files go by default: `logs/<name>`.
pub fn default_out(name: &str) -> PathBuf {
    Path::new("logs").join(name)
}
#[cfg(test)]
mod tests {
    use super::*;

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
