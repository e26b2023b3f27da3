//! The lab on Podman from Debian, through its Docker-compatible API: rootful
//! (a service of root's) and rootless (a service of an unprivileged user
//! with subordinate IDs), each started by the test on a socket of its own
//! and stopped after it. The same cycle as on Docker: up, scale 2 → 4 → 2
//! with no request lost by a client loading the lab meanwhile, status,
//! exec, `collect task6` with its screenshot, doctor, down; and Podman's
//! differences: the images it names `docker.io/…` or `localhost/…`, its
//! words for a taken subnet, and its default ulimits above what this
//! machine lets its service have, which labctl names with the fix.
//!
//! Podman must be installed (`apt-get install podman uidmap slirp4netns`);
//! the rootless test needs the user `.ci/run` makes (see ROOTLESS_USER).
//! They fail, never skip, when it is not.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use crate::common::{text, Load, BIN};

/// The unprivileged user the rootless service runs as, with subordinate
/// IDs in /etc/subuid and /etc/subgid (made by `.ci/run`).
const ROOTLESS_USER: &str = "labctl-rootless";

/// The two services run one after the other: each holds a whole lab.
static ONE_SERVICE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A `podman system service` of the test's.
struct Service {
    child: Child,
    /// The folder of its socket and configuration.
    dir: PathBuf,
    socket: PathBuf,
    /// The user it runs as (root when `None`).
    user: Option<(String, u32)>,
}

impl Service {
    /// Root's service, with `containers.conf` `conf`.
    fn rootful(tag: &str, conf: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("labctl-podman-{tag}-{}", std::process::id()));
        Self::start(dir, None, conf)
    }

    /// The service of ROOTLESS_USER.
    fn rootless() -> Self {
        let uid = user_id(ROOTLESS_USER).unwrap_or_else(|| {
            panic!(
                "no user `{ROOTLESS_USER}` for rootless Podman: make it as .ci/run does \
                 (`useradd -m {ROOTLESS_USER}`, a range for it in /etc/subuid and /etc/subgid, \
                 /run/user/UID owned by it)"
            )
        });
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&format!("{ROOTLESS_USER}:"))),
                "`{file}` gives `{ROOTLESS_USER}` no subordinate IDs; rootless Podman needs them"
            );
        }
        let dir = PathBuf::from(format!("/run/user/{uid}/labctl-test-podman"));
        Self::start(dir, Some((ROOTLESS_USER.to_string(), uid)), ROOTLESS_CONF)
    }

    fn start(dir: PathBuf, user: Option<(String, u32)>, conf: &str) -> Self {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let conf_file = dir.join("containers.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let socket = dir.join("podman.sock");
        let mut cmd = match &user {
            None => Command::new("podman"),
            Some((name, uid)) => {
                chown(&dir, name);
                chown(&conf_file, name);
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", name, "--", "env"])
                    .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
                    .arg(format!("HOME=/home/{name}"))
                    .arg("podman");
                cmd
            }
        };
        cmd.args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .env("CONTAINERS_CONF", &conf_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.with_extension("log")).unwrap());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect(
            "starting `podman system service`: install Podman (`apt-get install podman uidmap \
             slirp4netns`)",
        );
        let service = Self {
            child,
            dir,
            socket,
            user,
        };
        let started = Instant::now();
        while !service.labctl(&["ls"]).status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the Podman service did not answer on {} within 60 s: {}",
                service.socket.display(),
                std::fs::read_to_string(service.dir.with_extension("log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        service
    }

    /// labctl against this service.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("LABCTL_") || k.starts_with("DOCKER_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .args(args);
        cmd
    }

    fn labctl(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running labctl")
    }

    /// labctl that must succeed: its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.labctl(args);
        let (stdout, stderr) = text(&out);
        assert!(
            out.status.success(),
            "labctl {args:?} on Podman failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stdout
    }

    /// The podman CLI as the service's user: its stdout.
    fn podman(&self, args: &[&str]) -> String {
        let out = match &self.user {
            None => Command::new("podman").args(args).output(),
            Some((name, uid)) => Command::new("runuser")
                .args(["-u", name, "--", "env"])
                .arg(format!("XDG_RUNTIME_DIR=/run/user/{uid}"))
                .arg(format!("HOME=/home/{name}"))
                .arg("podman")
                .args(args)
                .output(),
        }
        .expect("running podman");
        text(&out).0
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // The whole group: runuser and the podman it started.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .output();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(self.dir.with_extension("log"));
    }
}

/// Containers inherit the service's limits (the rootful test shows what
/// Podman's own defaults do here).
const ROOTFUL_CONF: &str = "[containers]\ndefault_ulimits = []\n";
const ROOTLESS_CONF: &str = ROOTFUL_CONF;

fn user_id(name: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", name]).output().ok()?;
    text(&out).0.trim().parse().ok()
}

