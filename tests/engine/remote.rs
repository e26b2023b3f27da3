//! The lab on a Docker Engine that is not beside labctl: Debian's engine in
//! a container (node 1 of a local cluster, `labctl cluster up --nodes 1`),
//! reached over tcp on a port the host publishes; the same engine image
//! speaking TLS only, as GitLab's `docker:dind` does; and on its socket
//! alone with sshd beside it, as a remote host reached over ssh. Nothing
//! the lab publishes answers on this machine; labctl reaches the lab
//! through that engine's API alone: its waits, the scenarios' `http`
//! steps, the stats page and its screenshot.

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

/// The transports run one after the other: each engine holds a whole lab.
static ONE_ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the other transports' tests of this file to finish.
fn one_engine() -> std::sync::MutexGuard<'static, ()> {
    ONE_ENGINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// An engine labctl reaches: the environment that names it, and how the
/// doctor names it.
trait Remote {
    /// labctl against this engine (not yet run).
    fn command(&self, args: &[&str]) -> Command;

    /// What `doctor`'s engine line says of it.
    fn named(&self) -> String;

    /// labctl against this engine, which must succeed: its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.command(args).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "labctl {args:?} on {} failed\nstdout:\n{stdout}\nstderr:\n{stderr}",
            self.named()
        );
        stdout
    }
}

/// The lab's whole cycle on `engine`: up, scale 2 → 4, status, exec,
/// `collect task6` with its http steps and screenshot, doctor (exit 0, no
/// FAIL), down. Nothing the lab publishes answers on this machine: labctl
/// reaches the lab through the engine's API alone.
fn cycle(engine: &dyn Remote) {
    // `up` waits through the engine; the URLs it prints are checked from
    // here, and those that do not answer here are said not to.
    let up = engine.ok(&["up"]);
    assert!(up.contains("lab `heig` is up: ha + 2 web app(s)"), "{up}");
    assert!(
        up.contains("http://127.0.0.1:80/ does not answer from this machine"),
        "{up}"
    );

    engine.ok(&["scale", "webapp=4"]);
    let status: serde_json::Value =
        serde_json::from_str(&engine.ok(&["status", "-o", "json"])).unwrap();
    let up_nodes: Vec<&str> = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["haproxy"] == "UP")
        .map(|n| n["node"].as_str().unwrap())
        .collect();
    assert_eq!(up_nodes, ["s1", "s2", "s3", "s4"], "{status}");
    let nodes = engine.ok(&["exec", "ha", "ls", "/nodes"]);
    assert_eq!(nodes.split_whitespace().count(), 4, "{nodes}");

    // Tasks 5 and 6 from their scenarios: the `http` steps and the stats
    // page come from inside `ha`, the screenshot from the browser
    // container, task 5's `docker inspect` documents from the engine as it
    // wrote them.
    let out = std::env::temp_dir().join(format!("labctl-remote-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let root = out.display().to_string();
    let collected = engine
        .command(&["collect", "task5", "task6", "--out-root", &root])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&collected);
    assert!(
        collected.status.success(),
        "collect task5 task6 on {} failed\nstdout:\n{stdout}\nstderr:\n{stderr}",
        engine.named()
    );
    let task = out.join("task6");
    let index = std::fs::read_to_string(task.join("INDEX.md")).unwrap();
    assert!(!walk(&task, "png").is_empty(), "no screenshot in {index}");
    assert!(!walk(&task, "html").is_empty(), "{index}");
    let inspected: Vec<PathBuf> = walk(&out.join("task5"), "json")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("inspect-"))
        .collect();
    assert!(!inspected.is_empty(), "no docker inspect in task5");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&inspected[0]).unwrap()).unwrap();
    assert!(doc[0]["NetworkSettings"].is_object(), "{doc}");

    // doctor reports the engine it took and why, and checks the engine's
    // host, not this one.
    let doctor = engine.command(&["doctor"]).output().unwrap();
    let (report, _) = text(&doctor);
    assert!(report.contains(&engine.named()), "{report}");
    // The disk under the engine's folder, read on the engine's host.
    assert!(report.contains("GB free in `/var/lib/docker`"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    assert!(doctor.status.success(), "{report}");

    let down = engine.ok(&["down"]);
    assert!(down.contains("removed ha"), "{down}");
    let _ = std::fs::remove_dir_all(&out);
}

impl Remote for TestCluster {
    fn command(&self, args: &[&str]) -> Command {
        TestCluster::command(self, true, args)
    }

    fn named(&self) -> String {
        format!("tcp://127.0.0.1:{}` (from DOCKER_HOST)", self.api_port)
    }
}

#[test]
fn the_lab_runs_on_an_engine_in_a_container_reached_over_tcp() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let _engine = one_engine();
    crate::common::images();
    let engine = &ENGINE;
    engine.up(1, &[]);
    cycle(engine);
}

#[test]
fn the_lab_runs_on_an_engine_reached_over_tls_only() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let _engine = one_engine();
    crate::common::images();
    engine_image();
    let tls = TlsEngine::start();
    cycle(&tls);
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
}

