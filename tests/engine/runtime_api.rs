//! Membership through HAProxy's runtime API, against the real engine,
//! HAProxy and Serf: no reload and no lost request while the lab scales,
//! the file and the running HAProxy always naming the same servers, a
//! template edit applied by a reload, a restarted `ha` back from its file.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::TestLab;
use labctl::bench::load::{Load, LoadRun, Mix};

/// What `ha` reports of HAProxy: servers it runs, servers of the file,
/// their differences, and its processes.
fn backends(lab: &TestLab) -> serde_json::Value {
    serde_json::from_str(&lab.exec("ha", &["labctl", "node", "backends"])).expect("backends json")
}

/// name → address, for the running HAProxy and for the file.
fn running_and_file(b: &serde_json::Value) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let map = |key: &str| {
        b[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["addr"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    (map("servers"), map("config_servers"))
}

/// The file names exactly the servers the running HAProxy has, with the
/// same addresses, and `nodes` are those servers.
fn assert_file_is_what_runs(lab: &TestLab, nodes: &[&str]) {
    let b = backends(lab);
    let (running, file) = running_and_file(&b);
    assert_eq!(running, file, "running HAProxy and haproxy.cfg differ: {b}");
    assert_eq!(
        file.keys().map(String::as_str).collect::<Vec<_>>(),
        {
            let mut n = nodes.to_vec();
            n.sort_unstable();
            n
        },
        "{b}"
    );
    assert_eq!(b["differences"], serde_json::json!([]), "{b}");
}

fn processes(lab: &TestLab) -> (u64, Vec<u64>) {
    let p = &backends(lab)["processes"];
    let workers = p["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("no HAProxy processes reported: {p}"))
        .iter()
        .map(|w| w.as_u64().unwrap())
        .collect();
    (p["reloads"].as_u64().unwrap(), workers)
}

/// Non-retrying clients: one request per connection, and kept-alive ones
/// that pause between requests (idle connections, where a reload hurts).
fn start_load(rt: &tokio::runtime::Runtime, lab: &TestLab) -> Load {
    let port = lab.host_port(80);
    let mix = Mix {
        keep_alive: 1,
        close: 2,
        idle: 8,
    };
    let _guard = rt.enter();
    Load::start(port, mix, 200_000, Duration::from_secs(300))
}

fn docker(args: &[&str]) {
    let out = std::process::Command::new("docker")
        .args(args)
        .output()
        .expect("running docker");
    assert!(out.status.success(), "docker {args:?}: {out:?}");
}

fn assert_no_request_lost(run: &LoadRun) {
    for (kind, r) in run.kinds() {
        assert!(r.sent > 20, "too few {kind} requests to tell: {r:?}");
        assert_eq!(r.failed(), 0, "{kind} clients lost requests: {r:?}");
    }
}

#[test]
fn scaling_with_a_kill_loses_no_request_and_never_reloads() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lab = TestLab::new("live");
    lab.ok(&["up"]);
    assert_file_is_what_runs(&lab, &["s1", "s2"]);
    let before = processes(&lab);
    let load = start_load(&rt, &lab);
    lab.ok(&["scale", "webapp=8"]);
    assert_file_is_what_runs(&lab, &["s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"]);
    docker(&["kill", &lab.container("s5")]);
    lab.eventually("s5 out of HAProxy", Duration::from_secs(30), || {
        !running_and_file(&backends(&lab)).0.contains_key("s5")
    });
    assert_file_is_what_runs(&lab, &["s1", "s2", "s3", "s4", "s6", "s7", "s8"]);
    lab.ok(&["scale", "webapp=2"]);
    assert_file_is_what_runs(&lab, &["s1", "s2"]);
    let run = rt.block_on(load.finish());
    assert_no_request_lost(&run);
    assert_eq!(
        processes(&lab),
        before,
        "HAProxy reloaded or changed its worker while the lab scaled"
    );
}

#[test]
fn a_template_edit_is_applied_by_a_reload_that_loses_no_request() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lab = TestLab::new("edit");
    lab.ok(&["up"]);
    let (reloads, _) = processes(&lab);
    let load = start_load(&rt, &lab);
    std::thread::sleep(Duration::from_millis(500));
    // A header on every answer, added to the template inside `ha`.
    lab.edit_template_adding_a_header();
    lab.eventually(
        "the edited template in use",
        Duration::from_secs(30),
        || lab.answers_with_the_edited_header(),
    );
    std::thread::sleep(Duration::from_millis(500));
    let run = rt.block_on(load.finish());
    assert_no_request_lost(&run);
    assert_eq!(processes(&lab).0, reloads + 1, "exactly one reload");
    assert!(
        lab.exec("ha", &["cat", "/usr/local/etc/haproxy/haproxy.cfg"])
            .contains("http-response set-header X-Lab-Edited yes"),
        "the file carries the edit"
    );
    // Servers still change without a reload after it.
    lab.ok(&["scale", "webapp=3"]);
    assert_file_is_what_runs(&lab, &["s1", "s2", "s3"]);
    assert_eq!(processes(&lab).0, reloads + 1);
}

#[test]
fn a_restarted_ha_gets_its_servers_from_the_file_and_the_membership() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("restart");
    lab.ok(&["up", "--webapps", "3"]);
    docker(&["restart", &lab.container("ha")]);
    lab.eventually("s1, s2, s3 UP again", Duration::from_secs(60), || {
        crate::common::all_up(&lab, &["s1", "s2", "s3"])
    });
    assert_file_is_what_runs(&lab, &["s1", "s2", "s3"]);
    // And it keeps following the membership.
    lab.ok(&["scale", "webapp=1"]);
    assert_file_is_what_runs(&lab, &["s1"]);
}

#[test]
fn a_drained_webapp_is_out_of_rotation_before_its_agent_leaves() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("drain");
    lab.ok(&["up", "--webapps", "3"]);
    lab.assert_all_up(&["s1", "s2", "s3"]);
    // What `scale` and `stop` tell `ha` first.
    lab.exec("ha", &["labctl", "node", "drain", "s3"]);
    lab.eventually("s3 out of HAProxy", Duration::from_secs(5), || {
        let (running, file) = running_and_file(&backends(&lab));
        !running.contains_key("s3") && !file.contains_key("s3")
    });
    // Its agent has not left: Serf still counts it alive.
    let s3 = lab.node_status("s3");
    assert_eq!(s3["serf"], "alive", "{s3}");
    // The scale-down that follows leaves s1 and s2 serving, no reload.
    lab.ok(&["scale", "webapp=2"]);
    lab.assert_all_up(&["s1", "s2"]);
    assert_eq!(backends(&lab)["processes"]["reloads"], 0);
}
