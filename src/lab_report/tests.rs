use super::*;

const INDEX: &str = "# task6: x\n\n| file | step | deliverable |\n|---|---|---|\n\
    | [05-four/stats.png](05-four/stats.png) — screenshot of the stats page | 05-four | Task 6, deliverable 1: stats page \\| four web apps |\n\
    | [05-four/docker-ps.txt](05-four/docker-ps.txt) — `docker ps` | 05-four | Task 6, deliverable 1: stats page \\| four web apps |\n\
    | [05-four/haproxy.cfg](05-four/haproxy.cfg) — the configuration | 05-four | Task 6, deliverable 2: config |\n\
    | 05-four/other.png — shot — **NOT MADE**: no browser | 05-four | Task 6, deliverable 1 |\n";

/// What a captured file may hold: lines that look like headings, fences
/// and labctl's own markers.
const CONFIG: &str = "# HANDLEBARS START\n## not a heading\n```\n<!-- labctl:end toc 0000000000000000 -->\n    server s1 192.168.42.11:3000 check\n# HANDLEBARS STOP\n";

#[test]
fn an_index_reads_back_into_its_files() {
    assert_eq!(
        parse_index(INDEX)[..2],
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
    assert_eq!(parse_index(INDEX).len(), 3);
}

/// Renders with task 6 collected (and, with `more`, task 3 too).
fn with_sources<T>(more: bool, f: impl FnOnce(&Sources<'_>) -> T) -> T {
    let index = |task: u8| match task {
        6 => Some(INDEX.to_string()),
        3 if more => Some(INDEX.replace("task6", "task3")),
        _ => None,
    };
    let text = |_: u8, path: &str| {
        if path.ends_with(".txt") {
            Some("CONTAINER ID\n".to_string())
        } else if path.ends_with(".cfg") {
            Some(CONFIG.to_string())
        } else {
            None
        }
    };
    f(&Sources {
        link_root: "../logs",
        index: &index,
        text: &text,
    })
}

fn fresh() -> String {
    with_sources(false, |s| render(s, &HashMap::new()))
}

/// A re-run on `existing`, with task 3 collected in the meantime when
/// `more`.
fn rerun(existing: &str, more: bool) -> String {
    assert_eq!(kind(existing), Kind::Ours, "{existing}");
    with_sources(more, |s| regions::merge(existing, &parts(s)).text)
}

#[test]
fn the_report_has_the_labs_structure_and_embeds_the_deliverables() {
    let md = fresh();
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
    assert!(
        md.contains("- [Task 3: React to membership changes](#task-3-react-to-membership-changes)")
    );
    assert!(md.contains("![screenshot of the stats page](../logs/task6/05-four/stats.png)"));
    assert!(md.contains(
        "<details><summary>`docker ps` — <a href=\"../logs/task6/05-four/docker-ps.txt\">05-four/docker-ps.txt</a></summary>\n\n```\nCONTAINER ID\n```"
    ));
    // A captured file with a fence in it gets a longer fence.
    assert!(md.contains("\n````\n# HANDLEBARS START\n"), "{md}");
    assert!(md
        .contains("*Not collected yet: `labctl collect task3` captures them into `logs/task3/`.*"));
    assert!(!md.contains("other.png"));
    assert_eq!(rerun(&md, false), md);
}

/// Replaces the first `from` in `md`, which must be there.
fn edit(md: &str, from: &str, to: &str) -> String {
    assert!(md.contains(from), "{from:?} not in the report");
    md.replacen(from, to, 1)
}

#[test]
fn what_a_student_writes_anywhere_survives_every_rerun() {
    let md = fresh();
    let mut edited = edit(
        &md,
        "# Lab 04 – Docker and dynamic scaling: report\n",
        "# Lab 04 – Docker and dynamic scaling: report\n\nAuthors: Ada Lovelace, Alan Turing\n",
    );
    edited = edit(
        &edited,
        "### M2: the exact steps to add a new webapp container\n\n<!-- your answer -->",
        "### M2: the exact steps to add a new webapp container\n\nEdit run.sh:\n\n```sh\n# add s3 here\ndocker run -d --name s3 webapp\n```\n\nThen rebuild.",
    );
    edited = edit(
        &edited,
        "## Task 3: React to membership changes\n",
        "## Task 3: React to membership changes\n\nNotes: the join handler logs every member.\n",
    );
    edited = edit(
        &edited,
        "## Difficulties\n",
        "## Our own chapter\n\nWe also tried Consul.\n\n# A title of ours\n\nmore\n\n## Difficulties\n",
    );
    // Text right after labctl's part, and inside a task's part too.
    edited = edit(
        &edited,
        "captures them into `logs/task3/`.*\n",
        "captures them into `logs/task3/`.*\nOur comment on task 3's deliverables.\n",
    );
    let mut report = edited.clone();
    for more in [false, true, true, false] {
        report = rerun(&report, more);
        for kept in [
            "Authors: Ada Lovelace, Alan Turing\n",
            "```sh\n# add s3 here\ndocker run -d --name s3 webapp\n```\n\nThen rebuild.",
            "Notes: the join handler logs every member.\n",
            "## Our own chapter\n\nWe also tried Consul.\n\n# A title of ours\n\nmore\n\n## Difficulties\n",
            "Our comment on task 3's deliverables.\n",
        ] {
            assert!(report.contains(kept), "lost {kept:?}:\n{report}");
        }
    }
    // Task 3's part was edited, so it stays as written; task 6's is fresh.
    assert_eq!(
        regions::outside_pristine(&report),
        regions::outside_pristine(&edited)
    );
}

#[test]
fn a_pristine_part_follows_the_logs_and_an_emptied_one_is_filled_again() {
    let md = fresh();
    let again = rerun(&md, true);
    assert!(!again.contains("`labctl collect task3` captures them"));
    assert!(again.contains("../logs/task3/05-four/stats.png"));
    // Every line of task 6's part deleted: filled again.
    let start = md.find("<!-- labctl:begin deliverables-task6").unwrap();
    let body_start = start + md[start..].find('\n').unwrap() + 1;
    let body_end = body_start
        + md[body_start..]
            .find("<!-- labctl:end deliverables-task6")
            .unwrap();
    let emptied = format!("{}{}", &md[..body_start], &md[body_end..]);
    assert_eq!(rerun(&emptied, false), md);
}

/// A small deterministic generator (xorshift), so that a failing case can
/// be run again from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A char boundary of `s`.
    fn boundary(&mut self, s: &str) -> usize {
        let mut at = self.below(s.len() + 1);
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        at
    }
}

#[test]
fn random_edits_anywhere_survive_a_rerun() {
    const PIECES: [&str; 14] = [
        "\n",
        "# ",
        "## ",
        "### ",
        "```",
        "`",
        "<!-- ",
        " -->",
        "labctl:end ",
        "é",
        "\r\n",
        "answer",
        "|",
        " ",
    ];
    let md = fresh();
    for seed in 1..=1500u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut edited = md.clone();
        // Up to one deletion, then one insertion of a few pieces.
        if rng.below(2) == 0 {
            let a = rng.boundary(&edited);
            let b = rng.boundary(&edited);
            let (a, b) = (a.min(b), a.max(b));
            edited.replace_range(a..b.min(a + 200), "");
        }
        let inserted: String = (0..1 + rng.below(6))
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect::<String>()
            + &format!("mark{seed}");
        let at = rng.boundary(&edited);
        edited.insert_str(at, &inserted);
        let kind = kind(&edited);
        if kind != Kind::Ours {
            // The edit took away every sign that labctl made the file:
            // it is refused, so nothing is lost either.
            continue;
        }
        let more = rng.below(2) == 0;
        let out = rerun(&edited, more);
        assert!(out.contains(&inserted), "seed {seed}: lost {inserted:?}");
        assert_eq!(
            regions::outside_pristine(&out),
            regions::outside_pristine(&edited),
            "seed {seed}: a byte outside labctl's pristine parts changed"
        );
        assert_eq!(rerun(&out, more), out, "seed {seed}: not settled");
    }
}

