//! Two engines side by side (`labctl bench --beside ADDRESS`): each named
//! benchmark runs on the first engine, then on the second, before the next
//! benchmark, so that both see the machine in the same state; the report
//! sets their medians side by side with the ratio.

use std::fmt::Write as _;

use serde::Serialize;

use super::stats::Summary;
use super::Report;

/// One engine's figures.
#[derive(Debug, Serialize)]
pub struct EngineRun {
    /// The engine, in words (`Docker 28.2.2 at unix:///var/run/docker.sock`).
    pub engine: String,
    /// What it measured.
    pub report: Report,
}

/// Both engines' figures.
#[derive(Debug, Serialize)]
pub struct Side {
    /// Runs per benchmark.
    pub runs: usize,
    /// The first engine's, then the second's.
    pub engines: [EngineRun; 2],
}

impl Report {
    /// Takes the figures `other` has (a run of other benchmarks).
    pub fn absorb(&mut self, other: Report) {
        fn take<T>(mine: &mut Option<T>, theirs: Option<T>) {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
        take(&mut self.join_one_by_one, other.join_one_by_one);
        take(&mut self.join_in_rotation, other.join_in_rotation);
        take(&mut self.join_engine, other.join_engine);
        take(&mut self.join_lab, other.join_lab);
        take(&mut self.join_one_step, other.join_one_step);
        take(&mut self.leave_graceful, other.leave_graceful);
        take(&mut self.leave_sigkill, other.leave_sigkill);
        take(&mut self.zero_downtime, other.zero_downtime);
        take(&mut self.many, other.many);
        take(&mut self.compose, other.compose);
        take(&mut self.images, other.images);
        take(&mut self.swarm, other.swarm);
        take(&mut self.platforms, other.platforms);
    }
}

/// The timed rows both reports can have: what, and each one's summary.
fn rows(r: &Report) -> Vec<(&'static str, Option<Summary>)> {
    let compose = r.compose.as_ref();
    vec![
        ("join, one web app at a time: start → UP", r.join_one_by_one),
        ("join: start → in rotation", r.join_in_rotation),
        ("join: the engine's part (create + start)", r.join_engine),
        ("join: the lab's part (started → UP)", r.join_lab),
        ("join: 2 → 12 in one step, until all UP", r.join_one_step),
        ("leave, graceful: stop → out of rotation", r.leave_graceful),
        ("leave, SIGKILL: kill → out of rotation", r.leave_sigkill),
        (
            "labctl up (ha + 2) until both answer",
            compose.map(|c| c.labctl_up),
        ),
        (
            "docker-compose up (ha + 2) until both answer",
            compose.map(|c| c.compose_up),
        ),
        (
            "labctl scale 2 → 20 until all answer",
            compose.map(|c| c.labctl_scale),
        ),
        (
            "docker-compose scale 2 → 20 until all answer",
            compose.map(|c| c.compose_scale),
        ),
    ]
}

fn cell(s: Option<Summary>) -> String {
    s.map_or_else(
        || "-".into(),
        |s| format!("{:.0} / {:.0} ms (n = {})", s.p50, s.p95, s.n),
    )
}

/// The second engine's median over the first's.
fn ratio(a: Option<Summary>, b: Option<Summary>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a.p50 > 0.0 => format!("{:.2}", b.p50 / a.p50),
        _ => "-".into(),
    }
}

/// The comparison as Markdown: one row per figure, p50 / p95 on each
/// engine and the ratio of the medians.
pub fn markdown(side: &Side, command: &str) -> String {
    let [a, b] = &side.engines;
    let mut md = String::new();
    let _ = writeln!(md, "# labctl benchmarks on two engines\n");
    let _ = writeln!(
        md,
        "`{command}`, on {}; {} run(s) of each benchmark, each run on the first engine, then \
         on the second. Figures are p50 / p95; the ratio is the second engine's median over \
         the first's.\n",
        a.report.machine, side.runs
    );
    let _ = writeln!(md, "| figure | {} | {} | ratio |", a.engine, b.engine);
    let _ = writeln!(md, "|---|---|---|---|");
    for ((what, x), (_, y)) in rows(&a.report).into_iter().zip(rows(&b.report)) {
        if x.is_none() && y.is_none() {
            continue;
        }
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {} |",
            cell(x),
            cell(y),
            ratio(x, y)
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p50: f64) -> Summary {
        Summary {
            n: 4,
            p50,
            p95: p50 * 2.0,
            p99: p50 * 2.0,
            min: p50 / 2.0,
            max: p50 * 2.0,
        }
    }

    #[test]
    fn two_engines_are_set_side_by_side_with_the_ratio_of_their_medians() {
        let mut docker = Report {
            machine: "2 cores".into(),
            ..Report::default()
        };
        docker.absorb(Report {
            join_one_by_one: Some(summary(400.0)),
            ..Report::default()
        });
        docker.absorb(Report {
            leave_sigkill: Some(summary(300.0)),
            ..Report::default()
        });
        let podman = Report {
            join_one_by_one: Some(summary(1000.0)),
            leave_sigkill: Some(summary(330.0)),
            ..Report::default()
        };
        let side = Side {
            runs: 4,
            engines: [
                EngineRun {
                    engine: "Docker 28.2.2".into(),
                    report: docker,
                },
                EngineRun {
                    engine: "Podman 4.3.1".into(),
                    report: podman,
                },
            ],
        };
        let md = markdown(&side, "labctl bench join leave --beside unix:///p.sock");
        assert!(
            md.contains("| figure | Docker 28.2.2 | Podman 4.3.1 | ratio |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| join, one web app at a time: start → UP | 400 / 800 ms (n = 4) | \
                 1000 / 2000 ms (n = 4) | 2.50 |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| 300 / 600 ms (n = 4) | 330 / 660 ms (n = 4) | 1.10 |"),
            "{md}"
        );
        // Figures neither engine has are left out.
        assert!(!md.contains("docker-compose"), "{md}");
    }
}
