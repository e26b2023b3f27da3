//! `labctl report`: a lab report skeleton in Markdown with the lab's
//! structure (introduction, a chapter per task with its questions, the
//! difficulties, a conclusion, a table of contents), every deliverable
//! captured in `logs/` embedded where its task asks for it. It never writes
//! an answer, and running it again changes only labctl's own marked parts
//! (see `regions`), so every byte a student wrote stays.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

mod regions;

pub(crate) use regions::Part;

use crate::usage::usage;

/// A task of the lab: its title and the questions it asks.
pub(crate) struct Task {
    /// `0` … `6`.
    pub number: u8,
    /// Its title, as the lab names it.
    pub title: &'static str,
    /// The questions it asks, as headings.
    pub questions: &'static [&'static str],
}

/// The lab's tasks and their questions (the lab's numbering, shortened).
pub(crate) const TASKS: [Task; 7] = [
    Task {
        number: 0,
        title: "Identify issues and install the tools",
        questions: &[
            "M1: can the current solution be used in production? Its main problems",
            "M2: the exact steps to add a new webapp container",
            "M3: a better approach, at a high level",
            "M4: managing the web app nodes dynamically",
            "M5: running management processes (e.g. log forwarding) beside the main one",
            "M6: is the configuration really dynamic? A solution",
            "Repository URL",
        ],
    },
    Task {
        number: 1,
        title: "Add a process supervisor to run several processes",
        questions: &["Difficulties, what happens, and why a process supervisor"],
    },
    Task {
        number: 2,
        title: "Add a tool to manage membership in the web server cluster",
        questions: &[
            "The problem with the current solution, and a fix",
            "How Serf works (gossip), and other auto-discovery solutions",
        ],
    },
    Task {
        number: 3,
        title: "React to membership changes",
        questions: &[],
    },
    Task {
        number: 4,
        title: "Use a template engine to easily generate configuration files",
        questions: &[
            "Image layers: one RUN per command or one RUN for all; squashing and flattening",
            "Another architecture for the images, with less repetition",
            "What the three generated files say about the way they are generated",
        ],
    },
    Task {
        number: 5,
        title: "Generate a new load balancer configuration when membership changes",
        questions: &["(Optional) Another approach to manage the list of backend nodes"],
    },
    Task {
        number: 6,
        title: "Make the load balancer automatically reload the new configuration",
        questions: &[
            "Your feelings about the final solution, and improvements",
            "(Optional) A live demo adding and removing a backend",
        ],
    },
];

/// A file captured for a deliverable, as a task's INDEX.md lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Captured {
    /// Its path below `logs/taskN/`.
    pub path: String,
    /// What it holds.
    pub what: String,
    /// The deliverable it answers.
    pub deliverable: String,
}

/// Splits a Markdown table row into its cells (`\|` inside a cell kept).
fn cells(row: &str) -> Vec<String> {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                out.last_mut().expect("one cell at least").push('|');
            }
            '|' => out.push(String::new()),
            c => out.last_mut().expect("one cell at least").push(c),
        }
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

/// The captured files an INDEX.md lists (files marked NOT MADE are left
/// out: there is nothing to embed).
pub(crate) fn parse_index(index: &str) -> Vec<Captured> {
    index
        .lines()
        .filter(|l| l.starts_with("| ["))
        .filter_map(|row| {
            let c = cells(row);
            let first = c.first()?;
            let path = first.strip_prefix('[')?.split_once("](")?.0.to_string();
            let what = first.split_once(") — ")?.1.to_string();
            Some(Captured {
                path,
                what,
                deliverable: c.get(2)?.clone(),
            })
        })
        .collect()
}

