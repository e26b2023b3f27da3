//! Faults the lab survives, input it refuses and what it keeps out, on the
//! real Docker Engine with real HAProxy and Serf.

use std::time::Duration;

use crate::common::{all_up, get, get_with, labctl, names, text, Load, TestLab};
use labctl::runtime::docker::DockerEngine as Engine;
use labctl::runtime::Runtime;

fn with_engine<T>(f: impl AsyncFnOnce(&Engine) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = Engine::connect()
            .await
            .expect("these tests need a running Docker Engine");
        f(&engine).await
    })
}

#[test]
fn a_webapp_killed_under_load_loses_no_request() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("sigkill");
    lab.ok(&["up", "--webapps", "3"]);
    let load = Load::start(lab.host_port(80), 20_000, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    with_engine(async |e| {
        e.kill_container(&lab.container("s2"), "SIGKILL")
            .await
            .unwrap()
    });
    lab.eventually(
        "s2 out of the configuration",
        Duration::from_secs(30),
        || lab.config_servers() == names(&["s1", "s3"]),
    );
    std::thread::sleep(Duration::from_millis(500));
    let report = load.finish();
    assert_eq!(lab.registry(), names(&["s1", "s3"]));
    report.assert_none_lost();
    // Serf holds member events back (coalescing) before the handler logs them.
    lab.eventually("the failure logged", Duration::from_secs(20), || {
        lab.serf_log()
            .contains("Member member-failed event received from: s2 with role backend")
    });
}

#[test]
fn a_killed_serf_agent_is_restarted_and_rejoins() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("serfkill");
    lab.ok(&["up"]);
    lab.exec("s1", &["s6-svc", "-k", "/run/s6/serf"]);
    lab.eventually(
        "s1's agent restarted by s6",
        Duration::from_secs(30),
        || {
            lab.ok(&["logs", "s1"])
                .matches("Serf agent starting")
                .count()
                >= 2
        },
    );
    lab.eventually(
        "s1 back in the cluster and UP",
        Duration::from_secs(30),
        || {
            let s1 = lab.node_status("s1");
            s1["serf"] == "alive" && s1["haproxy"] == "UP"
        },
    );
}

#[test]
fn a_killed_haproxy_worker_comes_back_with_its_config() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("hakill");
    lab.ok(&["up"]);
    let before = lab.exec("ha", &["cat", "/usr/local/etc/haproxy/haproxy.cfg"]);
    // The worker is the haproxy process whose parent is the master.
    let killed = lab.exec(
        "ha",
        &["sh", "-c", "master=$(s6-svstat -p /run/s6/haproxy); for d in /proc/[0-9]*; do if [ \"$(cat $d/comm 2>/dev/null)\" = haproxy ] && grep -q \"^PPid:[[:space:]]*$master$\" $d/status; then kill -9 ${d#/proc/} && echo ${d#/proc/}; fi; done"],
    );
    assert!(!killed.trim().is_empty(), "no worker found");
    lab.eventually("HAProxy serving again", Duration::from_secs(30), || {
        matches!(get(lab.host_port(80)), Ok((200, _))) && all_up(&lab, &["s1", "s2"])
    });
    assert_eq!(
        lab.exec("ha", &["cat", "/usr/local/etc/haproxy/haproxy.cfg"]),
        before
    );
}

#[test]
fn an_interrupted_scale_converges_when_run_again() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("ctrlc");
    lab.ok(&["up", "--webapps", "1"]);
    let child = std::process::Command::new(crate::common::BIN)
        .args(["--lab", &lab.name, "--quiet", "scale", "webapp=6"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "Ctrl-C during scale exits 130: {out:?}"
    );
    lab.ok(&["scale", "webapp=6"]);
    assert_eq!(lab.ps().len(), 7);
    lab.assert_all_up(&["s1", "s2", "s3", "s4", "s5", "s6"]);
    lab.ok(&["down"]);
    let left = with_engine(async |e| {
        e.containers_with_label(labctl::labels::LAB, &lab.name)
            .await
            .unwrap()
    });
    assert!(left.is_empty(), "orphans: {left:?}");
}