fn chown(path: &Path, user: &str) {
    let out = Command::new("chown")
        .args([user, &path.display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
}

/// The host port `ha` publishes `port` on, from `labctl ps`.
fn host_port(service: &Service, lab: &str, port: u16) -> u16 {
    let ps: Vec<serde_json::Value> =
        serde_json::from_str(&service.ok(&["--lab", lab, "ps", "-o", "json"])).unwrap();
    let suffix = format!("->{port}/tcp");
    ps.iter()
        .filter(|r| r["node"] == "ha")
        .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p.as_str().map(String::from))
        .find_map(|p| p.strip_suffix(&suffix)?.rsplit(':').next()?.parse().ok())
        .unwrap_or_else(|| panic!("ha publishes no port {port}: {ps:?}"))
}

/// The lab's cycle on `service`, as on Docker.
fn cycle(service: &Service, lab: &str) {
    let with_lab = |args: &[&str]| {
        let mut all = vec!["--lab", lab];
        all.extend_from_slice(args);
        service.ok(&all)
    };
    // Any free host ports: rootless Podman may not bind those below 1024.
    let up = with_lab(&["up", "--http-port", "0", "--stats-port", "0"]);
    assert!(up.contains("is up: ha + 2 web app(s)"), "{up}");
    let port = host_port(service, lab, 80);
    let load = Load::start(port, 20_000, Duration::from_secs(240));
    with_lab(&["scale", "webapp=4"]);
    let status: serde_json::Value =
        serde_json::from_str(&with_lab(&["status", "-o", "json"])).unwrap();
    let up_nodes = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["haproxy"] == "UP")
        .count();
    assert_eq!(up_nodes, 4, "{status}");
    with_lab(&["scale", "webapp=2"]);
    let report = load.finish();
    report.assert_none_lost();
    let nodes = with_lab(&["exec", "ha", "ls", "/nodes"]);
    assert_eq!(nodes.split_whitespace().count(), 2, "{nodes}");

    let out = service.dir.join("out");
    let root = out.display().to_string();
    let collected = service.labctl(&["--lab", lab, "collect", "task6", "--out-root", &root]);
    let (stdout, stderr) = text(&collected);
    assert!(
        collected.status.success(),
        "collect task6 on Podman failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let shot = out.join("task6/05-four-webapps/stats.png");
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
        "no screenshot at {}",
        shot.display()
    );

    let doctor = service.labctl(&["--lab", lab, "doctor"]);
    let (report, _) = text(&doctor);
    assert!(report.contains("Podman"), "{report}");
    assert!(!report.contains("FAIL"), "{report}");
    assert!(doctor.status.success(), "{report}");

    let down = with_lab(&["down"]);
    assert!(down.contains(&format!("removed {lab}-ha")), "{down}");
    let left = service.podman(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=io.labctl.lab={lab}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(left.trim(), "", "containers left on Podman");
    // Each command's claim on the engine went with it.
    let claims = service.podman(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={}", labctl::lock::lab_claim_name(lab)),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(claims.trim(), "", "claims left on Podman");
}

#[test]
fn the_lab_runs_on_rootful_podman() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let _one = ONE_SERVICE.lock().unwrap_or_else(|e| e.into_inner());
    let service = Service::rootful("rootful", ROOTFUL_CONF);
    // The images labctl made or built, whatever names Podman gives them.
    service.ok(&["build", "--quiet"]);
    let images = service.podman(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        images.contains("labctl/debian:bookworm-minbase"),
        "{images}"
    );
    cycle(&service, "pmful");

    // A subnet Podman already gives another network is refused, named.
    let taken = service.labctl(&["--lab", "pmsub", "up", "--subnet", "10.88.0.0/24"]);
    let (_, stderr) = text(&taken);
    assert!(!taken.status.success(), "{stderr}");
    assert!(stderr.contains("10.88.0.0/24"), "{stderr}");
    assert!(stderr.contains("--subnet"), "{stderr}");
    drop(service);

    // Podman's own default ulimits (open files above this machine's hard
    // limit here) are named with their fix, and nothing is left.
    let service = Service::rootful("ulimits", "[containers]\n");
    let up = service.labctl(&[
        "--lab",
        "pmlim",
        "up",
        "--http-port",
        "0",
        "--stats-port",
        "0",
    ]);
    let (stdout, stderr) = text(&up);
    if up.status.success() {
        // A machine whose limits Podman's defaults fit: nothing to name.
        assert!(stdout.contains("is up"), "{stdout}");
        service.ok(&["--lab", "pmlim", "down"]);
        return;
    }
    assert!(stderr.contains("default_ulimits = []"), "{stderr}");
    assert!(stderr.contains("containers.conf"), "{stderr}");
    let left = service.podman(&["ps", "-a", "--filter", "label=io.labctl.lab=pmlim", "-q"]);
    assert_eq!(left.trim(), "", "containers left after the refusal");
    // The lab's claim, refused first (Podman makes its process at attach),
    // is not left either.
    let claim = labctl::lock::lab_claim_name("pmlim");
    let left = service.podman(&["ps", "-a", "--filter", &format!("name={claim}"), "-q"]);
    assert_eq!(left.trim(), "", "the claim left after the refusal");
    let networks = service.podman(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains("pmlim"), "{networks}");
}

#[test]
fn the_lab_runs_on_rootless_podman() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let _one = ONE_SERVICE.lock().unwrap_or_else(|e| e.into_inner());
    let service = Service::rootless();
    service.ok(&["build", "--quiet"]);
    cycle(&service, "pmless");
}