/// A heading's anchor, as GitHub makes it.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// What was written under each heading of a report made by an earlier
/// labctl (before its parts had markers): the text up to the next heading,
/// for headings whose text is more than the placeholder. Used once, with
/// `--force`, to carry answers into the new form; the old file is kept.
pub(crate) fn answers(existing: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut current: Option<(String, String)> = None;
    let mut flush = |current: Option<(String, String)>| {
        if let Some((heading, text)) = current {
            let kept = text.trim();
            if !kept.is_empty() && kept != PLACEHOLDER {
                out.insert(heading, kept.to_string());
            }
        }
    };
    for line in existing.lines() {
        if line.starts_with("# ") || line.starts_with("## ") || line.starts_with("### ") {
            flush(current.take());
            current = Some((line.trim().to_string(), String::new()));
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    flush(current);
    out
}

/// What stands under a heading nobody answered yet.
const PLACEHOLDER: &str = "<!-- your answer -->";

/// The line that says a file is a report labctl made (and how it treats it).
const FILE_MARKER: &str = "<!-- labctl report: write anywhere; a re-run of `labctl report` \
    changes only the parts between its labctl:begin and labctl:end lines, and leaves a part \
    you edited as it is (delete every line of one to have it filled again). -->";

/// What an earlier labctl wrote at the top of its reports.
const OLD_MARKER: &str = "<!-- Made by `labctl report` from `logs/`.";

/// Embeds captured text files up to this size; longer ones are linked.
const INLINE_MAX: usize = 6_000;

/// Where the report finds a task's files, and how it links them.
pub(crate) struct Sources<'a> {
    /// `logs/` as the report links it (relative to the report's folder).
    pub link_root: &'a str,
    /// A task's INDEX.md, if it was collected.
    pub index: &'a dyn Fn(u8) -> Option<String>,
    /// A captured file's text, if it is small enough to embed.
    pub text: &'a dyn Fn(u8, &str) -> Option<String>,
}

/// The chapters, as the table of contents lists them.
fn chapters() -> Vec<String> {
    let mut chapters = vec!["Introduction".to_string()];
    chapters.extend(
        TASKS
            .iter()
            .map(|t| format!("Task {}: {}", t.number, t.title)),
    );
    chapters.push("Difficulties".into());
    chapters.push("Conclusion".into());
    chapters
}

/// The parts of the report labctl writes and rewrites: the table of
/// contents and each task's deliverables.
pub(crate) fn parts(sources: &Sources<'_>) -> Vec<Part> {
    let mut toc = String::from("## Table of contents\n\n");
    for c in chapters() {
        let _ = writeln!(toc, "- [{c}](#{})", anchor(&c));
    }
    toc.push('\n');
    let mut out = vec![Part {
        name: "toc".into(),
        body: toc,
    }];
    for task in &TASKS {
        let mut body = String::new();
        deliverables(&mut body, sources, task.number);
        out.push(Part {
            name: format!("deliverables-task{}", task.number),
            body,
        });
    }
    out
}

/// A new report: the lab's structure, an empty answer under each question
/// (or the one `kept` has for its heading), labctl's parts in their
/// markers.
pub(crate) fn render(sources: &Sources<'_>, kept: &HashMap<String, String>) -> String {
    let parts = parts(sources);
    let part = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .map(regions::wrap)
            .unwrap_or_default()
    };
    let mut md = String::new();
    let answer = |md: &mut String, heading: &str| {
        let _ = writeln!(md, "{heading}\n");
        let _ = writeln!(
            md,
            "{}\n",
            kept.get(heading).map_or(PLACEHOLDER, String::as_str)
        );
    };
    let _ = writeln!(md, "# Lab 04 – Docker and dynamic scaling: report\n");
    let _ = writeln!(md, "{FILE_MARKER}\n");
    md.push_str(&part("toc"));
    md.push('\n');
    answer(&mut md, "## Introduction");
    for task in &TASKS {
        let _ = writeln!(md, "## Task {}: {}\n", task.number, task.title);
        for q in task.questions {
            answer(&mut md, &format!("### {q}"));
        }
        md.push_str(&part(&format!("deliverables-task{}", task.number)));
        md.push('\n');
    }
    answer(&mut md, "## Difficulties");
    answer(&mut md, "## Conclusion");
    md
}

/// A fence for `text` as a code block: longer than any run of backticks in
/// it, so that nothing in it ends the block.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    "`".repeat((longest + 1).max(3))
}

fn deliverables(md: &mut String, sources: &Sources<'_>, task: u8) {
    let _ = writeln!(md, "### Deliverables\n");
    let Some(index) = (sources.index)(task) else {
        let _ = writeln!(
            md,
            "*Not collected yet: `labctl collect task{task}` captures them into `logs/task{task}/`.*"
        );
        return;
    };
    let files = parse_index(&index);
    let mut order: Vec<&str> = Vec::new();
    for f in &files {
        if !order.contains(&f.deliverable.as_str()) {
            order.push(&f.deliverable);
        }
    }
    for deliverable in order {
        let _ = writeln!(md, "**{deliverable}**\n");
        for f in files.iter().filter(|f| f.deliverable == deliverable) {
            let link = format!("{}/task{task}/{}", sources.link_root, f.path);
            if f.path.ends_with(".png") {
                let _ = writeln!(md, "![{}]({link})\n\n*{} (`{}`)*\n", f.what, f.what, f.path);
            } else if let Some(text) = (sources.text)(task, &f.path) {
                let text = text.trim_end();
                let fence = fence(text);
                let _ = writeln!(
                    md,
                    "<details><summary>{} — <a href=\"{link}\">{}</a></summary>\n\n{fence}\n{text}\n{fence}\n\n</details>\n",
                    f.what, f.path,
                );
            } else {
                let _ = writeln!(md, "- [{}]({link}) — {}\n", f.path, f.what);
            }
        }
    }
    // The part ends on one line ending, not a blank line.
    while md.ends_with("\n\n") {
        md.pop();
    }
}

