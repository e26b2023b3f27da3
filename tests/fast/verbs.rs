//! Every verb on both kinds of lab, through the one door `cmd/` uses
//! (`service::open` and the `LabService` trait), against the in-memory
//! runtime: a lab of containers on one engine, and a lab of services on a
//! (fake, one-node) Swarm. Each test below runs once per kind.

use std::sync::Arc;
use std::time::Duration;

use crate::fake::{quiet, rt, WAIT};
use labctl::images::BuildOptions;
use labctl::naming::LabNames;
use labctl::platform::{Arch, Platform};
use labctl::runner::Subject;
use labctl::runtime::fake::FakeRuntime;
use labctl::runtime::LogsRequest;
use labctl::service::{LabKind, Placement, Prepare, UpOptions};
use labctl::stage::FINAL;
use labctl::templates::Templates;

/// A fresh engine and the lab `tag` on it, opened as `cmd/` opens it.
fn open(kind: LabKind, tag: &str) -> (Arc<FakeRuntime>, Box<dyn Subject>) {
    let fake = Arc::new(FakeRuntime::new());
    if kind == LabKind::Swarm {
        fake.make_swarm_manager();
    }
    let short = if kind == LabKind::Swarm { "vs" } else { "vd" };
    let names = LabNames::new(&format!("{short}-{tag}")).unwrap();
    let lab = rt()
        .block_on(labctl::service::open(fake.clone(), names, kind))
        .unwrap();
    assert_eq!(lab.kind(), kind);
    (fake, lab)
}

/// Where the tests' labs go: a lab other than `heig` on a Swarm needs its
/// subnet and ports given.
fn place() -> Placement {
    Placement {
        subnet: Some("10.91.0.0/24".parse().unwrap()),
        http_port: Some(18080),
        stats_port: Some(18936),
        ..Placement::default()
    }
}

fn opts(webapps: u32) -> UpOptions {
    UpOptions {
        webapps: Some(webapps),
        stage: FINAL,
        place: place(),
        wait: WAIT,
    }
}

/// `up` with `webapps` web apps; what it said.
fn up(lab: &dyn Subject, webapps: u32) -> Vec<String> {
    rt().block_on(lab.up(&opts(webapps), &quiet())).unwrap()
}

/// The node names `ps` lists, as JSON gives them.
fn ps_nodes(lab: &dyn Subject) -> Vec<String> {
    let view = rt().block_on(lab.ps()).unwrap();
    let key = if lab.kind() == LabKind::Swarm {
        "name"
    } else {
        "node"
    };
    let mut nodes: Vec<String> = view
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap().to_string())
        .collect();
    nodes.sort();
    nodes
}

