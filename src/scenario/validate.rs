//! A parsed scenario checked as a whole: stages, step arguments, node
//! names, file names and expectations, every problem reported at its step.

use std::collections::HashSet;

use super::{Expectation, ScaleStep, Scenario, Step, UpStep};
use crate::naming;
use crate::stage::Stage;

fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

/// Where in a scenario file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// At a top-level key (`name`, `stage`).
    Key(&'static str),
    /// At a step, by index.
    Step(usize),
}

/// Checks a parsed scenario as a whole: every problem, with where it is.
pub fn validate(s: &Scenario) -> Vec<(Place, String)> {
    let mut problems = Vec::new();
    let stage = match Stage::new(s.stage) {
        Ok(stage) => Some(stage),
        Err(e) => {
            problems.push((Place::Key("stage"), format!("{e}")));
            None
        }
    };
    if !safe_file_name(&s.name) {
        problems.push((
            Place::Key("name"),
            format!(
                "scenario name `{}` must be a file name (letters, digits, `-`, `_`)",
                s.name
            ),
        ));
    }
    if !matches!(s.steps.first(), Some(Step::Up(_))) {
        problems.push((
            Place::Step(0),
            "the first step must be `up`: a scenario starts from a fresh lab".into(),
        ));
    }
    let mut webapps: HashSet<String> = HashSet::new();
    let mut snapshots = HashSet::new();
    let mut saved = HashSet::new();
    let known =
        |node: &str, webapps: &HashSet<String>| node == naming::HA || webapps.contains(node);
    let described = |webapps: &HashSet<String>| {
        let mut list: Vec<&str> = webapps.iter().map(String::as_str).collect();
        list.sort_by_key(|n| crate::node::membership::natural_key(n));
        if list.is_empty() {
            "`ha` only".to_string()
        } else {
            format!("ha, {}", list.join(", "))
        }
    };
    for (i, step) in s.steps.iter().enumerate() {
        let mut bad = |msg: String| {
            problems.push((
                Place::Step(i),
                format!("step {} (`{}`): {msg}", i + 1, step.kind()),
            ))
        };
        match step {
            Step::Up(UpStep { webapps: n }) | Step::Scale(ScaleStep { webapps: n }) => {
                if matches!(step, Step::Up(_)) && i > 0 {
                    bad("`up` may only be the first step; use `scale` or `start` later".into());
                }
                if *n > 252 {
                    bad(format!(
                        "{n} web apps do not fit the lab's subnet (at most 252)"
                    ));
                }
                webapps = (1..=*n).map(naming::webapp_name).collect();
            }
            Step::Start(node) => {
                if node != naming::HA && naming::webapp_number(node).is_none() {
                    bad(format!(
                        "unknown node `{node}`: nodes are `ha` and web apps `s1`, `s2`, …"
                    ));
                } else if node != naming::HA {
                    webapps.insert(node.clone());
                }
            }
            Step::Stop(node) | Step::Kill(node) => {
                if !known(node, &webapps) {
                    bad(format!(
                        "unknown node `{node}`: at this step the lab has {}",
                        described(&webapps)
                    ));
                }
            }
            Step::Exec(e) => {
                if !known(&e.node, &webapps) {
                    bad(format!(
                        "unknown node `{}`: at this step the lab has {}",
                        e.node,
                        described(&webapps)
                    ));
                }
                if e.cmd.is_empty() {
                    bad("`cmd` is empty: give the command and its arguments, e.g. `cmd: [ls, /nodes]`".into());
                }
                if let Some(f) = &e.save_as {
                    if !safe_file_name(f) || !saved.insert(f.clone()) {
                        bad(format!("`save_as: {f}` must be a new, plain file name"));
                    }
                }
            }
            Step::Wait(w) => {
                let given = usize::from(w.converged)
                    + usize::from(w.seconds.is_some())
                    + usize::from(w.until.is_some());
                if given != 1 {
                    bad(
                        "give exactly one of `converged: true`, `seconds: N` or `until: {…}`"
                            .into(),
                    );
                }
                if let Some(sec) = w.seconds {
                    if !(0.0..=600.0).contains(&sec) {
                        bad(format!("`seconds: {sec}` must be between 0 and 600"));
                    }
                }
                if w.timeout.is_some_and(|t| t == 0 || t > 1800) {
                    bad("`timeout` must be between 1 and 1800 seconds".into());
                }
                if let Some(e) = &w.until {
                    for msg in check_expectation(e, stage, &webapps) {
                        bad(msg);
                    }
                }
            }
            Step::Snapshot(snap) => {
                if !safe_file_name(&snap.name) {
                    bad(format!("snapshot name `{}` must be a plain folder name (letters, digits, `-`, `_`)", snap.name));
                } else if !snapshots.insert(snap.name.clone()) {
                    bad(format!("snapshot name `{}` is used twice", snap.name));
                }
            }
            Step::Http(h) => {
                if h.requests == 0 || h.requests > 10_000 {
                    bad("`requests` must be between 1 and 10000".into());
                }
            }
            Step::Expect(e) => {
                for msg in check_expectation(e, stage, &webapps) {
                    bad(msg);
                }
            }
        }
    }
    problems
}

fn check_expectation(
    e: &Expectation,
    stage: Option<Stage>,
    webapps: &HashSet<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    // A stage out of range is said once, at its key.
    let (serf, registry) = stage.map_or((true, true), |s| (s.has_serf(), s.keeps_registry()));
    let stage = stage.map_or_else(String::new, |s| s.to_string());
    if e.members.is_some() && !serf {
        out.push(format!(
            "`members` needs Serf, which runs from stage 2 (this scenario is at stage {stage})"
        ));
    }
    if e.nodes.is_some() && !registry {
        out.push(format!(
            "`nodes` needs /nodes, kept from stage 5 (this scenario is at stage {stage})"
        ));
    }
    if let Some(f) = &e.file {
        if f.node != naming::HA && !webapps.contains(&f.node) {
            out.push(format!("unknown node `{}` in `file`", f.node));
        }
        if f.contains.is_none() && f.not_contains.is_none() {
            out.push("`file` needs `contains` or `not_contains`".into());
        }
    }
    let empty = e.members.is_none()
        && e.config_servers.is_none()
        && e.running_servers.is_none()
        && e.nodes.is_none()
        && e.servers.is_none()
        && e.file.is_none();
    if empty {
        out.push("an expectation needs at least one of: members, config_servers, running_servers, nodes, servers, file".into());
    }
    out
}