/// The path of `to` as seen from the folder `from` (both made absolute).
pub(crate) fn relative(from: &Path, to: &Path) -> Result<PathBuf> {
    let from = std::path::absolute(from)?;
    let to = std::path::absolute(to)?;
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c);
    }
    Ok(out)
}

/// What a report file holds, as far as labctl is concerned.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// labctl made it: its parts are marked.
    Ours,
    /// An earlier labctl made it, before parts had markers.
    Old,
    /// Somebody else's file.
    Foreign,
}

fn kind(text: &str) -> Kind {
    let ours = text.lines().any(|l| {
        let l = l.trim_end_matches('\r');
        l == FILE_MARKER || l.starts_with("<!-- labctl:begin ")
    });
    if ours {
        Kind::Ours
    } else if text.contains(OLD_MARKER) {
        Kind::Old
    } else {
        Kind::Foreign
    }
}

/// What `write` did.
#[derive(Debug)]
pub(crate) struct Written {
    /// The report.
    pub file: PathBuf,
    /// Where the file that was there before went, when `--force` moved it.
    pub backup: Option<PathBuf>,
    /// labctl's parts left as they are because they were edited by hand.
    pub edited: Vec<String>,
}

/// The first of `README.md.bak`, `README.md.bak.1`, … that does not exist.
fn backup_path(file: &Path) -> PathBuf {
    let first = file.with_file_name(format!(
        "{}.bak",
        file.file_name().unwrap_or_default().to_string_lossy()
    ));
    (0..)
        .map(|i| {
            if i == 0 {
                first.clone()
            } else {
                first.with_file_name(format!(
                    "{}.{i}",
                    first.file_name().unwrap_or_default().to_string_lossy()
                ))
            }
        })
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or(first)
}

/// Writes `out/README.md` from the tasks collected in `logs`. A report
/// labctl made keeps every byte written outside labctl's own parts; a file
/// labctl did not make is refused, or with `force` moved to a backup first.
pub(crate) fn write(logs: &Path, out: &Path, force: bool) -> Result<Written> {
    let file = out.join("README.md");
    let existing = match std::fs::read(&file) {
        Ok(bytes) => Some(String::from_utf8(bytes).map_err(|_| {
            usage(format!(
                "`{}` is not UTF-8 text, so labctl did not make it and will not change it; \
                 give another folder with --out, or pass --force to keep it as a backup and \
                 start a new report",
                file.display()
            ))
        })),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", file.display())),
    };
    let existing = match existing {
        Some(Ok(text)) => Some(text),
        Some(Err(e)) if !force => return Err(e),
        Some(Err(_)) => Some(String::new()),
        None => None,
    };
    let link_root = relative(out, logs)?.to_string_lossy().replace('\\', "/");
    let index = |task: u8| std::fs::read_to_string(logs.join(format!("task{task}/INDEX.md"))).ok();
    let text = |task: u8, path: &str| {
        let text = std::fs::read_to_string(logs.join(format!("task{task}")).join(path)).ok()?;
        (text.len() <= INLINE_MAX && !path.ends_with(".html") && !path.ends_with(".json"))
            .then_some(text)
    };
    let sources = Sources {
        link_root: &link_root,
        index: &index,
        text: &text,
    };
    let mut written = Written {
        file: file.clone(),
        backup: None,
        edited: Vec::new(),
    };
    let md = match existing.as_deref().map(|t| (kind(t), t)) {
        None => render(&sources, &HashMap::new()),
        Some((Kind::Ours, text)) => {
            let merged = regions::merge(text, &parts(&sources));
            written.edited = merged.edited;
            merged.text
        }
        Some((found, text)) => {
            if !force {
                let whose = if found == Kind::Old {
                    "was made by an earlier labctl, whose re-runs could lose text"
                } else {
                    "was not made by `labctl report`"
                };
                return Err(usage(format!(
                    "`{}` {whose}, so labctl will not change it; give another folder with \
                     --out, or pass --force to keep it as `{}` and write a new report",
                    file.display(),
                    backup_path(&file).display()
                )));
            }
            let kept = if found == Kind::Old {
                answers(text)
            } else {
                HashMap::new()
            };
            let backup = backup_path(&file);
            std::fs::rename(&file, &backup).with_context(|| {
                format!("keeping `{}` as `{}`", file.display(), backup.display())
            })?;
            written.backup = Some(backup);
            render(&sources, &kept)
        }
    };
    std::fs::create_dir_all(out).with_context(|| format!("creating `{}`", out.display()))?;
    let partial = out.join(format!(".README.md.partial-{}", std::process::id()));
    std::fs::write(&partial, md).with_context(|| format!("writing `{}`", partial.display()))?;
    std::fs::rename(&partial, &file).map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        anyhow::Error::new(e).context(format!("writing `{}`", file.display()))
    })?;
    Ok(written)
}

#[cfg(test)]
mod tests;