#[test]
fn a_file_labctl_did_not_make_is_refused_and_force_keeps_a_backup() {
    let dir = std::env::temp_dir().join(format!("labctl-report-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("report");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join("README.md");
    std::fs::write(&file, "# My notes\n\nnot a labctl report\n").unwrap();
    let err = write(&logs, &out, false).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("was not made by `labctl report`"), "{msg}");
    assert!(msg.contains("--force"), "{msg}");
    assert_eq!(
        crate::usage::exit_code(&err),
        std::process::ExitCode::from(2)
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# My notes\n\nnot a labctl report\n"
    );
    let written = write(&logs, &out, true).unwrap();
    let backup = written.backup.unwrap();
    assert_eq!(backup, out.join("README.md.bak"));
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        "# My notes\n\nnot a labctl report\n"
    );
    assert_eq!(kind(&std::fs::read_to_string(&file).unwrap()), Kind::Ours);
    // Ours now: a re-run needs no --force and keeps an added line.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\nP.S. thanks\n");
    std::fs::write(&file, &text).unwrap();
    write(&logs, &out, false).unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    // An earlier labctl's report: refused, then carried over with --force.
    std::fs::write(
        &file,
        format!("# Lab 04\n\n{OLD_MARKER} Write under each heading. -->\n\n## Introduction\n\nOur intro.\n"),
    )
    .unwrap();
    let msg = format!("{:#}", write(&logs, &out, false).unwrap_err());
    assert!(msg.contains("earlier labctl"), "{msg}");
    let written = write(&logs, &out, true).unwrap();
    assert_eq!(written.backup.unwrap(), out.join("README.md.bak.1"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("## Introduction\n\nOur intro.\n"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
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
