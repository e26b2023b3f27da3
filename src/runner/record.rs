//! How a scenario run went, written for people (INDEX.md) and for CI
//! (JUnit XML). Pure text: the exact output is unit-tested.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::snapshot::Written;
use crate::scenario::Scenario;

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

/// A captured file, listed in INDEX.md under the step that wrote it.
#[derive(Debug, Clone)]
pub(super) struct Indexed {
    /// The step's folder (`03-snapshot-after-scale`), empty for an `exec`.
    pub folder: String,
    /// The deliverable of the lab the step stands for.
    pub deliverable: String,
    /// The files it wrote.
    pub files: Vec<Written>,
}

/// INDEX.md of a run: what each file is, which step wrote it, and how each
/// step went.
pub(super) fn index_markdown(scenario: &Scenario, index: &[Indexed], report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}: {}\n", scenario.name, scenario.description);
    let _ = writeln!(
        md,
        "{MADE_BY}{}` at lab stage {}; {}.\n",
        scenario.name,
        scenario.stage,
        if report.passed() {
            "every step passed"
        } else {
            "the run FAILED"
        }
    );
    let _ = writeln!(md, "| file | step | deliverable |\n|---|---|---|");
    for entry in index {
        for f in &entry.files {
            let file = match &f.missing {
                None => format!("[{0}]({0}) — {1}", f.path, table_cell(&f.what)),
                Some(why) => format!(
                    "{} — {} — **NOT MADE**: {}",
                    f.path,
                    table_cell(&f.what),
                    table_cell(why)
                ),
            };
            let _ = writeln!(
                md,
                "| {file} | {} | {} |",
                if entry.folder.is_empty() {
                    "exec"
                } else {
                    &entry.folder
                },
                table_cell(&entry.deliverable)
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
                .map(|f| format!(": FAILED: {}", f.trim_end().replace('\n', "\n  ")))
                .unwrap_or_default()
        );
    }
    if report.skipped > 0 {
        let _ = writeln!(md, "- {} step(s) not run", report.skipped);
    }
    md
}

/// Writes INDEX.md into `dir`.
/// The line of INDEX.md that says labctl made the folder.
const MADE_BY: &str = "Made by `labctl` from scenario `";

/// Whether `dir` is labctl's to replace: an empty folder, or a run's
/// folder (its INDEX.md says labctl made it).
pub(super) fn made_by_labctl(dir: &Path) -> bool {
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return false;
    }
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none()) {
        return true;
    }
    std::fs::read_to_string(dir.join("INDEX.md"))
        .is_ok_and(|index| index.lines().any(|l| l.starts_with(MADE_BY)))
}

pub(super) fn write_index(
    dir: &Path,
    scenario: &Scenario,
    index: &[Indexed],
    report: &Report,
) -> Result<()> {
    std::fs::write(
        dir.join("INDEX.md"),
        index_markdown(scenario, index, report),
    )
    .context("writing INDEX.md")
}

/// Text that stays inside one cell of a Markdown table.
fn table_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Text as an XML attribute value: markup escaped, line breaks and tabs as
/// character references, and the control characters XML 1.0 does not allow
/// at all shown as `\u{..}`.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
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
    fn control_characters_never_break_the_junit_document() {
        assert_eq!(
            xml_escape("a\u{1b}[31mred\u{1b}[0m & <b> \"q\" 'x'\nnext\tcol\r\u{0}"),
            "a\\u{1b}[31mred\\u{1b}[0m &amp; &lt;b&gt; &quot;q&quot; &apos;x&apos;&#10;next&#9;col&#13;\\u{0}"
        );
        assert_eq!(xml_escape("été ✓"), "été ✓");
    }

    fn scenario() -> Scenario {
        crate::scenario::parse(
            "t.yaml",
            "name: task5\ndescription: Serf and /nodes\nstage: 5\nsteps:\n  - up: {webapps: 2}\n",
        )
        .unwrap()
    }

    #[test]
    fn the_index_lists_each_file_with_its_step_and_deliverable() {
        let index = vec![Indexed {
            folder: "02-snapshot-nodes".into(),
            deliverable: "the /nodes folder | after a join".into(),
            files: vec![
                Written {
                    path: "02-snapshot-nodes/nodes.txt".into(),
                    what: "`ls /nodes` in `ha`".into(),
                    missing: None,
                },
                Written {
                    path: "02-snapshot-nodes/stats.png".into(),
                    what: "screenshot".into(),
                    missing: Some("no browser found".into()),
                },
            ],
        }];
        let report = Report {
            scenario: "task5".into(),
            steps: vec![
                StepResult {
                    name: "01-up".into(),
                    took: Duration::from_millis(2340),
                    failure: None,
                },
                StepResult {
                    name: "02-snapshot".into(),
                    took: Duration::from_millis(100),
                    failure: Some("lab did not converge\n`s2` is DOWN\n".into()),
                },
            ],
            skipped: 1,
        };
        assert_eq!(
            index_markdown(&scenario(), &index, &report),
            "# task5: Serf and /nodes\n\n\
             Made by `labctl` from scenario `task5` at lab stage 5; the run FAILED.\n\n\
             | file | step | deliverable |\n|---|---|---|\n\
             | [02-snapshot-nodes/nodes.txt](02-snapshot-nodes/nodes.txt) — `ls /nodes` in `ha` \
             | 02-snapshot-nodes | the /nodes folder \\| after a join |\n\
             | 02-snapshot-nodes/stats.png — screenshot — **NOT MADE**: no browser found \
             | 02-snapshot-nodes | the /nodes folder \\| after a join |\n\
             \n## Steps\n\n\
             - 01-up (2.3 s)\n\
             - 02-snapshot (0.1 s): FAILED: lab did not converge\n  `s2` is DOWN\n\
             - 1 step(s) not run\n"
        );
    }
}
