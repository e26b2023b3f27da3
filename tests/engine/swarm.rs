//! The lab on Docker Swarm, against real engines: a local 3-node cluster
//! (`labctl cluster up`), the lab as services spread over its nodes, scaled
//! under load from non-retrying clients, a worker node stopped, and nothing
//! left behind by `down` and `cluster down`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::common::swarm::{lines, TestCluster};
use labctl::bench::load::{Load, LoadRun, Mix};

const CLUSTER: &str = "t-swarm";
const API_PORT: u16 = 23761;
const HTTP_PORT: u16 = 28081;

fn assert_no_request_lost(run: &LoadRun) {
    for (kind, r) in run.kinds() {
        assert!(r.sent > 20, "too few {kind} requests to tell: {r:?}");
        assert_eq!(r.failed(), 0, "{kind} clients lost requests: {r:?}");
    }
}

/// A process of the test: killed (if it still runs) and reaped however
/// the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `scaling.yaml` on the Swarm and, while it holds the lab's lock, a
/// `scale`; both must succeed, the scale ending after the run. Returns the
/// run's stdout and the scale's stderr.
fn scale_during_run(c: &TestCluster, out: &str) -> (String, String) {
    use std::time::{Duration, Instant};
    let dir = std::env::temp_dir().join(format!("labctl-swarm-lock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let engine = c.docker(true, &["info", "--format", "{{.ID}}"]);
    let lock = labctl::lock::lab_lock_path(engine.trim(), "heig");
    let mut run = Reaped(
        c.command(
            true,
            &[
                "run",
                "--engine",
                "swarm",
                "scenarios/scaling.yaml",
                "--out",
                out,
            ],
        )
        .stdout(file("run.out"))
        .stderr(file("run.err"))
        .spawn()
        .unwrap(),
    );
    let started = Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|h| h.contains("labctl run")) {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the run never held the lab's lock `{}`",
            lock.display()
        );
        assert!(run.0.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut scale = Reaped(
        c.command(true, &["scale", "webapp=3"])
            .stdout(file("scale.out"))
            .stderr(file("scale.err"))
            .spawn()
            .unwrap(),
    );
    let (mut run_done, mut scale_done) = (None, None);
    while run_done.is_none() || scale_done.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "run and scale still going"
        );
        if run_done.is_none() {
            run_done = run.0.try_wait().unwrap().map(|s| (s, Instant::now()));
        }
        if scale_done.is_none() {
            scale_done = scale.0.try_wait().unwrap().map(|s| (s, Instant::now()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let ((run_status, run_end), (scale_status, scale_end)) =
        (run_done.unwrap(), scale_done.unwrap());
    assert!(
        run_status.success(),
        "run: {}{}",
        read("run.out"),
        read("run.err")
    );
    assert!(scale_status.success(), "scale: {}", read("scale.err"));
    assert!(scale_end >= run_end, "the scale did not wait for the run");
    let out = (read("run.out"), read("scale.err"));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

#[test]
fn the_lab_runs_scales_and_heals_on_a_three_node_swarm() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let c = TestCluster {
        name: CLUSTER,
        subnet: "192.168.143.0/24",
        api_port: API_PORT,
        http_port: HTTP_PORT,
        stats_port: 28937,
    };
    let volumes_before = lines(&c.docker(false, &["volume", "ls", "-q"]));
    let out = c.up(3, &[]);
    assert!(
        out.contains(&format!("DOCKER_HOST=tcp://127.0.0.1:{API_PORT}")),
        "{out}"
    );
    let nodes = c.docker(
        true,
        &["node", "ls", "--format", "{{.Hostname}} {{.Status}}"],
    );
    assert_eq!(lines(&nodes).len(), 3, "{nodes}");
    assert!(nodes.lines().all(|l| l.ends_with("Ready")), "{nodes}");

    // A scenario that names no node to stop or start runs on the Swarm as
    // on one engine, its snapshots taken from the tasks on every node; one
    // that stops and starts given nodes is refused before anything changes.
    let refused = c.labctl(true, &["run", "--engine", "swarm", "scenarios/task6.yaml"]);
    let (_, stderr) = crate::common::text(&refused);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("step 6 (stop s3)") && stderr.contains("step 10 (start s3)"),
        "{stderr}"
    );
    assert!(c.docker(true, &["service", "ls", "-q"]).trim().is_empty());
    let out_dir = std::env::temp_dir().join(format!("labctl-swarm-run-{}", std::process::id()));
    let out_arg = out_dir.display().to_string();
    // A `scale` typed while the scenario runs waits for it, naming it.
    let (run, scale) = scale_during_run(&c, &out_arg);
    assert!(
        scale.contains("lab `heig` is being changed by process")
            && scale.contains("labctl run --engine swarm scenarios/scaling.yaml"),
        "{scale}"
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
    c.ok(true, &["up", "--engine", "swarm", "-n", "6"]);
    let placed = c.placement();
    assert_eq!(placed.len(), 7, "{placed:?}");
    assert_eq!(placed["ha"], "node1", "ha runs on the manager");
    let hosts: BTreeSet<&String> = placed
        .iter()
        .filter(|(n, _)| *n != "ha")
        .map(|(_, h)| h)
        .collect();
    assert!(hosts.len() >= 2, "web apps on one node only: {placed:?}");
    assert!(c.haproxy().values().all(|s| s == "UP"), "{:?}", c.haproxy());
    let mut answered_from = BTreeSet::new();
    for _ in 0..24 {
        let (code, body) = crate::common::get(HTTP_PORT).expect("GET / through ha");
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
        serde_json::from_str(&c.ok(true, &["ls", "-o", "json"])).expect("ls json");
    assert_eq!(labs.len(), 1, "{labs:?}");
    assert_eq!(labs[0]["lab"], "heig");
    assert_eq!(labs[0]["webapps"], 6);
    assert_eq!(labs[0]["running"], 6);
    assert_eq!(labs[0]["ha_running"], true);
    assert_eq!(labs[0]["subnet"], "192.168.42.0/24");
    // A scenario the Swarm cannot run, on the running Swarm lab (found
    // without --engine): refused up front, the lab kept.
    let refused = c.labctl(true, &["run", "scenarios/task5.yaml"]);
    let (_, stderr) = crate::common::text(&refused);
    assert!(!refused.status.success());
    assert!(stderr.contains("runs stage 6 only"), "{stderr}");
    assert_eq!(c.placement().len(), 7);
    // A task on another node than the manager is reached by exec and logs.
    let (remote, host) = placed
        .iter()
        .find(|(n, h)| *n != "ha" && *h != "node1")
        .expect("a web app off the manager");
    assert_eq!(
        c.ok(true, &["exec", remote, "cat", "/etc/hostname"]).trim(),
        remote.as_str()
    );
    assert!(
        !c.ok(true, &["logs", "-n", "5", remote]).is_empty(),
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
    c.ok(true, &["scale", "webapp=12"]);
    assert_eq!(c.haproxy().len(), 12);
    c.ok(true, &["scale", "webapp=3"]);
    let run = rt.block_on(load.finish());
    assert_no_request_lost(&run);
    assert_eq!(c.haproxy().len(), 3, "{:?}", c.haproxy());

    // A worker node stopped: its tasks come back on the live nodes, and
    // HAProxy has every web app UP again, on its own.
    let placed = c.placement();
    let victim = placed
        .iter()
        .filter(|(n, _)| *n != "ha")
        .map(|(_, h)| h.clone())
        .find(|h| h != "node1")
        .unwrap_or_else(|| "node3".to_string());
    let number = victim.trim_start_matches("node");
    c.docker(
        false,
        &["stop", "-t", "1", &format!("labctl-{CLUSTER}-{number}")],
    );
    let started = Instant::now();
    loop {
        let placed = c.placement();
        let states = c.haproxy();
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
    c.assert_all_removed(&volumes_before);
}
