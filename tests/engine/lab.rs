//! The lab on the real Docker Engine, with real HAProxy and real Serf.
//! Each test runs its own lab (`--lab t…`) on its own network and ports.

use std::time::Duration;

use crate::common::{all_up, get, labctl, names, text, Load, TestLab};
use labctl::runtime::docker::DockerEngine as Engine;
use labctl::runtime::Runtime;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn engine(rt: &tokio::runtime::Runtime) -> Engine {
    rt.block_on(Engine::connect())
        .expect("these tests need a running Docker Engine")
}

#[test]
fn up_serves_two_webapps_through_ha() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("up");
    lab.ok(&["up"]);
    lab.assert_all_up(&["s1", "s2"]);
    let ps = lab.ps();
    let containers: Vec<&str> = ps.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        containers,
        [
            lab.container("ha"),
            lab.container("s1"),
            lab.container("s2")
        ]
    );
    assert_eq!(lab.registry(), names(&["s1", "s2"]));
    assert_eq!(lab.config_servers(), names(&["s1", "s2"]));

    // Round robin over both web apps, each answering as the lab's app does.
    let port = lab.host_port(80);
    let mut hosts = Vec::new();
    for _ in 0..4 {
        let (code, body) = get(port).unwrap();
        assert_eq!(code, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["hello"], "world!");
        assert_eq!(json["sessionViews"], 1);
        hosts.push(json["host"].as_str().unwrap().to_string());
    }
    hosts.sort();
    hosts.dedup();
    assert_eq!(hosts, names(&["s1", "s2"]));

    // The stats page answers on its own port.
    let (code, body) = get(lab.host_port(1936)).unwrap();
    assert_eq!(code, 200);
    assert!(body.contains("nodes"), "stats page without the backend");

    // `up` again changes nothing and succeeds.
    lab.ok(&["up"]);
    assert_eq!(lab.ps().len(), 3);
}

#[test]
fn scale_2_5_1_keeps_nodes_and_config_in_step() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("scale");
    lab.ok(&["up"]);
    lab.ok(&["scale", "webapp=5"]);
    let five = names(&["s1", "s2", "s3", "s4", "s5"]);
    assert_eq!(lab.registry(), five);
    assert_eq!(lab.config_servers(), five);
    lab.assert_all_up(&["s1", "s2", "s3", "s4", "s5"]);
    assert_eq!(lab.ps().len(), 6);

    lab.ok(&["scale", "webapp=1"]);
    assert_eq!(lab.registry(), names(&["s1"]));
    assert_eq!(lab.config_servers(), names(&["s1"]));
    lab.assert_all_up(&["s1"]);
    assert_eq!(lab.ps().len(), 2);

    // The leaves were graceful: Serf saw them leave, not fail (the handler
    // logs after Serf's event coalescing, hence the wait).
    lab.eventually("the leave logged", Duration::from_secs(20), || {
        lab.serf_log()
            .contains("Member member-leave event received from: s5 with role backend")
    });
    let log = lab.serf_log();
    assert!(!log.contains("member-failed"), "{log}");

    // Scaling to the current size is a success that changes nothing.
    lab.ok(&["scale", "webapp=1"]);
}

#[test]
fn no_request_is_lost_while_scaling() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("zero");
    lab.ok(&["up"]);
    let load = Load::start(lab.host_port(80), 20_000, Duration::from_secs(240));
    for _ in 0..2 {
        lab.ok(&["scale", "webapp=5"]);
        lab.ok(&["scale", "webapp=2"]);
    }
    lab.ok(&["scale", "webapp=1"]);
    let report = load.finish();
    report.assert_none_lost();
}

#[test]
fn webapps_started_before_ha_join_when_it_appears() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("order");
    lab.ok(&["up"]);
    let rt = rt();
    let engine = engine(&rt);
    rt.block_on(async {
        for node in ["ha", "s1", "s2"] {
            engine
                .stop_container(&lab.container(node), 10)
                .await
                .unwrap();
        }
        for node in ["s1", "s2"] {
            engine.start_container(&lab.container(node)).await.unwrap();
        }
    });
    // The web apps try to join an `ha` that is not there.
    std::thread::sleep(Duration::from_secs(3));
    let logs = lab.ok(&["logs", "s1"]);
    assert!(
        logs.contains("Join failed")
            || logs.contains("failed to join")
            || logs.contains("Failed to join"),
        "{logs}"
    );
    rt.block_on(engine.start_container(&lab.container("ha")))
        .unwrap();
    lab.eventually(
        "both web apps UP after ha started",
        Duration::from_secs(30),
        // The restarted ha first serves its previous configuration: wait
        // for the membership itself.
        || all_up(&lab, &["s1", "s2"]) && lab.registry() == names(&["s1", "s2"]),
    );
}

