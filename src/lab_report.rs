//! `labctl report`: a lab report skeleton in Markdown with the lab's
//! structure (introduction, a chapter per task with its questions, the
//! difficulties, a conclusion, a table of contents), every deliverable
//! captured in `logs/` embedded where its task asks for it. It never writes
//! an answer, and running it again keeps what was written under each
//! heading.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A task of the lab: its title and the questions it asks.
pub struct Task {
    /// `0` … `6`.
    pub number: u8,
    /// Its title, as the lab names it.
    pub title: &'static str,
    /// The questions it asks, as headings.
    pub questions: &'static [&'static str],
}

/// The lab's tasks and their questions (the lab's numbering, shortened).
pub const TASKS: [Task; 7] = [
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
pub struct Captured {
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
pub fn parse_index(index: &str) -> Vec<Captured> {
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

/// What was written under each heading of an existing report (the text up
/// to the next heading), for headings whose text is more than the
/// placeholder.
pub fn answers(existing: &str) -> HashMap<String, String> {
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
        // Headings of the report itself; an answer may have its own deeper ones.
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

/// Embeds captured text files up to this size; longer ones are linked.
const INLINE_MAX: usize = 6_000;

/// Where the report finds a task's files, and how it links them.
pub struct Sources<'a> {
    /// `logs/` as the report links it (relative to the report's folder).
    pub link_root: &'a str,
    /// A task's INDEX.md, if it was collected.
    pub index: &'a dyn Fn(u8) -> Option<String>,
    /// A captured file's text, if it is small enough to embed.
    pub text: &'a dyn Fn(u8, &str) -> Option<String>,
}

/// The report, keeping the answers of `existing`.
pub fn render(sources: &Sources<'_>, existing: &str) -> String {
    let kept = answers(existing);
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
    let _ = writeln!(
        md,
        "<!-- Made by `labctl report` from `logs/`. Write under each heading; running it \
         again keeps what you wrote and updates the deliverables. -->\n"
    );
    let mut chapters = vec!["Introduction".to_string()];
    chapters.extend(
        TASKS
            .iter()
            .map(|t| format!("Task {}: {}", t.number, t.title)),
    );
    chapters.push("Difficulties".into());
    chapters.push("Conclusion".into());
    let _ = writeln!(md, "## Table of contents\n");
    for c in &chapters {
        let _ = writeln!(md, "- [{c}](#{})", anchor(c));
    }
    md.push('\n');
    answer(&mut md, "## Introduction");
    for task in &TASKS {
        let _ = writeln!(md, "## Task {}: {}\n", task.number, task.title);
        for q in task.questions {
            answer(&mut md, &format!("### {q}"));
        }
        deliverables(&mut md, sources, task.number);
    }
    answer(&mut md, "## Difficulties");
    answer(&mut md, "## Conclusion");
    md
}

fn deliverables(md: &mut String, sources: &Sources<'_>, task: u8) {
    let _ = writeln!(md, "### Deliverables\n");
    let Some(index) = (sources.index)(task) else {
        let _ = writeln!(
            md,
            "*Not collected yet: `labctl collect task{task}` captures them into `logs/task{task}/`.*\n"
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
                let _ = writeln!(
                    md,
                    "<details><summary>{} — <a href=\"{link}\">{}</a></summary>\n\n```\n{}\n```\n\n</details>\n",
                    f.what,
                    f.path,
                    text.trim_end()
                );
            } else {
                let _ = writeln!(md, "- [{}]({link}) — {}\n", f.path, f.what);
            }
        }
    }
}

/// The path of `to` as seen from the folder `from` (both made absolute).
pub fn relative(from: &Path, to: &Path) -> Result<PathBuf> {
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

/// Writes `out/README.md` from the tasks collected in `logs`, keeping the
/// answers of the one there. Returns its path.
pub fn write(logs: &Path, out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("creating `{}`", out.display()))?;
    let file = out.join("README.md");
    let existing = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading `{}`", file.display())),
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
    let md = render(&sources, &existing);
    let partial = out.join(".README.md.partial");
    std::fs::write(&partial, md).with_context(|| format!("writing `{}`", partial.display()))?;
    std::fs::rename(&partial, &file).with_context(|| format!("writing `{}`", file.display()))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "# task6: x\n\n| file | step | deliverable |\n|---|---|---|\n\
        | [05-four/stats.png](05-four/stats.png) — screenshot of the stats page | 05-four | Task 6, deliverable 1: stats page \\| four web apps |\n\
        | [05-four/docker-ps.txt](05-four/docker-ps.txt) — `docker ps` | 05-four | Task 6, deliverable 1: stats page \\| four web apps |\n\
        | 05-four/other.png — shot — **NOT MADE**: no browser | 05-four | Task 6, deliverable 1 |\n";

    #[test]
    fn an_index_reads_back_into_its_files() {
        assert_eq!(
            parse_index(INDEX),
            [
                Captured {
                    path: "05-four/stats.png".into(),
                    what: "screenshot of the stats page".into(),
                    deliverable: "Task 6, deliverable 1: stats page | four web apps".into(),
                },
                Captured {
                    path: "05-four/docker-ps.txt".into(),
                    what: "`docker ps`".into(),
                    deliverable: "Task 6, deliverable 1: stats page | four web apps".into(),
                },
            ]
        );
    }

    fn sources_render(existing: &str) -> String {
        let index = |task: u8| (task == 6).then(|| INDEX.to_string());
        let text = |_: u8, path: &str| path.ends_with(".txt").then(|| "CONTAINER ID\n".to_string());
        render(
            &Sources {
                link_root: "../logs",
                index: &index,
                text: &text,
            },
            existing,
        )
    }

    #[test]
    fn the_report_has_the_labs_structure_and_embeds_the_deliverables() {
        let md = sources_render("");
        for heading in [
            "## Table of contents",
            "## Introduction",
            "## Task 0: Identify issues and install the tools",
            "### M1: can the current solution be used in production? Its main problems",
            "### M6: is the configuration really dynamic? A solution",
            "## Task 6: Make the load balancer automatically reload the new configuration",
            "## Difficulties",
            "## Conclusion",
        ] {
            assert!(md.lines().any(|l| l == heading), "{heading} missing");
        }
        assert!(md.contains(
            "- [Task 3: React to membership changes](#task-3-react-to-membership-changes)"
        ));
        assert!(md.contains("![screenshot of the stats page](../logs/task6/05-four/stats.png)"));
        assert!(md.contains(
            "<details><summary>`docker ps` — <a href=\"../logs/task6/05-four/docker-ps.txt\">05-four/docker-ps.txt</a></summary>\n\n```\nCONTAINER ID\n```"
        ));
        assert!(md.contains(
            "*Not collected yet: `labctl collect task3` captures them into `logs/task3/`.*"
        ));
        assert!(!md.contains("other.png"));
    }

    #[test]
    fn a_second_run_keeps_what_was_written() {
        let first = sources_render("");
        let edited = first.replacen(
            "### M2: the exact steps to add a new webapp container\n\n<!-- your answer -->",
            "### M2: the exact steps to add a new webapp container\n\nEdit run.sh, then\n\n- rebuild.",
            1,
        );
        let second = sources_render(&edited);
        assert!(second.contains(
            "### M2: the exact steps to add a new webapp container\n\nEdit run.sh, then\n\n- rebuild.\n"
        ));
        assert_eq!(sources_render(&second), second);
    }

    #[test]
    fn relative_paths_go_up_then_down() {
        assert_eq!(
            relative(Path::new("/a/report"), Path::new("/a/logs")).unwrap(),
            PathBuf::from("../logs")
        );
        assert_eq!(
            relative(Path::new("/tmp/x/y"), Path::new("/a/logs")).unwrap(),
            PathBuf::from("../../../a/logs")
        );
    }
}
