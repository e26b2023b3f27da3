//! Scenario files: YAML read strictly (unknown keys and step kinds are
//! errors), then validated as a whole, every problem reported with its file,
//! line and column. Nothing here touches Docker.

use std::fmt;

use serde::Deserialize;

mod validate;

pub use validate::{validate, Place};

/// A scenario: the steps that reproduce one stage of the lab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (also the default output folder under `logs/`).
    pub name: String,
    /// What it reproduces.
    #[serde(default)]
    pub description: String,
    /// The lab stage it runs at (0 to 6; default 6).
    #[serde(default = "final_stage")]
    pub stage: u8,
    /// The steps, in order. The first one must be `up`.
    #[serde(with = "serde_yaml::with::singleton_map_recursive")]
    pub steps: Vec<Step>,
}

fn final_stage() -> u8 {
    6
}

/// One step of a scenario. Written as a one-key map: `- up: {webapps: 2}`,
/// `- stop: s1`, `- snapshot: {name: ha-alone}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Start the lab afresh with `webapps` web apps.
    Up(UpStep),
    /// Scale the web apps.
    Scale(ScaleStep),
    /// Start a node: a stopped one again, or a new web app `sN`.
    Start(String),
    /// Stop a node gracefully (`docker stop`).
    Stop(String),
    /// Kill a node (SIGKILL).
    Kill(String),
    /// Wait: for convergence, for a duration, or until an expectation holds.
    Wait(WaitStep),
    /// Capture the lab's state into the output folder.
    Snapshot(SnapshotStep),
    /// Run a command in a node.
    Exec(ExecStep),
    /// Send requests through `ha`.
    Http(HttpStep),
    /// Check the lab's state.
    Expect(Expectation),
}

/// `up`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpStep {
    /// Web apps to start (default 2).
    #[serde(default = "two")]
    pub webapps: u32,
}

fn two() -> u32 {
    2
}

/// `scale`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleStep {
    /// The number of web apps wanted.
    pub webapps: u32,
}

/// `wait`: exactly one of its fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Wait until the lab serves its web apps (as the stage can tell).
    #[serde(default)]
    pub converged: bool,
    /// Wait this many seconds.
    pub seconds: Option<f64>,
    /// Wait until this expectation holds.
    pub until: Option<Expectation>,
    /// How long `converged` or `until` may take, in seconds (default 60).
    pub timeout: Option<u64>,
}

/// `snapshot`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotStep {
    /// Folder name of this snapshot (letters, digits, `-`, `_`).
    pub name: String,
    /// The deliverable of the lab this snapshot answers (for INDEX.md).
    #[serde(default)]
    pub deliverable: String,
    /// What to capture (default: all that the stage has).
    pub capture: Option<Vec<Capture>>,
}

/// A part of a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capture {
    /// `docker-ps.txt`: the running containers, as `docker ps` shows them.
    Ps,
    /// `docker-ps-a.txt`: every container, as `docker ps -a` shows them.
    PsAll,
    /// `inspect-<container>.json`.
    Inspect,
    /// `haproxy.cfg` (the generated configuration).
    Config,
    /// `nodes.txt` (`ls /nodes`).
    Nodes,
    /// `logs-<container>.txt`.
    Logs,
    /// `serf.log` from `ha`.
    SerfLog,
    /// `stats.csv`, `stats.html` and `stats.png`.
    Stats,
}

impl Capture {
    /// Every part.
    pub const ALL: [Capture; 7] = [
        Capture::Ps,
        Capture::Inspect,
        Capture::Config,
        Capture::Nodes,
        Capture::Logs,
        Capture::SerfLog,
        Capture::Stats,
    ];
}

/// `exec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    /// The node.
    pub node: String,
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// The exit code expected (default 0).
    #[serde(default)]
    pub expect_exit: i64,
    /// Save its output in the output folder under this file name.
    pub save_as: Option<String>,
}

