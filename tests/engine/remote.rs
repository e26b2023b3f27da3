//! The lab on a Docker Engine that is not beside labctl: Debian's engine in
//! a container (node 1 of a local cluster, `labctl cluster up --nodes 1`),
//! reached over tcp on a port the host publishes. Nothing the lab publishes
//! answers on this machine; labctl reaches the lab through that engine's
//! API alone: its waits, the scenarios' `http` steps, the stats page and its
//! screenshot.

use crate::common::swarm::TestCluster;
use crate::common::text;

const ENGINE: TestCluster = TestCluster {
    name: "t-remote",
    subnet: "192.168.151.0/24",
    api_port: 23781,
    http_port: 28281,
    stats_port: 28291,
};

#[test]
fn the_lab_runs_on_an_engine_in_a_container_reached_over_tcp() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    crate::common::images();
    let engine = &ENGINE;
    engine.up(1, &[]);

    // `up` waits through the engine; the URLs it prints are checked from
    // here, and those that do not answer here are said not to.
    let up = engine.ok(true, &["up"]);
    assert!(up.contains("lab `heig` is up: ha + 2 web app(s)"), "{up}");
    assert!(
        up.contains("http://127.0.0.1:80/ does not answer from this machine"),
        "{up}"
    );

    engine.ok(true, &["scale", "webapp=4"]);
    let status: serde_json::Value =
        serde_json::from_str(&engine.ok(true, &["status", "-o", "json"])).unwrap();
    let up_nodes: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["haproxy"] == "UP")
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(up_nodes, ["s1", "s2", "s3", "s4"], "{status}");
    let nodes = engine.ok(true, &["exec", "ha", "ls", "/nodes"]);
    assert_eq!(nodes.split_whitespace().count(), 4, "{nodes}");

    // Task 6 from the scenario: its `http` steps and the stats page come
    // from inside `ha`, the screenshot from the browser container.
    let out = std::env::temp_dir().join(format!("labctl-remote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let root = out.display().to_string();
    let collected = engine.labctl(true, &["collect", "task6", "--out-root", &root]);
    let (stdout, stderr) = text(&collected);
    assert!(
        collected.status.success(),
        "collect task6 failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let index = std::fs::read_to_string(out.join("task6/INDEX.md")).unwrap();
    let pngs = walk(&out.join("task6"), "png");
    assert!(!pngs.is_empty(), "no screenshot in {index}");
    assert!(!walk(&out.join("task6"), "html").is_empty(), "{index}");

    // doctor reports the engine it took and why, and checks nothing of
    // this host in its place.
    let doctor = engine.labctl(true, &["doctor"]);
    let (report, _) = text(&doctor);
    assert!(
        report.contains("tcp://127.0.0.1:23781` (from DOCKER_HOST)"),
        "{report}"
    );
    assert!(report.contains("not checked from here"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    assert!(doctor.status.success(), "{report}");

    let down = engine.ok(true, &["down"]);
    assert!(down.contains("removed ha"), "{down}");
    let _ = std::fs::remove_dir_all(&out);
}

/// The files below `dir` whose name ends with `.ext`.
fn walk(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path, ext));
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
    out
}