#[test]
fn two_commands_on_one_lab_take_turns() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("lock");
    lab.ok(&["up", "--webapps", "1"]);
    let spawn = |n: &str| {
        std::process::Command::new(crate::common::BIN)
            .args(["--lab", &lab.name, "scale", &format!("webapp={n}")])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("4"));
        let b = s.spawn(|| spawn("3"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.status.success(), "{:?}", text(&a));
    assert!(b.status.success(), "{:?}", text(&b));
    let waited = text(&a).1 + &text(&b).1;
    // The one that waited says who it waited for.
    assert!(waited.contains("is being changed by process "), "{waited}");
    assert!(
        waited.contains(&format!("(`labctl --lab {} scale webapp=", lab.name)),
        "{waited}"
    );
    let webapps = lab.ps().len() - 1;
    assert!(webapps == 3 || webapps == 4);
    assert_eq!(lab.config_servers().len(), webapps);
}

/// A labctl of another machine: its own temporary folder, so that its lock
/// files never meet this machine's (two laptops on a teacher's engine, two
/// CI jobs in two containers of one runner).
fn on_machine(machine: &std::path::Path, args: &[&str]) -> std::process::Command {
    std::fs::create_dir_all(machine).unwrap();
    let mut command = std::process::Command::new(crate::common::BIN);
    command.env("TMPDIR", machine).args(args);
    command
}

/// The lab's claim on the engine, if it is there.
fn claim_of(lab: &TestLab) -> Option<labctl::runtime::ContainerInfo> {
    let name = labctl::lock::lab_claim_name(&lab.name);
    with_engine(async |e| e.container_named(&name).await.unwrap())
}

#[test]
fn two_machines_on_one_engine_take_turns_and_a_killed_holder_frees_the_lab() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("machines");
    lab.ok(&["up", "--webapps", "1"]);
    let root = std::env::temp_dir().join(format!("labctl-machines-{}", std::process::id()));
    let (a, b) = (root.join("a"), root.join("b"));
    let scale = |machine: &std::path::Path, n: &str| {
        on_machine(
            machine,
            &["--lab", &lab.name, "scale", &format!("webapp={n}")],
        )
        .output()
        .unwrap()
    };
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| scale(&a, "4"));
        let second = s.spawn(|| scale(&b, "3"));
        (first.join().unwrap(), second.join().unwrap())
    });
    assert!(first.status.success(), "{:?}", text(&first));
    assert!(second.status.success(), "{:?}", text(&second));
    let waited = text(&first).1 + &text(&second).1;
    // The one that waited names the other machine's command, from the claim.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        waited.contains(&format!("(`labctl --lab {} scale webapp=", lab.name))
            && waited.contains(&format!(") on {}; waiting", host.trim())),
        "{waited}"
    );
    let webapps = lab.ps().len() - 1;
    assert!(webapps == 3 || webapps == 4);
    assert_eq!(lab.config_servers().len(), webapps);
    assert!(claim_of(&lab).is_none(), "each let go of its claim");

    // A holder killed outright: the engine ends its claim with its
    // connection, and the other machine goes on at once.
    let mut holder = on_machine(&a, &["--lab", &lab.name, "scale", "webapp=8"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while claim_of(&lab).is_none_or(|c| !c.state.is_running()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the scale never claimed the lab"
        );
        assert!(
            holder.try_wait().unwrap().is_none(),
            "the scale ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
    let started = std::time::Instant::now();
    let after = scale(&b, "2");
    assert!(after.status.success(), "{:?}", text(&after));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited {:?} after its holder was killed",
        started.elapsed()
    );
    lab.eventually("two web apps serve", Duration::from_secs(30), || {
        lab.config_servers().len() == 2
    });
    assert!(claim_of(&lab).is_none());
    lab.ok(&["down"]);
    assert!(claim_of(&lab).is_none());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn hostile_members_are_refused_and_the_lab_keeps_serving() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("hostile");
    lab.ok(&["up"]);
    let key = lab
        .env_of("s1", "SERF_ENCRYPT_KEY")
        .expect("the lab has a Serf key");
    let ha_ip = lab.ps().iter().find(|r| r["node"] == "ha").unwrap()["ip"]
        .as_str()
        .unwrap()
        .to_string();
    let hostile = [
        "../../etc/evil".to_string(),
        "s9\n    server evil 10.0.0.1:80".to_string(),
        "x".repeat(300),
    ];
    for (i, name) in hostile.iter().enumerate() {
        let port = 7950 + i;
        let rpc = 7380 + i;
        // An agent inside s1, with the lab's key, claiming to be a backend.
        let script = format!(
            "serf agent -node \"$NAME\" -bind 0.0.0.0:{port} -rpc-addr 127.0.0.1:{rpc} -join {ha_ip}:7946 -encrypt {key} -tag role=backend >/tmp/hostile{i}.log 2>&1 &"
        );
        let out = labctl(&[
            "--lab",
            &lab.name,
            "exec",
            "s1",
            "--",
            "env",
            &format!("NAME={name}"),
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "{:?}", text(&out));
    }
    lab.eventually(
        "the hostile members refused",
        Duration::from_secs(20),
        || {
            let log = lab.serf_log();
            ["../../etc/evil", "s9\\n", "xxxxxxxx"]
                .iter()
                .all(|n| log.contains(&format!("Member refused: \"{n}")))
        },
    );
    assert_eq!(lab.config_servers(), names(&["s1", "s2"]));
    assert_eq!(lab.registry(), names(&["s1", "s2"]));
    let config = lab.exec("ha", &["cat", "/usr/local/etc/haproxy/haproxy.cfg"]);
    assert!(!config.contains("evil"), "{config}");
    let (code, _) = get(lab.host_port(80)).unwrap();
    assert_eq!(code, 200);
}

#[test]
fn an_outsider_without_the_key_cannot_join() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("outsider");
    lab.ok(&["up", "--webapps", "1"]);
    let ha_ip = lab.ps().iter().find(|r| r["node"] == "ha").unwrap()["ip"]
        .as_str()
        .unwrap()
        .to_string();
    let out = labctl(&[
        "--lab",
        &lab.name,
        "exec",
        "s1",
        "--",
        "serf",
        "agent",
        "-node",
        "intruder",
        "-bind",
        "0.0.0.0:7960",
        "-rpc-addr",
        "127.0.0.1:7390",
        "-join",
        &ha_ip,
        "-tag",
        "role=backend",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "the intruder joined:\n{stdout}{stderr}"
    );
    let members = lab.exec("ha", &["serf", "members"]);
    assert!(!members.contains("intruder"), "{members}");
    assert_eq!(lab.config_servers(), names(&["s1"]));
}

#[test]
fn a_config_haproxy_rejects_keeps_the_last_good_one_running() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("badcfg");
    lab.ok(&["up"]);
    lab.exec("ha", &["sh", "-c", "echo 'frontend broken' >> /config/haproxy.cfg.tera && echo '    no-such-keyword here' >> /config/haproxy.cfg.tera"]);
    lab.ok(&["scale", "webapp=3", "--no-wait"]);
    lab.eventually("the error shows in status", Duration::from_secs(30), || {
        lab.status()["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HAProxy rejects"))
    });
    assert_eq!(lab.config_servers(), names(&["s1", "s2"]));
    let shown = lab.ok(&["status"]);
    assert!(
        shown.contains("the last configuration change failed"),
        "{shown}"
    );
    for _ in 0..4 {
        assert_eq!(get(lab.host_port(80)).unwrap().0, 200);
    }
}