/// `http`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpStep {
    /// How many requests (default 10).
    #[serde(default = "ten")]
    pub requests: u32,
    /// The status every response must have (default 200).
    #[serde(default = "ok_status")]
    pub expect_status: u16,
    /// Web apps that must have answered at least once.
    #[serde(default)]
    pub expect_hosts: Vec<String>,
}

fn ten() -> u32 {
    10
}

fn ok_status() -> u16 {
    200
}

/// `expect` (and `wait: {until: …}`): every field given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// Alive Serf members with role backend, as `ha` sees them.
    pub members: Option<usize>,
    /// Server names in the generated configuration, in order.
    pub config_servers: Option<Vec<String>>,
    /// Server names HAProxy is running with (its live state), in order.
    pub running_servers: Option<Vec<String>>,
    /// Names in `/nodes`, in order.
    pub nodes: Option<Vec<String>>,
    /// HAProxy server states, e.g. `{s1: UP, s2: DOWN}`.
    pub servers: Option<std::collections::BTreeMap<String, String>>,
    /// A file inside a node and what it holds.
    pub file: Option<FileExpectation>,
}

/// A file inside a node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileExpectation {
    /// The node.
    pub node: String,
    /// The file's path.
    pub path: String,
    /// Text it must contain.
    pub contains: Option<String>,
    /// Text it must not contain.
    pub not_contains: Option<String>,
}

impl Step {
    /// The step's kind, as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Up(_) => "up",
            Step::Scale(_) => "scale",
            Step::Start(_) => "start",
            Step::Stop(_) => "stop",
            Step::Kill(_) => "kill",
            Step::Wait(_) => "wait",
            Step::Snapshot(_) => "snapshot",
            Step::Exec(_) => "exec",
            Step::Http(_) => "http",
            Step::Expect(_) => "expect",
        }
    }
}

/// A place in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem of a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// Where.
    pub at: Position,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.at.line, self.at.column, self.message
        )
    }
}

/// Every problem of a file, one per line.
#[derive(Debug)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

impl std::error::Error for Problems {}

/// Where each item of the top-level `steps:` list starts.
fn step_positions(text: &str) -> Vec<Position> {
    let mut positions = Vec::new();
    let mut in_steps = false;
    let mut indent: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let col = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if col == 0 {
            in_steps = trimmed.starts_with("steps:");
            continue;
        }
        if in_steps && (trimmed.starts_with("- ") || trimmed == "-") {
            if indent.is_none() {
                indent = Some(col);
            }
            if indent == Some(col) {
                positions.push(Position {
                    line: i + 1,
                    column: col + 1,
                });
            }
        }
    }
    positions
}

/// Where a top-level key (`stage:`) is written.
fn key_position(text: &str, key: &str) -> Option<Position> {
    text.lines().enumerate().find_map(|(i, line)| {
        let rest = line.strip_prefix(key)?;
        rest.trim_start().starts_with(':').then_some(Position {
            line: i + 1,
            column: 1,
        })
    })
}

/// Reads and checks a scenario. `file` names it in messages.
pub fn parse(file: &str, text: &str) -> Result<Scenario, Problems> {
    // Editors on Windows may start a UTF-8 file with a byte-order mark.
    let text =
        crate::templates::normalize_line_endings(text.strip_prefix('\u{feff}').unwrap_or(text));
    let scenario: Scenario = serde_yaml::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| Position {
                line: l.line(),
                column: l.column(),
            })
            .unwrap_or(Position { line: 1, column: 1 });
        Problems(vec![Problem {
            file: file.to_string(),
            at,
            message: yaml_message(&e),
        }])
    })?;
    let positions = step_positions(&text);
    let problems = validate(&scenario)
        .into_iter()
        .map(|(place, message)| Problem {
            file: file.to_string(),
            at: match place {
                Place::Step(i) => positions.get(i).copied(),
                Place::Key(key) => key_position(&text, key),
            }
            .unwrap_or(Position { line: 1, column: 1 }),
            message,
        })
        .collect::<Vec<_>>();
    if problems.is_empty() {
        Ok(scenario)
    } else {
        Err(Problems(problems))
    }
}

