//! Bad input, in a table: every row runs the real binary with no engine
//! reachable and must end with its exit code and the first words of its
//! error, said before labctl reaches for the engine. Rows that are fine
//! reach the engine (and so fail for want of it), which shows that the
//! table's refusals come from the checks and not from the missing engine.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One input: arguments, environment, and what must come of it.
struct Row {
    args: Vec<String>,
    env: Vec<(String, String)>,
    code: i32,
    /// Words the error must contain (its first words, or the part after
    /// clap's `invalid value '…' for '…':`).
    says: String,
}

fn row(args: &[&str], code: i32, says: &str) -> Row {
    Row {
        args: args.iter().map(ToString::to_string).collect(),
        env: Vec::new(),
        code,
        says: says.to_string(),
    }
}

fn env_row(var: &str, value: &str, args: &[&str], says: &str) -> Row {
    Row {
        env: vec![(var.to_string(), value.to_string())],
        ..row(args, 2, says)
    }
}

/// Files the rows refer to, made once in a folder of this test's.
struct Files {
    dir: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("labctl-bad-inputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("foreign")).unwrap();
        std::fs::write(dir.join("foreign/notes.txt"), "mine").unwrap();
        std::fs::create_dir_all(dir.join("report")).unwrap();
        std::fs::write(dir.join("report/README.md"), "# My own notes\n").unwrap();
        std::fs::write(dir.join("a-file"), "x").unwrap();
        let files: [(&str, &[u8]); 9] = [
            ("unknown-step.yaml", b"name: x\nsteps:\n  - jump: {}\n"),
            (
                "unknown-key.yaml",
                b"name: x\nsurprise: 1\nsteps: [up: {}]\n",
            ),
            (
                "wrong-type.yaml",
                b"name: x\nsteps: [up: {webapps: many}]\n",
            ),
            ("negative.yaml", b"name: x\nsteps: [up: {webapps: -2}]\n"),
            ("bad-stage.yaml", b"name: x\nstage: 9\nsteps: [up: {}]\n"),
            ("no-up.yaml", b"name: x\nsteps: [scale: {webapps: 2}]\n"),
            ("syntax.yaml", b"name: x\nsteps: [up: {webapps: 2}\n"),
            ("latin1.yaml", b"name: caf\xe9\nsteps: [up: {}]\n"),
            ("empty.yaml", b""),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        std::fs::write(dir.join("big.yaml"), vec![b'#'; (1 << 20) + 1]).unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Node names no lab can have.
const BAD_NODES: [&str; 18] = [
    "../ha",
    "db",
    "s1;rm -rf /",
    "s01",
    "s0",
    "S1",
    "ha ",
    "",
    "s-1",
    "s1.5",
    "h a",
    "$(id)",
    "s99999999",
    "s 1",
    "HA",
    "web1",
    "s1/",
    "*",
];

fn rows(files: &Files) -> Vec<Row> {
    let mut rows = Vec::new();
    let not_a_node = "is not a node name: a lab's nodes are `ha` and the web apps";
    for node in BAD_NODES {
        rows.push(row(&["exec", node, "ls"], 2, not_a_node));
        for verb in ["stop", "start", "restart", "kill", "logs"] {
            rows.push(row(&[verb, node], 2, not_a_node));
        }
    }
    for v in ["-1", "-100"] {
        rows.push(row(
            &["up", "-n", v],
            2,
            "is negative: the number of web apps must be 0 or more",
        ));
    }
    for v in ["abc", "1.5", "", "1e3", "0x10", "+3", "two"] {
        rows.push(row(
            &["up", "-n", v],
            2,
            "is not a whole number: the number of web apps",
        ));
    }
    for v in ["99999999999", "65533", "100000", "18446744073709551616"] {
        rows.push(row(
            &["up", "--webapps", v],
            2,
            "is too large: the number of web apps is at most 65532; no lab holds more",
        ));
    }
    for v in ["-5", "-1"] {
        rows.push(row(
            &["logs", "-n", v],
            2,
            "is negative: the number of lines must be 0 or more",
        ));
    }
    for v in ["abc", "1.5", "99999999999"] {
        rows.push(row(&["logs", "--tail", v], 2, "the number of lines"));
    }
    for (args, says) in [
        (
            vec!["events", "--count", "0"],
            "is too small: the number of events must be positive",
        ),
        (
            vec!["events", "--count", "-1"],
            "is negative: the number of events must be positive",
        ),
        (
            vec!["events", "--count", "x"],
            "is not a whole number: the number of events",
        ),
        (vec!["events", "--for", "0"], "is no time at all"),
        (
            vec!["events", "--for", "-1"],
            "is negative: a duration must be positive",
        ),
        (vec!["events", "--for", "x"], "is not a duration"),
        (
            vec!["bench", "--runs", "0"],
            "is too small: the number of runs must be positive",
        ),
        (
            vec!["bench", "--runs", "-1"],
            "is negative: the number of runs",
        ),
        (
            vec!["bench", "--runs", "x"],
            "is not a whole number: the number of runs",
        ),
        (
            vec!["bench", "--runs", "1001"],
            "is too large: the number of runs is at most 1000",
        ),
        (
            vec!["bench", "--cycles", "0"],
            "is too small: the number of cycles",
        ),
        (
            vec!["bench", "--cycles", "-2"],
            "is negative: the number of cycles",
        ),
        (
            vec!["bench", "--cycles", "y"],
            "is not a whole number: the number of cycles",
        ),
        (vec!["bench", "--scale-to", "2"], "2 is not in 3..=250"),
        (vec!["bench", "fast"], "invalid value 'fast'"),
        (
            vec![
                "bench",
                "images",
                "--beside",
                "unix:///run/podman/podman.sock",
            ],
            "--beside: the images benchmark runs on one engine",
        ),
        (
            vec!["bench", "--beside", "unix:///run/podman/podman.sock"],
            "--beside: the images benchmark runs on one engine",
        ),
        (
            vec![
                "bench",
                "join",
                "--beside",
                "unix:///p.sock",
                "--platform",
                "linux/arm64",
            ],
            "--beside runs the lab on each engine's own platform",
        ),
        (
            vec!["cluster", "up", "--nodes", "0"],
            "is too small: the number of nodes must be positive",
        ),
        (
            vec!["cluster", "up", "--nodes", "100000"],
            "is too large: the number of nodes is at most 9",
        ),
        (
            vec!["cluster", "up", "--nodes", "-1"],
            "is negative: the number of nodes",
        ),
        (
            vec!["cluster", "up", "--nodes", "ten"],
            "is not a whole number: the number of nodes",
        ),
        (
            vec!["cluster", "up", "--subnet", "127.0.0.0/24"],
            "is the loopback range",
        ),
        (
            vec!["cluster", "up", "--subnet", "10.0.0.0/30"],
            "has the wrong size: use a prefix from /16 to /28",
        ),
        (vec!["cluster", "up", "--subnet", "x"], "is not a subnet"),
        (
            vec!["cluster", "up", "--api-port", "80", "--http-port", "80"],
            "must be different ports",
        ),
        (
            vec!["cluster", "up", "--api-port", "-1"],
            "is negative: a port must be 0 or more",
        ),
        (
            vec!["cluster", "up", "--registry-port", "5001"],
            "--registry",
        ),
        (
            vec!["cluster", "--name", "Bad", "up"],
            "invalid cluster name `Bad`",
        ),
        (
            vec!["cluster", "--name", "", "ls"],
            "invalid cluster name ``",
        ),
        (
            vec!["cluster", "deploy"],
            "unrecognized subcommand 'deploy'",
        ),
    ] {
        rows.push(row(&args, 2, says));
    }
    let scale = [
        ("webapp=-1", "`-1` is not a number of web apps"),
        ("webapp=abc", "`abc` is not a number of web apps"),
        ("webapp=", "`` is not a number of web apps"),
        ("webapp=1.5", "`1.5` is not a number of web apps"),
        (
            "webapp=100000",
            "is too large: the number of web apps is at most 65532",
        ),
        ("webapp=99999999999", "is too large"),
        ("db=3", "unknown service `db`"),
        ("webapps=3", "unknown service `webapps`"),
        ("WEBAPP=3", "unknown service `WEBAPP`"),
        ("=3", "unknown service ``"),
        ("5", "expected `webapp=N`"),
        ("webapp", "expected `webapp=N`"),
        ("-3", "expected `webapp=N`"),
    ];
    for (target, says) in scale {
        rows.push(row(&["scale", target], 2, says));
    }
    for (verb, flag) in [
        ("up", "--http-port"),
        ("up", "--stats-port"),
        ("doctor", "--http-port"),
    ] {
        for v in ["-1", "65536", "http", "99999"] {
            rows.push(row(&[verb, flag, v], 2, "a port"));
        }
    }
    for verb in ["up", "scale"] {
        for v in ["0", "-5", "soon", "0s", "1x", "-1m"] {
            let mut args = vec![verb];
            if verb == "scale" {
                args.push("webapp=3");
            }
            args.extend(["--timeout", v]);
            let says = match v {
                "0" | "0s" => "is no time at all",
                "-5" | "-1m" => "is negative: a duration must be positive",
                _ => "is not a duration",
            };
            rows.push(row(&args, 2, says));
        }
    }
    let subnets = [
        ("192.168.42.0", "is an address, not a subnet"),
        ("127.0.0.0/24", "is the loopback range"),
        ("224.0.0.0/24", "is for multicast"),
        ("169.254.0.0/16", "is link-local"),
        ("0.0.0.0/16", "is not a network containers can have"),
        ("240.0.0.0/24", "is reserved"),
        (
            "10.0.0.0/8",
            "has the wrong size: use a prefix from /16 to /26",
        ),
        ("192.168.42.0/30", "has the wrong size"),
        ("foo", "is not a subnet"),
        ("192.168.42.0/33", "is not a subnet"),
        ("::1/64", "is not a subnet"),
        ("300.1.1.0/24", "is not a subnet"),
    ];
    for verb in ["up", "doctor", "collect"] {
        for (net, says) in subnets {
            let mut args = vec![verb];
            if verb == "collect" {
                args.push("task1");
            }
            args.extend(["--subnet", net]);
            rows.push(row(&args, 2, says));
        }
    }
    for v in ["203.0.113.7", "198.51.100.1"] {
        rows.push(row(
            &["up", "--bind", v],
            2,
            "is not an address of this host",
        ));
    }
    rows.push(row(
        &["up", "--bind", "nowhere"],
        2,
        "invalid value 'nowhere' for '--bind",
    ));
    for v in ["SIGFOO", "9x", "", "KILLALL"] {
        rows.push(row(&["kill", "s1", "--signal", v], 2, "unknown signal"));
    }
    for v in ["nopass", "a:b c", "a:#x", ":x", "us er:x", "a:"] {
        rows.push(row(&["up", "--stats-auth", v], 2, "expected `user:pass`"));
    }
    for v in ["http://10.0.0.1:5000", "x/y", ""] {
        rows.push(row(
            &["up", "--engine", "swarm", "--registry", v],
            2,
            "is not a registry address",
        ));
    }
    for args in [
        vec!["up", "--registry", "10.0.0.1:5000"],
        vec!["collect", "task6", "--registry", "10.0.0.1:5000"],
    ] {
        rows.push(row(&args, 2, "--registry is where a Swarm's nodes pull"));
    }
    for verb in ["build", "up", "collect", "bench", "doctor"] {
        for (platform, says) in [
            ("arm64", "is not a platform: write it as docker does"),
            ("darwin/arm64", "the lab's containers run Linux"),
            (
                "linux/riscv64",
                "labctl runs the lab on `linux/amd64` or `linux/arm64`",
            ),
            ("windows/amd64", "the lab's containers run Linux"),
        ] {
            let mut args = vec![verb];
            if verb == "collect" {
                args.push("task5");
            }
            args.extend(["--platform", platform]);
            rows.push(row(&args, 2, says));
        }
    }
    for args in [
        vec!["up", "--engine", "swarm", "--platform", "linux/arm64"],
        vec![
            "collect",
            "task1",
            "--engine",
            "swarm",
            "--platform",
            "linux/amd64",
        ],
    ] {
        rows.push(row(
            &args,
            2,
            "a lab on a Swarm runs on its nodes' own platform",
        ));
    }
    rows.push(row(
        &["cluster", "up", "--platform", "linux/arm64"],
        2,
        "a local cluster's nodes run this engine's own platform",
    ));
    for stage in ["0", "1", "2", "3", "4", "5"] {
        rows.push(row(
            &["up", "--engine", "swarm", "--stage", stage],
            2,
            "a lab on a Swarm runs stage 6 only",
        ));
    }
    for stage in ["7", "-1", "x", "66"] {
        rows.push(row(&["up", "--stage", stage], 2, "the stage"));
    }
    for lab in [
        "Bad/Name",
        "UPPER",
        "a b",
        "",
        "-x",
        "x_y",
        "aaaaaaaaaaaaaaaaaaaaaaaaa",
        "../etc",
    ] {
        for verb in ["ps", "up", "down"] {
            rows.push(row(&["--lab", lab, verb], 2, "invalid lab name"));
        }
    }
    rows.push(row(
        &["--templates", "/nonexistent", "ps"],
        2,
        "template directory `/nonexistent` does not exist",
    ));
    rows.push(row(
        &["down", "--all", "--lab", "demo"],
        2,
        "--all removes every lab on the engine, so --lab demo says nothing",
    ));
    rows.push(row(
        &["--lab", "demo", "down", "--all"],
        2,
        "--all removes every lab",
    ));
    // Scenario files.
    let dir = files.dir.display().to_string();
    let file_rows = [
        (
            "/nonexistent.yaml".to_string(),
            "cannot read scenario `/nonexistent.yaml`",
        ),
        (
            "/dev/zero".to_string(),
            "scenario `/dev/zero` is not a regular file",
        ),
        (
            "/dev/urandom".to_string(),
            "scenario `/dev/urandom` is not a regular file",
        ),
        (
            "/dev/null".to_string(),
            "scenario `/dev/null` is not a regular file",
        ),
        (dir.clone(), "is a folder"),
        (files.path("big.yaml"), "is larger than 1024 KiB"),
        (files.path("latin1.yaml"), "is not UTF-8 text"),
        (files.path("unknown-step.yaml"), "unknown variant `jump`"),
        (files.path("unknown-key.yaml"), "unknown field `surprise`"),
        (
            files.path("wrong-type.yaml"),
            "got string \"many\", expected a whole number from 0 to 4294967295",
        ),
        (
            files.path("negative.yaml"),
            "got integer `-2`, expected a whole number from 0 to 4294967295",
        ),
        (files.path("bad-stage.yaml"), "stage"),
        (files.path("no-up.yaml"), "up"),
        (files.path("syntax.yaml"), "syntax.yaml:"),
        (files.path("empty.yaml"), "missing field `name`"),
    ];
    for (file, says) in &file_rows {
        rows.push(row(&["run", file], 2, says));
        rows.push(row(&["validate", file], 1, says));
    }
    let foreign = files.path("foreign");
    let ok_file = "scenarios/task1.yaml";
    for (args, says) in [
        (
            vec!["run", "--out", &foreign, ok_file],
            "exists and labctl did not make it",
        ),
        (
            vec!["run", "--out", "/proc/labctl-x", ok_file],
            "cannot write in `/proc`",
        ),
        (
            vec!["run", "--out", &files.path("a-file"), ok_file],
            "exists and labctl did not make it",
        ),
        (
            vec!["run", "--junit", &dir, ok_file],
            "is not a regular file",
        ),
        (
            vec!["run", "--junit", "/proc/labctl-x/j.xml", ok_file],
            "cannot be made",
        ),
        (
            vec!["collect", "task1", "--out-root", &files.path("a-file")],
            "is a file, not a folder",
        ),
        (
            vec!["collect", "task1", "--junit", "/proc/j.xml"],
            "cannot write in `/proc`",
        ),
        (
            vec!["bench", "--charts", "/proc"],
            "cannot write in `/proc`",
        ),
        (
            vec!["bench", "--charts", &files.path("a-file")],
            "is a file, not a folder",
        ),
        (
            vec!["run", "--engine", "swarm", "scenarios/task6.yaml"],
            "scenario task6 cannot run on a Swarm",
        ),
        (
            vec!["collect", "all", "--engine", "swarm"],
            "cannot run on a Swarm",
        ),
        (vec!["collect", "task7"], "invalid value 'task7'"),
        (vec!["collect", "Task1"], "invalid value 'Task1'"),
        (vec!["completions", "tcsh"], "invalid value 'tcsh'"),
        (vec!["deploy"], "unrecognized subcommand 'deploy'"),
        (vec!["upp"], "unrecognized subcommand 'upp'"),
        (
            vec!["up", "--webapp", "3"],
            "unexpected argument '--webapp'",
        ),
        (vec!["up", "-n"], "a value is required for '--webapps <N>'"),
        (
            vec!["exec", "ha"],
            "the following required arguments were not provided",
        ),
        (
            vec!["kill"],
            "the following required arguments were not provided",
        ),
        (
            vec!["report", "--out", &files.path("report")],
            "was not made by `labctl report`",
        ),
        (
            vec!["validate"],
            "the following required arguments were not provided",
        ),
    ] {
        rows.push(row(&args, 2, says));
    }
    // Environment variables: the error names the variable.
    for (var, value, args) in [
        ("LABCTL_QUIET", "maybe", vec!["ls"]),
        ("LABCTL_QUIET", "2", vec!["ps"]),
        ("LABCTL_SUBNET", "foo", vec!["up"]),
        ("LABCTL_SUBNET", "127.0.0.0/24", vec!["doctor"]),
        ("LABCTL_ENGINE", "k8s", vec!["up"]),
        ("LABCTL_HTTP_PORT", "-1", vec!["up"]),
        ("LABCTL_STATS_PORT", "x", vec!["up"]),
        ("LABCTL_BIND", "nowhere", vec!["up"]),
        ("LABCTL_LAB", "Bad", vec!["ps"]),
        ("LABCTL_LAB", "a b", vec!["up"]),
        (
            "LABCTL_REGISTRY",
            "http://x",
            vec!["up", "--engine", "swarm"],
        ),
        ("LABCTL_STATS_AUTH", "x", vec!["up"]),
        ("LABCTL_CLUSTER", "Bad", vec!["cluster", "ls"]),
        ("LABCTL_TEMPLATES", "/nonexistent", vec!["ps"]),
        ("LABCTL_PLATFORM", "arm64", vec!["up"]),
        ("LABCTL_PLATFORM", "linux/s390x", vec!["build"]),
    ] {
        rows.push(env_row(
            var,
            value,
            &args,
            &format!("environment variable {var} is `{value}`"),
        ));
    }
    rows
}

/// Runs labctl with no engine to reach: what it exits with and says.
fn run(row: &Row) -> (Option<i32>, String) {
    let mut cmd = Command::new(crate::bin::BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("LABCTL_") || k.starts_with("DOCKER_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("HOME", "/nonexistent")
        .envs(row.env.iter().map(|(k, v)| (k, v)))
        .args(&row.args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let out = cmd.output().expect("running labctl");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn three_hundred_bad_inputs_are_refused_before_the_engine_with_the_fix() {
    let files = Files::new();
    let rows = rows(&files);
    assert!(rows.len() >= 300, "only {} rows", rows.len());
    println!("{} bad inputs", rows.len());
    let failures: Vec<String> = std::thread::scope(|scope| {
        let chunks: Vec<_> = rows
            .chunks(rows.len().div_ceil(4))
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|r| {
                            let (code, stderr) = run(r);
                            let ok = code == Some(r.code)
                                && stderr.starts_with(if r.code == 1 { "" } else { "error: " })
                                && stderr.contains(&r.says)
                                && !stderr.contains("Docker Engine")
                                && !stderr.contains("panicked");
                            (!ok).then(|| {
                                format!(
                                    "{:?} {:?}: exit {code:?}, want {} with {:?}; said:\n{stderr}",
                                    r.env, r.args, r.code, r.says
                                )
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} rows:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    // Nothing was written where the rows pointed.
    assert_eq!(
        std::fs::read_to_string(files.dir.join("report/README.md")).unwrap(),
        "# My own notes\n"
    );
    assert_eq!(
        std::fs::read_to_string(files.dir.join("foreign/notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn inputs_that_are_fine_reach_the_engine() {
    // The same harness, with inputs that pass every check: they get as far
    // as the missing engine, so the refusals above are the checks' doing.
    for args in [
        vec!["up", "-n", "0"],
        vec!["up", "--webapps", "65532", "--subnet", "10.7.0.0/16"],
        vec!["up", "--subnet", "192.168.43.0/24", "--timeout", "1m30s"],
        vec!["up", "--bind", "0.0.0.0"],
        vec!["up", "--platform", "linux/arm64"],
        vec!["build", "--platform", "linux/amd64"],
        vec!["up", "--engine", "swarm", "--registry", "10.0.0.1:5000"],
        vec!["exec", "s12", "ls"],
        vec!["logs", "-n", "0", "ha", "s1"],
        vec!["kill", "-s", "term", "s3"],
        vec!["scale", "webapp=0"],
        vec!["events", "--count", "1", "--for", "1s"],
        vec!["--lab", "demo", "down"],
        vec!["down", "--all"],
        vec![
            "run",
            "scenarios/task1.yaml",
            "--out",
            "/tmp/labctl-fine-never-made",
        ],
    ] {
        let (code, stderr) = run(&row(&args, 1, ""));
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("Docker Engine"), "{args:?}: {stderr}");
    }
    for (var, value) in [
        ("LABCTL_QUIET", "1"),
        ("LABCTL_QUIET", "yes"),
        ("LABCTL_QUIET", "0"),
        ("LABCTL_QUIET", ""),
        ("LABCTL_QUIET", "off"),
        ("LABCTL_QUIET", "TRUE"),
    ] {
        let (code, stderr) = run(&env_row(var, value, &["ls"], ""));
        assert_eq!(code, Some(1), "{var}={value}: {stderr}");
        assert!(stderr.contains("Docker Engine"), "{var}={value}: {stderr}");
    }
    assert!(!Path::new("/tmp/labctl-fine-never-made").exists());
}

#[test]
fn a_closed_stdout_ends_labctl_quietly() {
    for args in [
        vec!["completions", "bash"],
        vec!["man"],
        vec!["validate", "scenarios/task1.yaml", "scenarios/task5.yaml"],
        vec!["--help"],
    ] {
        // Read nothing: the pipe is closed before labctl writes.
        let mut child = Command::new(crate::bin::BIN)
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            matches!(out.status.code(), Some(0 | 141)),
            "{args:?}: {:?} {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