#[test]
fn a_replaced_ha_rebuilds_its_state_from_the_cluster() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("harestart");
    lab.ok(&["up", "--webapps", "3"]);
    let rt = rt();
    let engine = engine(&rt);

    // Restarted in place.
    rt.block_on(async {
        engine
            .stop_container(&lab.container("ha"), 10)
            .await
            .unwrap();
        engine.start_container(&lab.container("ha")).await.unwrap();
    });
    lab.eventually(
        "3 web apps UP after ha restarted",
        Duration::from_secs(30),
        || all_up(&lab, &["s1", "s2", "s3"]),
    );

    // Replaced by a new container: empty /nodes, empty config, fresh Serf.
    rt.block_on(engine.remove_container(&lab.container("ha")))
        .unwrap();
    lab.ok(&["up", "--webapps", "3"]);
    lab.assert_all_up(&["s1", "s2", "s3"]);
    assert_eq!(lab.registry(), names(&["s1", "s2", "s3"]));
    let (code, _) = get(lab.host_port(80)).unwrap();
    assert_eq!(code, 200);
}

#[test]
fn docker_stop_of_a_webapp_is_a_graceful_leave() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("stop");
    lab.ok(&["up"]);
    let rt = rt();
    let engine = engine(&rt);
    rt.block_on(engine.stop_container(&lab.container("s2"), 10))
        .unwrap();
    lab.eventually("s2 out of HAProxy", Duration::from_secs(15), || {
        lab.config_servers() == names(&["s1"])
    });
    let s2 = lab.node_status("s2");
    assert_eq!(s2["serf"], "left", "{s2}");
    assert_eq!(lab.registry(), names(&["s1"]));
    // `up` brings it back.
    lab.ok(&["up"]);
    lab.assert_all_up(&["s1", "s2"]);
}

#[test]
fn two_labs_run_side_by_side() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let a = TestLab::new("a");
    let b = TestLab::new("b");
    a.ok(&["up", "--webapps", "1"]);
    b.ok(&["up", "--webapps", "2"]);
    assert_ne!(a.host_port(80), b.host_port(80));
    let ip_of = |lab: &TestLab| {
        let (code, body) = get(lab.host_port(80)).unwrap();
        assert_eq!(code, 200);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["ip"].as_str().unwrap().to_string()
    };
    let (ip_a, ip_b) = (ip_of(&a), ip_of(&b));
    let prefix = |ip: &str| ip.rsplit_once('.').unwrap().0.to_string();
    assert_ne!(prefix(&ip_a), prefix(&ip_b), "labs share a subnet");
    assert_eq!(a.ps().len(), 2);
    assert_eq!(b.ps().len(), 3);
    // Taking one down leaves the other serving.
    a.ok(&["down"]);
    b.assert_all_up(&["s1", "s2"]);
}

#[test]
fn down_leaves_nothing_behind() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("down");
    lab.ok(&["up", "--webapps", "3"]);
    let out = lab.ok(&["down"]);
    assert!(out.contains(&lab.network()), "{out}");
    let rt = rt();
    let engine = engine(&rt);
    let left = rt
        .block_on(engine.containers_with_label(labctl::labels::LAB, &lab.name))
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert!(rt
        .block_on(engine.network(&lab.network()))
        .unwrap()
        .is_none());
    // A second `down` has nothing to do and says so.
    assert!(lab.ok(&["down"]).contains("nothing to remove"));
}

#[test]
fn a_foreign_container_with_a_lab_name_is_refused_and_untouched() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("foreign");
    let rt = rt();
    let engine = engine(&rt);
    let foreign = lab.container("ha");
    rt.block_on(async {
        // Any local image will do: this container is only there to be in the way.
        engine
            .create_container(&labctl::runtime::ContainerSpec {
                name: foreign.clone(),
                hostname: "foreign".into(),
                image: "labctl/webapp:latest".into(),
                env: vec![],
                labels: Default::default(),
                network: "bridge".into(),
                ip: "0.0.0.0".parse().unwrap(),
                aliases: vec![],
                publish: vec![],
                runs_engine: false,
            })
            .await
            .ok();
    });
    let exists = rt.block_on(engine.container_named(&foreign)).unwrap();
    let out = lab.run(&["up"]);
    let (_, stderr) = text(&out);
    let still = rt.block_on(engine.container_named(&foreign)).unwrap();
    let network = rt.block_on(engine.network(&lab.network())).unwrap();
    rt.block_on(engine.remove_container(&foreign)).unwrap();
    assert!(exists.is_some(), "the foreign container could not be made");
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not part of lab"), "{stderr}");
    assert!(
        still.is_some(),
        "labctl removed a container it did not create"
    );
    assert!(network.is_none(), "a refused `up` left a network behind");
    assert!(lab.ps().is_empty());
}