/// serde_yaml's message without its own position suffix (we print ours).
fn yaml_message(e: &serde_yaml::Error) -> String {
    let mut msg = e.to_string();
    // Drop serde_yaml's own "at line L column C": the position leads the line.
    if let Some(start) = msg.find(" at line ") {
        let rest = &msg[start + " at line ".len()..];
        let skip = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ' ' || "column".contains(c)))
            .unwrap_or(rest.len());
        msg = format!("{}{}", &msg[..start], &rest[skip..]);
    }
    let msg = plain_types(&msg);
    // The list of step kinds helps only where a step kind was expected.
    if msg.contains("unknown variant") && msg.contains("`up`") {
        format!("{msg}; a step is one of: up, scale, start, stop, kill, wait, snapshot, exec, http, expect")
    } else {
        msg
    }
}

/// serde's words for what it expected, in the words of a scenario file:
/// ranges instead of Rust's integer types, examples instead of type names.
fn plain_types(msg: &str) -> String {
    const WORDS: [(&str, &str); 18] = [
        ("invalid type: ", "got "),
        ("invalid value: ", "out of range: "),
        ("expected u8", "expected a whole number from 0 to 255"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number (e.g. 1.5)"),
        ("expected a sequence", "expected a list (e.g. [a, b])"),
        ("expected a map", "expected a map (e.g. {s1: UP})"),
        (
            "expected struct Scenario",
            "expected a scenario: a map with `name` and `steps` (e.g. name: demo, steps: [up: {webapps: 2}])",
        ),
        ("expected struct UpStep", "expected a map such as {webapps: 2}"),
        ("expected struct ScaleStep", "expected a map such as {webapps: 3}"),
        (
            "expected struct WaitStep",
            "expected a map with one of converged, seconds or until (e.g. {seconds: 2})",
        ),
        ("expected struct SnapshotStep", "expected a map such as {name: two-webapps}"),
        ("expected struct ExecStep", "expected a map such as {node: ha, cmd: [ls, /nodes]}"),
        ("expected struct HttpStep", "expected a map such as {requests: 10}"),
    ];
    const MORE: [(&str, &str); 2] = [
        (
            "expected struct Expectation",
            "expected a map of expectations such as {members: 2}",
        ),
        (
            "expected struct FileExpectation",
            "expected a map such as {node: ha, path: /nodes/s1, contains: s1}",
        ),
    ];
    WORDS
        .iter()
        .chain(MORE.iter())
        .fold(msg.to_string(), |m, (rust, plain)| m.replace(rust, plain))
}

/// The largest scenario file labctl reads.
pub const MAX_FILE: u64 = 1 << 20;

/// Reads a scenario file: a regular file of at most [`MAX_FILE`] bytes of
/// UTF-8 text. A device, a pipe or a folder is refused at once, without
/// reading it.
pub fn read(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let name = path.display();
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read scenario `{name}`: {e}"))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        };
        return Err(format!(
            "scenario `{name}` is {what}; give the path of a YAML scenario file"
        ));
    }
    let too_big = || {
        format!(
            "scenario `{name}` is larger than {} KiB, which no scenario needs; give the path of \
             a YAML scenario file",
            MAX_FILE / 1024
        )
    };
    if meta.len() > MAX_FILE {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read scenario `{name}`: {e}"))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "scenario `{name}` is not UTF-8 text (at byte {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The built-in scenarios, `scenarios/taskN.yaml`, embedded in the binary.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("task0", include_str!("../../scenarios/task0.yaml")),
    ("task1", include_str!("../../scenarios/task1.yaml")),
    ("task2", include_str!("../../scenarios/task2.yaml")),
    ("task3", include_str!("../../scenarios/task3.yaml")),
    ("task4", include_str!("../../scenarios/task4.yaml")),
    ("task5", include_str!("../../scenarios/task5.yaml")),
    ("task6", include_str!("../../scenarios/task6.yaml")),
];

#[cfg(test)]
mod tests;
