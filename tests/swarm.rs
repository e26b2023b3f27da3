//! The lab on Docker Swarm, against real engines: a local 3-node cluster
//! (`labctl cluster up`), the lab as services spread over its nodes, scaled
//! under load from non-retrying clients, a worker node stopped, and nothing
//! left behind by `down` and `cluster down`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::BIN;
use labctl::bench::load::{Load, LoadRun, Mix};

const CLUSTER: &str = "t-swarm";
const API_PORT: &str = "23761";
const HTTP_PORT: u16 = 28081;
const STATS_PORT: &str = "28937";
const SUBNET: &str = "192.168.143.0/24";

/// labctl against the cluster's manager (`manager`) or the host's engine.
fn labctl(manager: bool, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("LABCTL_") {
            cmd.env_remove(k);
        }
    }
    if manager {
        cmd.env("DOCKER_HOST", format!("tcp://127.0.0.1:{API_PORT}"));
    } else {
        cmd.env_remove("DOCKER_HOST");
    }
    cmd.args(args).output().expect("running labctl")
}

fn ok(manager: bool, args: &[&str]) -> String {
    let out = labctl(manager, args);
    let (stdout, stderr) = common::text(&out);
    assert!(
        out.status.success(),
        "labctl {args:?} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    stdout
}

/// `docker` on the host's engine (or the manager's), its output.
fn docker(manager: bool, args: &[&str]) -> String {
    let mut cmd = Command::new("docker");
    if manager {
        cmd.env("DOCKER_HOST", format!("tcp://127.0.0.1:{API_PORT}"));
    } else {
        cmd.env_remove("DOCKER_HOST");
    }
    let out = cmd.args(args).output().expect("running docker");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The cluster, removed when the test ends, whatever happened.
struct Cluster;

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = labctl(true, &["down"]);
        let _ = labctl(false, &["cluster", "--name", CLUSTER, "down"]);
    }
}