#[test]
fn unknown_nodes_and_labs_that_are_not_up_get_clear_errors() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("errors");
    let out = lab.run(&["scale", "webapp=3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out)
            .1
            .contains("is not up; start it with `labctl up`"),
        "{:?}",
        text(&out)
    );
    lab.ok(&["up", "--webapps", "1"]);
    let out = lab.run(&["logs", "s7"]);
    assert!(text(&out).1.contains("no node `s7`"), "{:?}", text(&out));
    let out = lab.run(&["scale", "webapp=300"]);
    assert!(
        text(&out).1.contains("holds at most 252 web apps"),
        "{:?}",
        text(&out)
    );
    assert_eq!(lab.ps().len(), 2, "a refused scale changed the lab");
    // `exec` passes the command's exit code through.
    let out = lab.run(&["exec", "s1", "--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let out = labctl(&["--version"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text(&out)
            .0
            .starts_with(&format!("labctl {}", env!("CARGO_PKG_VERSION"))),
        "{out:?}"
    );
}

#[test]
fn up_on_a_lab_that_is_up_keeps_its_size_and_starts_stopped_webapps() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("keep");
    lab.ok(&["up"]);
    lab.ok(&["scale", "webapp=4"]);
    let out = std::process::Command::new("docker")
        .args(["stop", "-t", "2", &lab.container("s4")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = lab.run(&["exec", "s4", "--", "true"]);
    let err = text(&out).1;
    assert!(
        err.contains("node `s4` is exited, not running; `labctl start s4` starts it again"),
        "{err}"
    );
    lab.ok(&["up"]);
    let running: Vec<String> = lab
        .ps()
        .iter()
        .filter(|r| r["status"].as_str().is_some_and(|s| s.starts_with("Up")))
        .map(|r| r["node"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(running, names(&["ha", "s1", "s2", "s3", "s4"]));
    lab.assert_all_up(&["s1", "s2", "s3", "s4"]);
    // Asked explicitly, it does change the size.
    lab.ok(&["up", "--webapps", "3"]);
    lab.assert_all_up(&["s1", "s2", "s3"]);
}

#[test]
fn node_verbs_and_ls_do_by_hand_what_the_scenarios_do() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("verbs");
    lab.ok(&["up", "--webapps", "3"]);
    let gone = |node: &str| !lab.haproxy_states().iter().any(|(n, _)| n == node);

    // `stop` is a graceful leave: Serf says `left`, HAProxy drops it.
    assert_eq!(lab.ok(&["stop", "s3"]).trim(), "stopped s3");
    lab.eventually(
        "s3 out of HAProxy after stop",
        Duration::from_secs(15),
        || gone("s3"),
    );
    let s3 = lab.node_status("s3");
    assert_eq!(s3["serf"], "left", "{s3}");
    assert_eq!(lab.ok(&["start", "s3"]).trim(), "started s3");
    lab.assert_all_up(&["s1", "s2", "s3"]);

    // `kill` is a crash; `restart` brings the node back.
    assert_eq!(lab.ok(&["kill", "s2"]).trim(), "sent SIGKILL to s2");
    lab.eventually(
        "s2 out of rotation after kill",
        Duration::from_secs(15),
        || {
            !lab.haproxy_states()
                .iter()
                .any(|(n, s)| n == "s2" && s == "UP")
        },
    );
    assert_eq!(lab.ok(&["restart", "s2"]).trim(), "restarted s2");
    lab.assert_all_up(&["s1", "s2", "s3"]);

    // An unknown node is refused before any is touched.
    let out = lab.run(&["stop", "s1", "s9"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("no node `s9`"), "{stderr}");
    lab.assert_all_up(&["s1", "s2", "s3"]);

    // `ls` lists this lab among the engine's, with its size and ports.
    let labs: serde_json::Value = serde_json::from_str(&lab.ok(&["ls", "-o", "json"])).unwrap();
    let mine = labs
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lab"] == lab.name.as_str())
        .expect("the lab is listed");
    assert_eq!(mine["webapps"], 3);
    assert_eq!(mine["running"], 3);
    assert_eq!(mine["ha_running"], true);
    assert_eq!(mine["stage"], "6");
    assert_eq!(
        mine["http"],
        format!("127.0.0.1:{}", lab.host_port(80)).as_str()
    );
}

#[test]
fn exec_forwards_stdin_and_logs_follow_every_node_as_it_writes() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    use std::io::Write;
    use std::process::Stdio;
    let lab = TestLab::new("stream");
    lab.ok(&["up"]);

    // `exec` without `--`: stdin forwarded up to its end, stdout and stderr
    // apart, the exit code kept.
    let mut child = std::process::Command::new(crate::common::BIN)
        .args([
            "--lab",
            &lab.name,
            "exec",
            "ha",
            "sh",
            "-c",
            "cat; echo oops >&2; exit 3",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello from stdin\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(stdout, "hello from stdin\n");
    assert_eq!(stderr, "oops\n");

    // `logs -f` of every node: lines prefixed with their node, as they come.
    let follow = crate::common::Streaming::start(&["--lab", &lab.name, "logs", "-f", "-n", "0"]);
    std::thread::sleep(Duration::from_millis(500));
    lab.ok(&["scale", "webapp=3"]);
    let hit = |l: &String| l.starts_with("ha | ") && l.contains("s3");
    let seen = follow.until(Duration::from_secs(30), |seen| seen.iter().any(hit));
    drop(follow);
    assert!(
        seen.iter().any(hit),
        "no `ha | … s3` line while s3 joined: {seen:#?}"
    );
    assert!(
        seen.iter().all(|l| l.contains(" | ")),
        "a line without its node: {seen:#?}"
    );
}

#[test]
fn events_show_a_join_and_a_leave_as_they_happen() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("events");
    lab.ok(&["up"]);
    let events = crate::common::Streaming::start(&[
        "--lab", &lab.name, "events", "-o", "json", "--for", "90s",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    lab.ok(&["scale", "webapp=3"]);
    lab.ok(&["scale", "webapp=2"]);
    let has = |seen: &[serde_json::Value], source: &str, what: &[&str]| {
        seen.iter().any(|e| {
            e["node"] == "s3" && e["source"] == source && what.iter().any(|w| e["what"] == *w)
        })
    };
    // Leaving (a web app that joined a moment before it is scaled away has
    // been seen `failed` rather than `left` on a loaded machine; whether a
    // scale-down is graceful is tested with scale_2_5_1_…).
    let gone = ["leaving", "left", "failed"];
    let parse = |lines: &[String]| -> Vec<serde_json::Value> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
            .collect()
    };
    let lines = events.until(Duration::from_secs(30), |lines| {
        let seen = parse(lines);
        has(&seen, "serf", &["joined"]) && has(&seen, "serf", &gone)
    });
    drop(events);
    let seen = parse(&lines);
    assert!(has(&seen, "serf", &["joined"]), "no join: {seen:#?}");
    assert!(has(&seen, "serf", &gone), "no leave: {seen:#?}");
    assert!(has(&seen, "container", &["started"]), "{seen:#?}");
    assert!(seen.iter().all(|e| e["at"].is_string()), "{seen:#?}");
}

#[test]
fn a_webapp_started_by_hand_joins_a_stage_5_lab_as_in_the_lab() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("byhand");
    lab.ok(&["up", "--stage", "5"]);
    // As the lab's users scale: `docker run -d --network heig labctl/webapp`.
    let name = format!("{}-byhand", lab.name);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", &self.0])
                .output();
        }
    }
    let _remove = Remove(name.clone());
    let out = std::process::Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &lab.network(),
            "labctl/webapp:latest",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.Config.Hostname}}", &name])
        .output()
        .unwrap();
    let host = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!host.is_empty());
    // It joins `ha` by name, under its host name, and lands in /nodes.
    lab.eventually(
        "the web app started by hand in /nodes",
        Duration::from_secs(30),
        || lab.registry().contains(&host),
    );
    let logs = String::from_utf8_lossy(
        &std::process::Command::new("docker")
            .args(["logs", &name])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(logs.contains("labctl: no Serf key"), "{logs}");
}