#[test]
fn a_change_haproxy_cannot_take_yet_is_retried_until_it_can() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("retry");
    lab.ok(&["up"]);
    // A template edit needs a reload. Hide HAProxy's master socket: reloads
    // fail as they do in the moment HAProxy is still starting (the listening
    // socket stays, under a new name).
    let (master, hidden) = ("/run/haproxy/master.sock", "/run/haproxy/master.hidden");
    lab.exec("ha", &["mv", master, hidden]);
    lab.edit_template_adding_a_header();
    lab.eventually(
        "the pending reload shows in status",
        Duration::from_secs(30),
        || {
            lab.status()["reload_pending"]
                .as_str()
                .is_some_and(|e| e.contains("not running yet"))
        },
    );
    let shown = lab.ok(&["status"]);
    assert!(
        shown.contains("has not taken the new configuration yet"),
        "{shown}"
    );
    // The file has the edit; the running HAProxy does not, and nothing but
    // the retry can change that.
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab
        .exec("ha", &["cat", "/usr/local/etc/haproxy/haproxy.cfg"])
        .contains("X-Lab-Edited"));
    assert!(!lab.answers_with_the_edited_header());
    assert!(lab.status()["reload_pending"].is_string());
    lab.exec("ha", &["mv", hidden, master]);
    lab.eventually("HAProxy takes the edit", Duration::from_secs(30), || {
        lab.answers_with_the_edited_header()
    });
    assert!(lab.status()["reload_pending"].is_null());

    // A new server goes through the runtime API. Hide its socket: the
    // change waits, and is made once HAProxy answers again.
    let (admin, hidden) = ("/run/haproxy/admin.sock", "/run/haproxy/admin.hidden");
    lab.exec("ha", &["mv", admin, hidden]);
    lab.ok(&["scale", "webapp=3", "--no-wait"]);
    lab.eventually("the wait shows in ha", Duration::from_secs(30), || {
        lab.exec(
            "ha",
            &["sh", "-c", "cat /run/labctl/waiting 2>/dev/null || true"],
        )
        .contains("HAProxy does not answer yet")
    });
    assert_eq!(lab.config_servers(), names(&["s1", "s2", "s3"]));
    std::thread::sleep(Duration::from_secs(2));
    lab.exec("ha", &["mv", hidden, admin]);
    lab.eventually(
        "HAProxy runs the server the file names",
        Duration::from_secs(30),
        || all_up(&lab, &["s1", "s2", "s3"]),
    );
}