/// The web apps HAProxy has UP, as `status` says.
fn up_in_haproxy(lab: &dyn Subject) -> Vec<String> {
    let view = rt().block_on(lab.status()).unwrap();
    let lines = if lab.kind() == LabKind::Swarm {
        view.json.as_array().unwrap().clone()
    } else {
        view.json["nodes"].as_array().unwrap().clone()
    };
    let mut up: Vec<String> = lines
        .iter()
        .filter(|l| l["haproxy"] == "UP")
        .map(|l| l["node"].as_str().unwrap().to_string())
        .collect();
    up.sort();
    up
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

fn up_starts_ha_and_its_web_apps_and_says_where(kind: LabKind) {
    let (_fake, lab) = open(kind, "up");
    let said = up(lab.as_ref(), 2);
    assert!(said[0].contains(lab.names().lab()), "{said:?}");
    assert!(said[0].contains("2 web app(s)"), "{said:?}");
    match kind {
        // The engine is on this machine's socket: the URLs are localhost's;
        // nothing listens on them here (the fake publishes nothing), which
        // is said.
        LabKind::Docker => {
            for line in [
                "  web app     http://127.0.0.1:18080/ does not answer from this machine",
                "  stats page  http://127.0.0.1:18936/ does not answer from this machine",
            ] {
                assert!(said.iter().any(|l| l.starts_with(line)), "{said:?}");
            }
        }
        LabKind::Swarm => assert!(said[0].contains("port 18080 (stats 18936)"), "{said:?}"),
    }
    assert_eq!(ps_nodes(lab.as_ref()), ["ha", "s1", "s2"]);
    assert_eq!(up_in_haproxy(lab.as_ref()), ["s1", "s2"]);
}

fn up_again_brings_a_running_lab_to_the_size_asked(kind: LabKind) {
    let (_fake, lab) = open(kind, "up-again");
    up(lab.as_ref(), 2);
    up(lab.as_ref(), 3);
    assert_eq!(ps_nodes(lab.as_ref()), ["ha", "s1", "s2", "s3"]);
    assert_eq!(up_in_haproxy(lab.as_ref()), ["s1", "s2", "s3"]);
}

fn scale_waits_until_haproxy_serves_exactly_the_web_apps(kind: LabKind) {
    let (_fake, lab) = open(kind, "scale");
    up(lab.as_ref(), 2);
    rt().block_on(lab.scale(4, WAIT, &quiet())).unwrap();
    assert_eq!(up_in_haproxy(lab.as_ref()), ["s1", "s2", "s3", "s4"]);
    rt().block_on(lab.scale(1, WAIT, &quiet())).unwrap();
    assert_eq!(ps_nodes(lab.as_ref()), ["ha", "s1"]);
    assert_eq!(up_in_haproxy(lab.as_ref()), ["s1"]);
}

fn scale_without_waiting_still_applies(kind: LabKind) {
    let (_fake, lab) = open(kind, "scale-nowait");
    up(lab.as_ref(), 1);
    rt().block_on(lab.scale(3, None, &quiet())).unwrap();
    assert_eq!(ps_nodes(lab.as_ref()), ["ha", "s1", "s2", "s3"]);
}

fn down_removes_everything_the_lab_made(kind: LabKind) {
    let (fake, lab) = open(kind, "down");
    up(lab.as_ref(), 2);
    let removed = rt().block_on(lab.down(&quiet())).unwrap();
    assert!(!removed.is_empty());
    assert!(
        removed.iter().any(|r| r.contains(&lab.names().network())),
        "{removed:?}"
    );
    assert_eq!(fake.container_names(), Vec::<String>::new());
    assert_eq!(fake.network_names(), Vec::<String>::new());
    // Nothing is left to remove the second time.
    assert_eq!(
        rt().block_on(lab.down(&quiet())).unwrap(),
        Vec::<String>::new()
    );
}

fn ps_lists_each_node_in_its_table_and_its_json(kind: LabKind) {
    let (_fake, lab) = open(kind, "ps");
    up(lab.as_ref(), 2);
    let view = rt().block_on(lab.ps()).unwrap();
    assert_eq!(view.json.as_array().unwrap().len(), 3);
    for node in ["ha", "s1", "s2"] {
        assert!(view.table.contains(node), "{}", view.table);
    }
    assert!(view.table.lines().count() >= 4, "{}", view.table);
}

fn status_says_what_haproxy_says_of_each_node(kind: LabKind) {
    let (_fake, lab) = open(kind, "status");
    up(lab.as_ref(), 2);
    let view = rt().block_on(lab.status()).unwrap();
    assert!(view.table.contains("HAPROXY"), "{}", view.table);
    assert!(view.table.contains("UP"), "{}", view.table);
    assert_eq!(up_in_haproxy(lab.as_ref()), ["s1", "s2"]);
}

fn logs_name_every_node_and_stream_each_one(kind: LabKind) {
    let (_fake, lab) = open(kind, "logs");
    up(lab.as_ref(), 2);
    let mut nodes = rt().block_on(lab.log_nodes()).unwrap();
    nodes.sort();
    assert_eq!(nodes, ["ha", "s1", "s2"]);
    let mut out = Vec::new();
    rt().block_on(lab.stream_logs("s2", &LogsRequest::ALL, &mut |b: &[u8]| {
        out.extend_from_slice(b)
    }))
    .unwrap();
    assert!(String::from_utf8_lossy(&out).contains("started"));
}

fn a_node_that_is_not_the_labs_is_named_in_the_error(kind: LabKind) {
    let (_fake, lab) = open(kind, "unknown");
    up(lab.as_ref(), 1);
    rt().block_on(lab.check_nodes(&strings(&["ha", "s1"])))
        .unwrap();
    let e = rt()
        .block_on(lab.check_nodes(&strings(&["s1", "s9"])))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no node `s9`"), "{e}");
}

fn exec_runs_a_command_in_a_node_and_returns_its_exit_code(kind: LabKind) {
    let (_fake, lab) = open(kind, "exec");
    up(lab.as_ref(), 1);
    let code = rt()
        .block_on(lab.exec_attached("ha", &["labctl", "node", "backends"], false))
        .unwrap();
    assert_eq!(code, 0);
    let out = rt()
        .block_on(lab.exec("s1", &["ls", "/nodes"]))
        .map(|o| o.code);
    // Whatever the node answers, the command reached it.
    assert!(out.is_ok(), "{out:?}");
}

fn stop_start_and_restart_a_node(kind: LabKind) {
    let (fake, lab) = open(kind, "nodes");
    up(lab.as_ref(), 2);
    let grace = Duration::from_secs(1);
    let stopped = rt().block_on(lab.stop_node("s2", grace, &quiet()));
    let started = rt().block_on(lab.start_node("s2", &quiet()));
    let restarted = rt().block_on(lab.restart_node("s1", grace, &quiet()));
    match kind {
        LabKind::Docker => {
            stopped.unwrap();
            started.unwrap();
            restarted.unwrap();
            let changes = fake.changes();
            for change in ["stop vd-nodes-s2", "start vd-nodes-s2", "stop vd-nodes-s1"] {
                assert!(changes.iter().any(|c| c == change), "{changes:?}");
            }
            assert_eq!(up_in_haproxy(lab.as_ref()), ["s1", "s2"]);
        }
        // The Swarm decides which tasks run: a given node is not stopped or
        // started, and nothing changes.
        LabKind::Swarm => {
            for e in [stopped, started, restarted] {
                let e = e.unwrap_err().to_string();
                assert!(e.contains("the Swarm decides which tasks run"), "{e}");
            }
            assert_eq!(up_in_haproxy(lab.as_ref()), ["s1", "s2"]);
        }
    }
}

fn kill_sends_the_signal_to_the_node(kind: LabKind) {
    let (fake, lab) = open(kind, "kill");
    up(lab.as_ref(), 2);
    let before = fake.container_names();
    rt().block_on(lab.kill_node("s1", "SIGKILL", &quiet()))
        .unwrap();
    assert!(
        fake.changes()
            .iter()
            .any(|c| c.starts_with("kill ") && c.ends_with(" SIGKILL")),
        "{:?}",
        fake.changes()
    );
    match kind {
        LabKind::Docker => {
            let s1 = fake.container("vd-kill-s1").unwrap();
            assert!(!s1.state.is_running());
        }
        // The Swarm replaces the task that ended: s1 runs again, in a new
        // container.
        LabKind::Swarm => {
            assert_eq!(ps_nodes(lab.as_ref()), ["ha", "s1", "s2"]);
            assert_ne!(fake.container_names(), before);
        }
    }
}

fn node_states_tell_events_what_runs(kind: LabKind) {
    let (_fake, lab) = open(kind, "states");
    up(lab.as_ref(), 2);
    let mut states = rt().block_on(lab.node_states()).unwrap();
    states.sort();
    assert_eq!(
        states,
        [
            ("ha".to_string(), "running".to_string()),
            ("s1".into(), "running".into()),
            ("s2".into(), "running".into())
        ]
    );
}

fn prepare_refuses_a_platform_the_lab_cannot_run(kind: LabKind) {
    let (fake, lab) = open(kind, "platform");
    up(lab.as_ref(), 1);
    let templates = Templates::load(None).unwrap();
    let build = BuildOptions {
        platform: Some(Platform::linux(Arch::Arm64)),
        ..BuildOptions::default()
    };
    let prepare = Prepare {
        build: &build,
        templates: &templates,
        replaces_lab: false,
    };
    let from = fake.changes().len();
    let e = rt()
        .block_on(lab.prepare(&prepare, &quiet()))
        .unwrap_err()
        .to_string();
    match kind {
        LabKind::Docker => assert!(e.contains("run `labctl down` first"), "{e}"),
        LabKind::Swarm => assert!(e.contains("each node's own platform"), "{e}"),
    }
    // Nothing was built.
    assert_eq!(fake.changes().len(), from);
}

fn a_scenario_runs_its_steps_and_writes_its_index(kind: LabKind) {
    let (_fake, lab) = open(kind, "scenario");
    let text = "name: verbs\nsteps:\n  - up: {webapps: 2}\n  - scale: {webapps: 3}\n  - wait: {converged: true}\n  - exec: {node: ha, cmd: [labctl, node, backends], save_as: backends.json}\n  - http: {requests: 6, expect_hosts: [s1, s2, s3]}\n  - snapshot: {name: served, capture: [stats]}\n  - kill: s3\n  - wait: {converged: true, timeout: 5}\n";
    let scenario = labctl::scenario::parse("verbs.yaml", text).unwrap();
    let dir = std::env::temp_dir().join(format!("labctl-verbs-{}-{:?}", std::process::id(), kind));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("run");
    let templates = Templates::load(None).unwrap();
    let build = BuildOptions::default();
    let progress = quiet();
    let shots = labctl::screenshot::Screenshots {
        templates: &templates,
        build: &build,
        progress: &progress,
    };
    let report = rt()
        .block_on(labctl::runner::run(
            lab.as_ref(),
            &place(),
            &shots,
            &scenario,
            &out,
            &progress,
        ))
        .unwrap();
    let failures: Vec<_> = report
        .steps
        .iter()
        .filter_map(|s| s.failure.clone())
        .collect();
    assert!(report.passed(), "{failures:?}");
    assert_eq!(report.steps.len(), 8);
    // The stats page came through the engine, from inside `ha`.
    let stats = std::fs::read_dir(out.join("06-served"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(stats.iter().any(|f| f.ends_with(".html")), "{stats:?}");
    let index = std::fs::read_to_string(out.join("INDEX.md")).unwrap();
    assert!(index.contains("backends.json"), "{index}");
    let backends = std::fs::read_to_string(out.join("backends.json")).unwrap();
    assert!(backends.contains("\"s3\""), "{backends}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn a_lab_on_the_swarm_is_opened_there_whatever_is_asked(kind: LabKind) {
    let (fake, lab) = open(kind, "found");
    up(lab.as_ref(), 1);
    // Asked for the other kind, the lab that is up keeps its own when it
    // runs on the Swarm; a lab of containers is opened as asked.
    let other = match kind {
        LabKind::Docker => LabKind::Swarm,
        LabKind::Swarm => LabKind::Docker,
    };
    let again = rt().block_on(labctl::service::open(
        fake.clone(),
        lab.names().clone(),
        other,
    ));
    match kind {
        LabKind::Swarm => assert_eq!(again.unwrap().kind(), LabKind::Swarm),
        // This engine is no Swarm manager: a Swarm is refused.
        LabKind::Docker => {
            let e = again.err().expect("no Swarm here").to_string();
            assert!(e.contains("cannot run the lab on a Swarm"), "{e}");
        }
    }
}

/// Each test above, once per kind of lab.
macro_rules! on_both_kinds {
    ($($name:ident),* $(,)?) => {
        mod docker {
            $(#[test] fn $name() { super::$name(labctl::service::LabKind::Docker) })*
        }
        mod swarm {
            $(#[test] fn $name() { super::$name(labctl::service::LabKind::Swarm) })*
        }
    };
}

on_both_kinds!(
    up_starts_ha_and_its_web_apps_and_says_where,
    up_again_brings_a_running_lab_to_the_size_asked,
    scale_waits_until_haproxy_serves_exactly_the_web_apps,
    scale_without_waiting_still_applies,
    down_removes_everything_the_lab_made,
    ps_lists_each_node_in_its_table_and_its_json,
    status_says_what_haproxy_says_of_each_node,
    logs_name_every_node_and_stream_each_one,
    a_node_that_is_not_the_labs_is_named_in_the_error,
    exec_runs_a_command_in_a_node_and_returns_its_exit_code,
    stop_start_and_restart_a_node,
    kill_sends_the_signal_to_the_node,
    node_states_tell_events_what_runs,
    prepare_refuses_a_platform_the_lab_cannot_run,
    a_scenario_runs_its_steps_and_writes_its_index,
    a_lab_on_the_swarm_is_opened_there_whatever_is_asked,
);