/// node name → Swarm node, for the running tasks.
fn placement() -> BTreeMap<String, String> {
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(true, &["ps", "-o", "json"])).expect("ps json");
    rows.iter()
        .filter(|r| r["state"] == "running")
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["host"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// node name → HAProxy state, per `labctl status`.
fn haproxy() -> BTreeMap<String, String> {
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(true, &["status", "-o", "json"])).expect("status json");
    rows.iter()
        .filter(|r| r["node"] != "ha")
        .map(|r| {
            (
                r["node"].as_str().unwrap().to_string(),
                r["haproxy"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn assert_no_request_lost(run: &LoadRun) {
    for (kind, r) in run.kinds() {
        assert!(r.sent > 20, "too few {kind} requests to tell: {r:?}");
        assert_eq!(r.failed(), 0, "{kind} clients lost requests: {r:?}");
    }
}

#[test]
fn the_lab_runs_scales_and_heals_on_a_three_node_swarm() {
    let volumes_before = lines(&docker(false, &["volume", "ls", "-q"]));
    let _cluster = Cluster;
    let out = ok(
        false,
        &[
            "cluster",
            "--name",
            CLUSTER,
            "up",
            "--nodes",
            "3",
            "--subnet",
            SUBNET,
            "--api-port",
            API_PORT,
            "--http-port",
            &HTTP_PORT.to_string(),
            "--stats-port",
            STATS_PORT,
        ],
    );
    assert!(
        out.contains(&format!("DOCKER_HOST=tcp://127.0.0.1:{API_PORT}")),
        "{out}"
    );
    let nodes = docker(
        true,
        &["node", "ls", "--format", "{{.Hostname}} {{.Status}}"],
    );
    assert_eq!(lines(&nodes).len(), 3, "{nodes}");
    assert!(nodes.lines().all(|l| l.ends_with("Ready")), "{nodes}");

    // A scenario that names no node to stop or start runs on the Swarm as
    // on one engine, its snapshots taken from the tasks on every node; one
    // that stops and starts given nodes is refused before anything changes.
    let refused = labctl(true, &["run", "--engine", "swarm", "scenarios/task6.yaml"]);
    let (_, stderr) = common::text(&refused);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("step 6 (stop s3)") && stderr.contains("step 10 (start s3)"),
        "{stderr}"
    );
    assert!(docker(true, &["service", "ls", "-q"]).trim().is_empty());
    let out_dir = std::env::temp_dir().join(format!("labctl-swarm-run-{}", std::process::id()));
    let out_arg = out_dir.display().to_string();
    let run = ok(
        true,
        &[
            "run",
            "--engine",
            "swarm",
            "scenarios/scaling.yaml",
            "--out",
            &out_arg,
        ],
    );
    assert!(run.contains("scaling: passed"), "{run}");
    let five = out_dir.join("06-five-webapps");
    let tasks = std::fs::read_to_string(five.join("swarm-ps.txt")).expect("swarm-ps.txt");
    for node in ["ha", "s1", "s5"] {
        assert!(
            tasks.lines().any(|l| l.trim_start().starts_with(node)),
            "{tasks}"
        );
    }
    let cfg = std::fs::read_to_string(five.join("haproxy.cfg")).expect("haproxy.cfg");
    assert_eq!(cfg.matches("\n    server s").count(), 5, "{cfg}");
    let stats = std::fs::read_to_string(five.join("stats.csv")).expect("stats.csv");
    assert!(stats.contains("s5"), "{stats}");
    let html = std::fs::read_to_string(five.join("stats.html")).expect("stats.html");
    assert!(html.contains("Statistics Report"), "{html}");
    let index = std::fs::read_to_string(out_dir.join("INDEX.md")).expect("INDEX.md");
    assert!(index.contains("two-webapps"), "{index}");
    let _ = std::fs::remove_dir_all(&out_dir);

    // Six web apps, spread over the nodes, answer through ha (the lab the
    // scenario left, scaled up).
    ok(true, &["up", "--engine", "swarm", "-n", "6"]);
    let placed = placement();
    assert_eq!(placed.len(), 7, "{placed:?}");
    assert_eq!(placed["ha"], "node1", "ha runs on the manager");
    let hosts: BTreeSet<&String> = placed
        .iter()
        .filter(|(n, _)| *n != "ha")
        .map(|(_, h)| h)
        .collect();
    assert!(hosts.len() >= 2, "web apps on one node only: {placed:?}");
    assert!(haproxy().values().all(|s| s == "UP"), "{:?}", haproxy());
    let mut answered_from = BTreeSet::new();
    for _ in 0..24 {
        let (code, body) = common::get(HTTP_PORT).expect("GET / through ha");
        assert_eq!(code, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        let tag = doc["tag"].as_str().unwrap().to_string();
        answered_from.insert(placed[&tag].clone());
    }
    assert!(
        answered_from.len() >= 2,
        "answers came from one node only: {answered_from:?}"
    );
    // `ls` on the manager shows the lab once, from the Swarm, not its task
    // containers on node1 as a lab of containers.
    let labs: Vec<serde_json::Value> =
        serde_json::from_str(&ok(true, &["ls", "-o", "json"])).expect("ls json");
    assert_eq!(labs.len(), 1, "{labs:?}");
    assert_eq!(labs[0]["lab"], "heig");
    assert_eq!(labs[0]["webapps"], 6);
    assert_eq!(labs[0]["running"], 6);
    assert_eq!(labs[0]["ha_running"], true);
    assert_eq!(labs[0]["subnet"], "192.168.42.0/24");
    // A scenario the Swarm cannot run, on the running Swarm lab (found
    // without --engine): refused up front, the lab kept.
    let refused = labctl(true, &["run", "scenarios/task5.yaml"]);
    let (_, stderr) = common::text(&refused);
    assert!(!refused.status.success());
    assert!(stderr.contains("runs stage 6 only"), "{stderr}");
    assert_eq!(placement().len(), 7);
    // A task on another node than the manager is reached by exec and logs.
    let (remote, host) = placed
        .iter()
        .find(|(n, h)| *n != "ha" && *h != "node1")
        .expect("a web app off the manager");
    assert_eq!(
        ok(true, &["exec", remote, "cat", "/etc/hostname"]).trim(),
        remote.as_str()
    );
    assert!(
        !ok(true, &["logs", "-n", "5", remote]).is_empty(),
        "no logs of {remote} on {host}"
    );

    // 6 -> 12 -> 3 under load from clients that never retry.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let load = {
        let _guard = rt.enter();
        Load::start(
            HTTP_PORT,
            Mix {
                keep_alive: 1,
                close: 2,
                idle: 6,
            },
            100_000,
            Duration::from_secs(240),
        )
    };
    ok(true, &["scale", "webapp=12"]);
    assert_eq!(haproxy().len(), 12);
    ok(true, &["scale", "webapp=3"]);
    let run = rt.block_on(load.finish());
    assert_no_request_lost(&run);
    assert_eq!(haproxy().len(), 3, "{:?}", haproxy());

    // A worker node stopped: its tasks come back on the live nodes, and
    // HAProxy has every web app UP again, on its own.
    let placed = placement();
    let victim = placed
        .iter()
        .filter(|(n, _)| *n != "ha")
        .map(|(_, h)| h.clone())
        .find(|h| h != "node1")
        .unwrap_or_else(|| "node3".to_string());
    let number = victim.trim_start_matches("node");
    docker(
        false,
        &["stop", "-t", "1", &format!("labctl-{CLUSTER}-{number}")],
    );
    let started = Instant::now();
    loop {
        let placed = placement();
        let states = haproxy();
        let healed = placed.len() == 4
            && placed.values().all(|h| *h != victim)
            && states.len() == 3
            && states.values().all(|s| s == "UP");
        if healed {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the lab did not converge after {victim} stopped: {placed:?} {states:?}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }

    // Nothing left: services, network and secret on the Swarm; nodes,
    // network and volumes on the host.
    ok(true, &["down"]);
    assert!(docker(true, &["service", "ls", "-q"]).trim().is_empty());
    assert!(docker(true, &["secret", "ls", "-q"]).trim().is_empty());
    assert!(!lines(&docker(true, &["network", "ls", "--format", "{{.Name}}"])).contains("heig"));
    ok(false, &["cluster", "--name", CLUSTER, "down"]);
    let filter = format!("label=io.labctl.cluster={CLUSTER}");
    assert!(docker(false, &["ps", "-aq", "--filter", &filter])
        .trim()
        .is_empty());
    assert!(docker(false, &["network", "ls", "-q", "--filter", &filter])
        .trim()
        .is_empty());
    assert_eq!(
        lines(&docker(false, &["volume", "ls", "-q"])),
        volumes_before
    );
}
