//! Scenarios on the real Docker Engine: every task's deliverables collected
//! and checked, bad scenario files refused before anything starts, failed
//! expectations reported without spoiling earlier results.

use std::path::{Path, PathBuf};

use crate::common::{text, TestLab};

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("labctl-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn servers(config: &str) -> Vec<String> {
    config
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server "))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect()
}

/// The one folder in `dir` whose name ends with `-suffix`.
fn step_dir(dir: &Path, suffix: &str) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with(&format!("-{suffix}"))
        })
        .unwrap_or_else(|| panic!("no snapshot `{suffix}` in {}", dir.display()))
}

#[test]
fn collect_every_task_and_check_the_deliverables() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("collect");
    let out = scratch("collect");
    let junit = out.join("junit.xml");
    lab.ok(&[
        "collect",
        "all",
        "--out-root",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);

    for task in 0..=6 {
        let index = read(&out.join(format!("task{task}/INDEX.md")));
        assert!(index.contains("every step passed"), "task{task}:\n{index}");
    }
    let report = read(&junit);
    assert_eq!(report.matches("<testsuite ").count(), 7);
    assert!(!report.contains("<failure"), "{report}");

    // Task 0: HAProxy alone with the static s1 and s2; the stats page.
    let t0 = step_dir(&out.join("task0"), "stats-page");
    assert_eq!(servers(&read(&t0.join("haproxy.cfg"))), ["s1", "s2"]);
    assert!(read(&t0.join("stats.html")).contains("Statistics Report"));
    assert!(read(&t0.join("stats.csv")).contains("nodes,s1,"));

    // Task 1: s6 is PID 1 in both images.
    assert_eq!(read(&out.join("task1/ha-pid1.txt")).trim(), "s6-svscan");
    assert_eq!(read(&out.join("task1/s1-pid1.txt")).trim(), "s6-svscan");

    // Task 2: the docker logs of the three containers.
    let t2 = step_dir(&out.join("task2"), "logs");
    for node in ["ha", "s1", "s2"] {
        let logs = read(&t2.join(format!("logs-{}.txt", lab.container(node))));
        assert!(logs.contains("Serf agent"), "{node}: {logs}");
    }

    // Task 3: serf.log records the joins of ha, s1 and s2 as the lab's
    // handlers write them: no timestamp, a line per handler run.
    let log = read(&step_dir(&out.join("task3"), "serf-log").join("serf.log"));
    for (node, role) in [("ha", "balancer"), ("s1", "backend"), ("s2", "backend")] {
        let line = format!("Member join event received from: {node} with role {role}");
        assert!(log.lines().any(|l| l == line), "{log}");
    }
    assert!(
        log.lines().all(|l| l == "Member join script triggered"
            || l.starts_with("Member join event received from: ")),
        "{log}"
    );

    // Task 4: /tmp/haproxy.cfg is the lab's one-line template rendered for
    // the last member that joined (the lab's flaw); docker ps and one
    // inspect per container.
    let t4 = out.join("task4");
    let ha = read(&step_dir(&t4, "ha-started").join("haproxy.cfg"));
    assert!(
        ha.starts_with("Container ha has joined the Serf cluster with the following IP address: ")
            && ha.ends_with(".42\n"),
        "{ha}"
    );
    assert_eq!(ha.lines().count(), 1);
    let s1 = read(&step_dir(&t4, "s1-started").join("haproxy.cfg"));
    assert!(
        s1.starts_with("Container s1 has joined the Serf cluster with the following IP address: "),
        "{s1}"
    );
    assert_eq!(s1.lines().count(), 1);
    let last = step_dir(&t4, "s2-started");
    let s2 = read(&last.join("haproxy.cfg"));
    assert!(
        s2.starts_with("Container s2 has joined the Serf cluster with the following IP address: "),
        "{s2}"
    );
    assert_eq!(s2.lines().count(), 1);
    assert!(read(&last.join("docker-ps.txt")).starts_with("CONTAINER ID   IMAGE"));
    for node in ["ha", "s1", "s2"] {
        let inspect: serde_json::Value = serde_json::from_str(&read(
            &last.join(format!("inspect-{}.json", lab.container(node))),
        ))
        .unwrap();
        assert_eq!(inspect[0]["Name"], format!("/{}", lab.container(node)));
        // Up to stage 5 gossip is in clear, as in the lab: no key to hide.
        let env = inspect[0]["Config"]["Env"].to_string();
        assert!(!env.contains("SERF_ENCRYPT_KEY"), "{env}");
    }

    // Task 5: three configs with 0, 1, 2 servers; after s1 stops, only s2.
    let t5 = out.join("task5");
    assert!(servers(&read(&step_dir(&t5, "ha-started").join("haproxy.cfg"))).is_empty());
    assert_eq!(
        servers(&read(&step_dir(&t5, "s1-started").join("haproxy.cfg"))),
        ["s1"]
    );
    assert_eq!(
        servers(&read(&step_dir(&t5, "s2-started").join("haproxy.cfg"))),
        ["s1", "s2"]
    );
    let stopped = step_dir(&t5, "s1-stopped");
    assert_eq!(
        read(&stopped.join("nodes.txt"))
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["s2"]
    );
    assert_eq!(servers(&read(&stopped.join("haproxy.cfg"))), ["s2"]);
    // `docker ps` as the lab's users run it: the stopped s1 is not listed.
    let ps = read(&stopped.join("docker-ps.txt"));
    assert!(
        ps.lines().any(|l| l.ends_with(&lab.container("s2"))),
        "{ps}"
    );
    assert!(
        !ps.lines().any(|l| l.ends_with(&lab.container("s1"))),
        "{ps}"
    );

    // Task 6: the running HAProxy follows; six web apps on the stats page.
    let t6 = step_dir(&out.join("task6"), "six-webapps");
    assert_eq!(
        servers(&read(&t6.join("haproxy.cfg"))),
        ["s1", "s2", "s3", "s4", "s5", "s6"]
    );
    let csv = read(&t6.join("stats.csv"));
    for n in 1..=6 {
        assert!(csv.contains(&format!("nodes,s{n},")), "{csv}");
    }

    // The screenshot is a real picture of the page: its size, and not blank.
    let png = t6.join("stats.png");
    let decoder =
        png::Decoder::new(std::fs::File::open(&png).expect("stats.png (is Chromium installed?)"));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 900));
    let pixels = &buf[..info.buffer_size()];
    let distinct: std::collections::HashSet<&[u8]> =
        pixels.chunks(info.color_type.samples()).collect();
    assert!(
        distinct.len() > 20,
        "the screenshot is nearly blank ({} colours)",
        distinct.len()
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn bad_scenario_files_are_refused_with_positions_and_start_nothing() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("badscn");
    let dir = scratch("badscn");
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\nstage: 6\nsteps:\n  - up: {webapps: 1}\n  - stop: s4\n  - wait: {seconds: 1, converged: true}\n  - scale: {webapps: two}\n",
    )
    .unwrap();
    let out = lab.run(&["run", file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    // A scenario that does not parse is a usage error, found before the
    // engine is reached.
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let f = file.display().to_string();
    assert!(
        stderr.contains(&format!("{f}:7:")),
        "wrong type not reported at its line: {stderr}"
    );
    std::fs::write(
        &file,
        "name: bad\nsteps:\n  - up: {webapps: 1}\n  - stop: s4\n  - wait: {seconds: 1, converged: true}\n  - reboot: ha\n",
    )
    .unwrap();
    let out = lab.run(&["run", file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("{f}:6:")) && stderr.contains("unknown variant `reboot`"),
        "{stderr}"
    );
    std::fs::write(&file, "name: bad\nsteps:\n  - up: {webapps: 1}\n  - stop: s4\n  - wait: {seconds: 1, converged: true}\n").unwrap();
    let out = lab.run(&["run", file.to_str().unwrap()]);
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("{f}:4:3: step 2 (`stop`): unknown node `s4`")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{f}:5:3: step 3 (`wait`)")),
        "{stderr}"
    );
    // `validate` says the same without Docker, and nothing was started.
    let out = crate::common::labctl(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(lab.ps().is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_expectation_fails_the_run_and_keeps_the_previous_results() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("failscn");
    let dir = scratch("failscn");
    let out = dir.join("demo");
    std::fs::create_dir_all(&out).unwrap();
    // A good run's folder, as labctl writes it (labctl replaces only its own).
    let good = "# demo: the good run\n\nMade by `labctl` from scenario `demo` at lab stage 6; every step passed.\n";
    std::fs::write(out.join("INDEX.md"), good).unwrap();
    let file = dir.join("demo.yaml");
    std::fs::write(
        &file,
        "name: demo\nsteps:\n  - up: {webapps: 1}\n  - snapshot: {name: before, capture: [ps]}\n  - expect: {config_servers: [s1, s2]}\n  - snapshot: {name: never}\n",
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let result = lab.run(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let (stdout, _) = text(&result);
    assert_eq!(result.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAILED at step 03-expect"), "{stdout}");
    assert!(
        stdout.contains("lists servers [s1], expected [s1, s2]"),
        "{stdout}"
    );
    assert_eq!(
        read(&out.join("INDEX.md")),
        good,
        "a failed run replaced good results"
    );
    let failed = dir.join("demo.failed");
    assert!(read(&failed.join("INDEX.md")).contains("FAILED"));
    assert!(step_dir(&failed, "before").join("docker-ps.txt").exists());
    let xml = read(&junit);
    assert!(xml.contains("failures=\"1\" skipped=\"1\""), "{xml}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_and_ps_files_are_what_the_docker_cli_prints() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("clifiles");
    let dir = scratch("clifiles");
    let file = dir.join("files.yaml");
    std::fs::write(
        &file,
        "name: files\nstage: 6\nsteps:\n  - up: {webapps: 2}\n  - stop: s1\n  - snapshot: {name: now, capture: [inspect, ps, ps-all]}\n",
    )
    .unwrap();
    let out = dir.join("out");
    lab.ok(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let snap = step_dir(&out, "now");
    let docker = |args: &[&str]| {
        let o = std::process::Command::new("docker")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "docker {args:?}: {o:?}");
        String::from_utf8(o.stdout).unwrap()
    };
    // `docker inspect` byte for byte, but for the gossip key.
    for node in ["ha", "s1", "s2"] {
        let name = lab.container(node);
        let cli = docker(&["inspect", &name]);
        let key_at = cli.find("\"SERF_ENCRYPT_KEY=").expect("the lab's key") + 18;
        let key_end = key_at + cli[key_at..].find('"').unwrap();
        let expected = format!("{}<redacted>{}", &cli[..key_at], &cli[key_end..]);
        assert_eq!(
            read(&snap.join(format!("inspect-{name}.json"))),
            expected,
            "{name}"
        );
    }
    // `docker ps`: the running containers, newest first; `-a` all of them.
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .skip(1)
            .map(|l| l.split_whitespace().last().unwrap().to_string())
            .collect()
    };
    let filter = format!("label=io.labctl.lab={}", lab.name);
    let cli = docker(&["ps", "--filter", &filter, "--format", "{{.Names}}"]);
    let cli: Vec<String> = cli.lines().map(String::from).collect();
    let ps = names(&read(&snap.join("docker-ps.txt")));
    assert_eq!(ps.len(), 2, "{ps:?}");
    assert!(!ps.contains(&lab.container("s1")));
    let mut sorted_cli = cli.clone();
    sorted_cli.sort();
    let mut sorted_ps = ps.clone();
    sorted_ps.sort();
    assert_eq!(sorted_ps, sorted_cli);
    let all = names(&read(&snap.join("docker-ps-a.txt")));
    assert_eq!(all.len(), 3, "{all:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