#[test]
fn the_lab_runs_on_an_engine_reached_over_ssh() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let _engine = one_engine();
    crate::common::images();
    engine_image();
    let ssh = SshEngine::start();
    cycle(&ssh);
    // A key the engine's host does not know is refused, with what ssh
    // said and what to check.
    let out = ssh
        .command(&["ps"])
        .env(
            "LABCTL_SSH_ARGS",
            ssh.args().replace("id_ed25519", "other_ed25519"),
        )
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(stderr.contains("LABCTL_SSH_ARGS"), "{stderr}");
    // No forward outlives the command that opened it.
    let left = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("labctl-ssh-"))
        .count();
    assert_eq!(left, 0, "forward folders left in the temporary folder");
}

/// The engine image (Debian's engine, with sshd), made by a local cluster
/// of one node, which goes again.
fn engine_image() {
    let engine = &ENGINE;
    engine.up(1, &[]);
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
        let certs = format!("{}:/certs:ro", dir.display());
        let port = format!("127.0.0.1:{TLS_PORT}:2376");
        run_engine(
            TLS_CONTAINER,
            &["-v", &certs, "-p", &port, "--entrypoint", "dockerd"],
            &[
                "--storage-driver=vfs",
                "--host=tcp://0.0.0.0:2376",
                "--tlsverify",
                "--tlscacert=/certs/ca.pem",
                "--tlscert=/certs/server-cert.pem",
                "--tlskey=/certs/server-key.pem",
            ],
        );
        let engine = Self { dir };
        wait_answers(&engine, TLS_CONTAINER);
        engine
    }
}

impl Remote for TlsEngine {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = labctl_alone();
        cmd.env("DOCKER_HOST", format!("tcp://127.0.0.1:{TLS_PORT}"))
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &self.dir)
            .args(args);
        cmd
    }

    fn named(&self) -> String {
        format!("tcp://127.0.0.1:{TLS_PORT}` (from DOCKER_HOST)")
    }
}

/// Debian's engine in a container of the test's, on its socket only, with
/// sshd beside it: root logs in with a key the test made; removed when the
/// test ends.
struct SshEngine {
    dir: PathBuf,
}

const SSH_CONTAINER: &str = "labctl-test-ssh-engine";
const SSH_PORT: u16 = 23793;

impl SshEngine {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("labctl-sshkeys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for key in ["id_ed25519", "other_ed25519"] {
            let out = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key))
                .output()
                .expect("running ssh-keygen");
            assert!(out.status.success(), "{:?}", text(&out));
        }
        std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
        let keys = format!("{}:/keys:ro", dir.display());
        let port = format!("127.0.0.1:{SSH_PORT}:22");
        run_engine(
            SSH_CONTAINER,
            &["-v", &keys, "-p", &port, "--entrypoint", "sh"],
            &[
                "-c",
                "mkdir -p /run/sshd /root/.ssh && install -m 0600 /keys/authorized_keys \
                 /root/.ssh/ && ssh-keygen -A && /usr/sbin/sshd && exec dockerd \
                 --storage-driver=vfs --host=unix:///var/run/docker.sock",
            ],
        );
        let engine = Self { dir };
        wait_answers(&engine, SSH_CONTAINER);
        engine
    }

    /// The options labctl passes to ssh: the test's key, and no question
    /// about a host key never seen before.
    fn args(&self) -> String {
        format!(
            "-i {} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            self.dir.join("id_ed25519").display()
        )
    }
}

impl Remote for SshEngine {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = labctl_alone();
        cmd.env("DOCKER_HOST", format!("ssh://root@127.0.0.1:{SSH_PORT}"))
            .env("LABCTL_SSH_ARGS", self.args())
            .args(args);
        cmd
    }

    fn named(&self) -> String {
        format!("ssh://root@127.0.0.1:{SSH_PORT}` (from DOCKER_HOST)")
    }
}

impl Drop for SshEngine {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", SSH_CONTAINER]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// labctl with none of the environment's LABCTL_ settings.
fn labctl_alone() -> Command {
    let mut cmd = Command::new(crate::bin::BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("LABCTL_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Starts `name`, a container of the engine image with the capabilities a
/// nested engine needs (as `labctl cluster` gives its nodes), with the
/// `docker run` options `options` and the arguments `args`.
fn run_engine(name: &str, options: &[&str], args: &[&str]) {
    let _ = docker(&["rm", "-f", "-v", name]);
    let mut all = vec![
        "run",
        "-d",
        "--name",
        name,
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
    ];
    all.extend_from_slice(options);
    all.push("labctl/engine:latest");
    all.extend_from_slice(args);
    if let Err(e) = docker(&all) {
        panic!("starting the engine container {name}: {e}");
    }
}

/// Waits until labctl reaches `engine` (the container `name`), 60 s at most.
fn wait_answers(engine: &dyn Remote, name: &str) {
    let started = std::time::Instant::now();
    while !engine.command(&["ls"]).output().unwrap().status.success() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the engine in {name} did not answer within 60 s: {}",
            docker(&["logs", "--tail", "20", name]).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
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
