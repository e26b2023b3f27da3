//! The lab on a Docker Engine that is not beside labctl: Debian's engine in
//! a container (node 1 of a local cluster, `labctl cluster up --nodes 1`),
//! reached over tcp on a port the host publishes, then the same engine
//! image speaking TLS only, as GitLab's `docker:dind` does. Nothing the lab
//! publishes answers on this machine; labctl reaches the lab through that
//! engine's API alone: its waits, the scenarios' `http` steps, the stats
//! page and its screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

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

    // The same engine image over TLS only (the cluster made the image).
    let tls = TlsEngine::start();
    let up = tls.labctl(&["up"]);
    assert!(up.contains("lab `heig` is up: ha + 2 web app(s)"), "{up}");
    tls.labctl(&["scale", "webapp=3"]);
    let nodes = tls.labctl(&["exec", "ha", "ls", "/nodes"]);
    assert_eq!(nodes.split_whitespace().count(), 3, "{nodes}");
    let status = tls.labctl(&["status"]);
    assert_eq!(status.matches(" UP ").count(), 3, "{status}");
    // A client whose CA did not sign the engine's certificate is refused.
    let out = tls
        .command(&["ps"])
        .env("DOCKER_CERT_PATH", tls.dir.join("other"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("tcp://127.0.0.1:23792"),
        "{stderr}"
    );
    assert!(tls.labctl(&["down"]).contains("removed ha"));
}

/// Debian's engine in a container of the test's, on tcp with TLS only
/// (`--tlsverify`), its CA and client certificates made with openssl;
/// removed when the test ends.
struct TlsEngine {
    dir: PathBuf,
}

const TLS_CONTAINER: &str = "labctl-test-tls-engine";
const TLS_PORT: u16 = 23792;

impl TlsEngine {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("labctl-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("other")).unwrap();
        make_certificates(&dir);
        make_certificates(&dir.join("other"));
        let _ = docker(&["rm", "-f", TLS_CONTAINER]);
        let certs = format!("{}:/certs:ro", dir.display());
        let port = format!("127.0.0.1:{TLS_PORT}:2376");
        docker(&[
            "run",
            "-d",
            "--name",
            TLS_CONTAINER,
            "--cap-add",
            "ALL",
            "--cap-drop",
            "SYS_RESOURCE",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--security-opt",
            "systempaths=unconfined",
            "--cgroupns",
            "host",
            "-v",
            "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "-v",
            &certs,
            "-p",
            &port,
            "--entrypoint",
            "dockerd",
            "labctl/engine:latest",
            "--storage-driver=vfs",
            "--host=tcp://0.0.0.0:2376",
            "--tlsverify",
            "--tlscacert=/certs/ca.pem",
            "--tlscert=/certs/server-cert.pem",
            "--tlskey=/certs/server-key.pem",
        ])
        .expect("starting the TLS engine");
        let engine = Self { dir };
        let started = std::time::Instant::now();
        while !engine.command(&["ls"]).output().unwrap().status.success() {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "the TLS engine did not answer within 60 s: {}",
                docker(&["logs", "--tail", "20", TLS_CONTAINER]).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
        engine
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(crate::bin::BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("LABCTL_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("DOCKER_HOST", format!("tcp://127.0.0.1:{TLS_PORT}"))
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &self.dir)
            .args(args);
        cmd
    }

    /// labctl against the TLS engine, which must succeed: its stdout.
    fn labctl(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "labctl {args:?} over TLS failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }
}

impl Drop for TlsEngine {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", TLS_CONTAINER]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `docker` on the host's engine: its stdout, or its stderr as the error.
fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let (stdout, stderr) = text(&out);
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(stderr)
    }
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate in
/// `dir`, named as dockerd and the docker CLI expect them.
fn make_certificates(dir: &Path) {
    let script = "set -e
openssl genrsa -out ca-key.pem 2048 2>/dev/null
openssl req -x509 -new -key ca-key.pem -subj /CN=labctl-test-ca -days 2 -out ca.pem
openssl genrsa -out server-key.pem 2048 2>/dev/null
openssl req -new -key server-key.pem -subj /CN=127.0.0.1 -out server.csr
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile server.ext -out server-cert.pem 2>/dev/null
openssl genrsa -out key.pem 2048 2>/dev/null
openssl req -new -key key.pem -subj /CN=client -out client.csr
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile client.ext -out cert.pem 2>/dev/null
chmod 0644 *.pem";
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(out.status.success(), "{:?}", text(&out));
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