#[test]
fn the_stats_page_can_require_credentials() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("auth");
    lab.ok(&["up", "--webapps", "1", "--stats-auth", "admin:s3cret"]);
    let port = lab.host_port(1936);
    assert_eq!(get(port).unwrap().0, 401);
    // admin:s3cret
    assert_eq!(
        get_with(port, &[("authorization", "Basic YWRtaW46czNjcmV0")])
            .unwrap()
            .0,
        200
    );
    assert_eq!(get(lab.host_port(80)).unwrap().0, 200);
}

#[test]
fn ports_bind_to_loopback_and_the_webapp_is_unprivileged() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("exposure");
    lab.ok(&["up", "--webapps", "1"]);
    let ports: Vec<String> = lab
        .ps()
        .iter()
        .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    assert_eq!(ports.len(), 2, "{ports:?}");
    assert!(
        ports.iter().all(|p| p.starts_with("127.0.0.1:")),
        "{ports:?}"
    );
    let uid = lab.exec(
        "s1",
        &["sh", "-c", "for d in /proc/[0-9]*; do if grep -q webapp $d/cmdline 2>/dev/null && [ \"$(cat $d/comm)\" = labctl ]; then awk '/^Uid:/{print $2}' $d/status; fi; done"],
    );
    let uid = uid.trim();
    assert!(!uid.is_empty(), "web app process not found");
    assert_ne!(uid, "0", "the web app runs as root");
    // The runtime API is a unix socket, not a published port.
    let listening = lab.exec(
        "ha",
        &["sh", "-c", "cat /proc/net/tcp | awk 'NR>1{print $2}'"],
    );
    assert!(
        !listening.to_uppercase().contains(":270F"),
        "port 9999 is open: {listening}"
    );
}

#[test]
fn taken_ports_and_overlapping_subnets_are_refused_before_anything_changes() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("refuse");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = lab.run(&["up", "--http-port", &port]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("choose another with --http-port"),
        "{:?}",
        text(&out)
    );
    assert!(with_engine(async |e| e.network(&lab.network()).await.unwrap()).is_none());

    let other = TestLab::new("refuse2");
    other.ok(&["up", "--webapps", "0"]);
    let subnet =
        with_engine(async |e| e.network(&other.network()).await.unwrap().unwrap().subnets[0]);
    let out = lab.run(&["up", "--subnet", &subnet.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("overlaps network"),
        "{:?}",
        text(&out)
    );
    assert!(lab.ps().is_empty());
    // Zero web apps is a valid lab: the stats page answers, traffic gets 503.
    assert_eq!(get(other.host_port(1936)).unwrap().0, 200);
    assert_eq!(get(other.host_port(80)).unwrap().0, 503);
}

#[test]
fn a_broken_template_override_is_refused_before_building() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let dir = std::env::temp_dir().join(format!("labctl-it-tpl-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ha")).unwrap();
    std::fs::write(
        dir.join("ha/haproxy.cfg.tera"),
        "global\r\n\r\n{% for s in %}\r\n",
    )
    .unwrap();
    let out = labctl(&[
        "--templates",
        dir.to_str().unwrap(),
        "--lab",
        "tplbroken",
        "up",
    ]);
    let (_, stderr) = text(&out);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("haproxy.cfg.tera"), "{stderr}");
    assert!(stderr.contains("3:"), "{stderr}");
    assert!(with_engine(async |e| e.network("tplbroken-heig").await.unwrap()).is_none());
}
