//! `labctl doctor` on this machine: each problem named with its fix, and a
//! healthy machine exits 0.

use crate::common::{text, TestLab};
use labctl::runtime::docker::DockerEngine;
use labctl::runtime::Runtime;

/// `doctor -o json` with extra environment; exit code and the document.
fn doctor(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, serde_json::Value) {
    let mut cmd = std::process::Command::new(crate::common::BIN);
    cmd.args(args).args(["doctor", "-o", "json"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    let doc = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}"));
    (out.status.code(), doc)
}

/// labctl as an unprivileged user (not in the `docker` group), on the
/// default socket.
fn as_nobody(args: &[&str]) -> std::process::Output {
    std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            crate::common::BIN,
        ])
        .args(args)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("HOME", "/nonexistent")
        .output()
        .expect("setpriv (util-linux) runs labctl as another user")
}

/// The check called `name`.
fn check<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no `{name}` check in {doc:#}"))
}

#[test]
fn a_healthy_machine_exits_0() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("doc");
    let (code, doc) = doctor(&["--lab", &lab.name], &[]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["healthy"], true);
    for name in ["engine", "base image", "disk space", "host ports", "subnet"] {
        assert_eq!(check(&doc, name)["level"], "ok", "{doc:#}");
    }
    assert!(check(&doc, "multi-host")["found"]
        .as_str()
        .unwrap()
        .contains("IPVS"));
}

#[test]
fn an_unreachable_engine_is_named_and_the_rest_not_checked() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let (code, doc) = doctor(&[], &[("DOCKER_HOST", "tcp://127.0.0.1:1")]);
    assert_eq!(code, Some(1));
    let engine = check(&doc, "engine");
    assert_eq!(engine["level"], "fail");
    assert!(engine["found"]
        .as_str()
        .unwrap()
        .contains("`tcp://127.0.0.1:1` (from DOCKER_HOST)"));
    assert_eq!(check(&doc, "the rest")["level"], "note");
}

#[test]
fn permission_denied_on_the_socket_is_named_with_the_docker_group() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let out = as_nobody(&["doctor", "-o", "json"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let found = check(&doc, "engine")["found"].as_str().unwrap().to_string();
    assert!(found.starts_with("permission denied"), "{found}");
    assert!(found.contains("`docker` group"), "{found}");
}

#[test]
fn a_taken_port_and_a_taken_subnet_are_named_with_their_options() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("docbad");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    // The engine's own default bridge holds a subnet every engine has.
    let bridge = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let engine = DockerEngine::connect().await.unwrap();
        engine
            .network("bridge")
            .await
            .unwrap()
            .expect("the default bridge")
    });
    let subnet = bridge.subnets[0].to_string();
    let (code, doc) = doctor(
        &["--lab", &lab.name],
        &[
            ("LABCTL_HTTP_PORT", port.as_str()),
            ("LABCTL_SUBNET", subnet.as_str()),
        ],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let ports = check(&doc, "host ports");
    assert_eq!(ports["level"], "fail");
    assert!(
        ports["found"].as_str().unwrap().contains(&format!(
            "port {port} on 127.0.0.1 is already in use; choose another with --http-port"
        )),
        "{ports:#}"
    );
    let net = check(&doc, "subnet");
    assert_eq!(net["level"], "fail");
    assert_eq!(
        net["found"],
        format!("{subnet} overlaps network `bridge`").as_str()
    );
    drop(listener);
}

#[test]
fn a_base_image_that_cannot_be_had_is_named_with_its_fix() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let (code, doc) = doctor(
        &["--lab", "tdocbase"],
        &[
            ("LABCTL_BASE", "labctl-test/no-such-base:1"),
            ("PATH", "/usr/bin:/bin"),
        ],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let base = check(&doc, "base image");
    assert_eq!(base["level"], "fail");
    assert!(base["found"]
        .as_str()
        .unwrap()
        .starts_with("`labctl-test/no-such-base:1` is not present and cannot be pulled"));
    assert!(base["fix"].as_str().unwrap().contains("docker load"));
}

#[test]
fn permission_denied_on_the_socket_is_named_first_with_its_fix() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    // As an unprivileged user (not in the `docker` group), the socket is
    // there but refuses the connection.
    let out = as_nobody(&["ps"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: permission denied on the Docker Engine's socket `unix:///var/run/docker.sock`: add your user to the `docker` group"
        ),
        "{stderr}"
    );
}
