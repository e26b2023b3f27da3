//! Fixtures for the integration tests: the real labctl binary, the real
//! Docker Engine, a lab per test with a unique name, removed even when the
//! test fails.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub mod swarm;

pub use crate::bin::{labctl, text, BIN};

/// Runs labctl and fails the test unless it succeeds; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = labctl(args);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "labctl {args:?} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    stdout
}

/// Builds the images once per test process. Docker must be there: the
/// tests fail, never skip, without it.
pub fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        ok(&["build", "--quiet"]);
    });
}

/// A lab that exists for one test.
pub struct TestLab {
    pub name: String,
}

impl TestLab {
    /// A new, unique lab name; nothing is started yet.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        images();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}{}-{tag}", std::process::id() % 100_000, n);
        assert!(name.len() <= 24, "lab name too long: {name}");
        Self { name }
    }

    /// labctl with `--lab` and `--quiet`; must succeed.
    pub fn ok(&self, args: &[&str]) -> String {
        let mut all = vec!["--lab", &self.name, "--quiet"];
        all.extend_from_slice(args);
        ok(&all)
    }

    /// labctl with `--lab`; may fail.
    pub fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--lab", &self.name, "--quiet"];
        all.extend_from_slice(args);
        labctl(&all)
    }

    pub fn container(&self, node: &str) -> String {
        format!("{}-{node}", self.name)
    }

    pub fn network(&self) -> String {
        format!("{}-heig", self.name)
    }

    /// `labctl ps --format json`.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["ps", "--format", "json"])).expect("ps json")
    }

    /// One node's row of `labctl status --format json`.
    pub fn node_status(&self, node: &str) -> serde_json::Value {
        let status = self.status();
        status["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == node)
            .cloned()
            .unwrap_or_else(|| panic!("no `{node}` in {status}"))
    }

    /// `labctl status --format json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--format", "json"])).expect("status json")
    }

    /// The host port `ha`'s container port is published on.
    pub fn host_port(&self, container_port: u16) -> u16 {
        let suffix = format!("->{container_port}/tcp");
        self.ps()
            .iter()
            .filter(|r| r["node"] == "ha")
            .flat_map(|r| r["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p.as_str().map(String::from))
            .find_map(|p| {
                let host = p.strip_suffix(&suffix)?;
                host.rsplit(':').next()?.parse().ok()
            })
            .unwrap_or_else(|| panic!("ha publishes no port {container_port}"))
    }

    /// Runs a command in a node; returns stdout.
    pub fn exec(&self, node: &str, cmd: &[&str]) -> String {
        let mut args = vec!["exec", node, "--"];
        args.extend_from_slice(cmd);
        self.ok(&args)
    }

    /// An environment variable of a node's container.
    pub fn env_of(&self, node: &str, key: &str) -> Option<String> {
        let rt = tokio::runtime::Runtime::new().unwrap();
        use labctl::runtime::Runtime as _;
        let engine = rt
            .block_on(labctl::runtime::docker::DockerEngine::connect())
            .unwrap();
        let raw = rt
            .block_on(engine.inspect_container(&self.container(node)))
            .unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        doc["Config"]["Env"].as_array()?.iter().find_map(|e| {
            e.as_str()?
                .strip_prefix(&format!("{key}="))
                .map(String::from)
        })
    }

    /// `ha`'s Serf event log; empty while the handler has not run yet (Serf
    /// holds member events back before it runs the handler).
    pub fn serf_log(&self) -> String {
        self.exec(
            "ha",
            &["sh", "-c", "cat /var/log/serf.log 2>/dev/null || true"],
        )
    }

    /// The names in `/nodes` on `ha`.
    pub fn registry(&self) -> Vec<String> {
        self.exec("ha", &["ls", "/nodes"])
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    /// The `server` lines of the running configuration on `ha`.
    pub fn config_servers(&self) -> Vec<String> {
        self.exec("ha", &["cat", "/usr/local/etc/haproxy/haproxy.cfg"])
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("server "))
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect()
    }

    /// Node → HAProxy state from `labctl status`.
    pub fn haproxy_states(&self) -> Vec<(String, String)> {
        self.status()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["haproxy"] != "-")
            .map(|n| {
                (
                    n["node"].as_str().unwrap().to_string(),
                    n["haproxy"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Edits the HAProxy template inside `ha`: every answer gets a header
    /// `X-Lab-Edited: yes` (a change beyond the servers, so a reload).
    pub fn edit_template_adding_a_header(&self) {
        self.exec(
            "ha",
            &[
                "sed",
                "-i",
                "s|^    option forwardfor$|    option forwardfor\\n    http-response set-header X-Lab-Edited yes|",
                "/config/haproxy.cfg.tera",
            ],
        );
    }

    /// Whether an answer through `ha` carries the edited template's header.
    pub fn answers_with_the_edited_header(&self) -> bool {
        get_response(self.host_port(80), &[])
            .is_ok_and(|answer| answer.header("x-lab-edited") == Some("yes"))
    }

    /// Asserts that HAProxy serves exactly `nodes`, all UP, within 15 s.
    /// A health check can time out once on a loaded machine (a server is
    /// then `UP 1/2` for a moment): what must hold is that they are UP.
    pub fn assert_all_up(&self, nodes: &[&str]) {
        self.eventually(
            &format!("HAProxy serves exactly {nodes:?}, all UP"),
            Duration::from_secs(15),
            || all_up(self, nodes),
        );
    }

    /// Polls `check` every 200 ms until it holds or `timeout` passes.
    pub fn eventually(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{what}: not true after {} s\nstatus:\n{}",
            timeout.as_secs(),
            text(&self.run(&["status"])).0
        );
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let out = labctl(&["--lab", &self.name, "--quiet", "down"]);
        if !out.status.success() {
            eprintln!("cleanup of lab {} failed: {:?}", self.name, text(&out));
        }
    }
}

/// One GET through the lab's published port on a new connection, closed
/// after it, by labctl's own HTTP client.
pub fn get_response(port: u16, headers: &[(&str, &str)]) -> anyhow::Result<labctl::http::Response> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(labctl::http::get(port, headers, Duration::from_secs(10)))
}

/// One GET: status and body.
pub fn get(port: u16) -> anyhow::Result<(u16, String)> {
    get_with(port, &[])
}

/// One GET with extra headers: status and body.
pub fn get_with(port: u16, headers: &[(&str, &str)]) -> anyhow::Result<(u16, String)> {
    get_response(port, headers).map(|r| (r.status, r.body))
}

/// What a load run saw.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub sent: u64,
    pub ok: u64,
    pub failures: Vec<String>,
}

impl LoadReport {
    /// Fails the test unless enough requests were sent to tell and none of
    /// them failed.
    pub fn assert_none_lost(&self) {
        assert!(self.sent > 50, "too few requests to tell: {self:?}");
        assert!(
            self.failures.is_empty(),
            "{} of {} failed: {:?}",
            self.failures.len(),
            self.sent,
            &self.failures[..self.failures.len().min(5)]
        );
    }
}

/// Sends requests through `ha` from a thread until stopped, at most
/// `max_requests` and `max_time`.
pub struct Load {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<LoadReport>,
}

impl Load {
    pub fn start(port: u16, max_requests: u64, max_time: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let report = Mutex::new(LoadReport::default());
            let start = Instant::now();
            let mut r = report.lock().unwrap();
            while !flag.load(Ordering::Relaxed)
                && r.sent < max_requests
                && start.elapsed() < max_time
            {
                r.sent += 1;
                match get(port) {
                    Ok((200, _)) => r.ok += 1,
                    Ok((code, body)) => r.failures.push(format!("HTTP {code}: {body}")),
                    Err(e) => r.failures.push(format!("connection: {e}")),
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            r.clone()
        });
        Self { stop, handle }
    }

    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("load thread")
    }
}

/// Owned names from string slices.
pub fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_string()).collect()
}

/// Whether HAProxy serves exactly `nodes`, all UP, per `labctl status`.
pub fn all_up(lab: &TestLab, nodes: &[&str]) -> bool {
    let states = lab.haproxy_states();
    states.len() == nodes.len()
        && nodes
            .iter()
            .all(|n| states.iter().any(|(name, s)| name == n && s == "UP"))
}

/// labctl running in the background, its stdout read line by line as it
/// comes; killed when dropped.
pub struct Streaming {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Streaming {
    /// Starts labctl with `args`.
    pub fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Lines until `done` holds for the ones seen so far, or `timeout`
    /// passes; every line seen either way.
    pub fn until(&self, timeout: Duration, mut done: impl FnMut(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while !done(&seen) {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => seen.push(line),
                Err(_) => break,
            }
        }
        seen
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which module's tests run now, and how many of them.
static RUNNING: Mutex<(Option<&'static str>, usize)> = Mutex::new((None, 0));
static TURN: std::sync::Condvar = std::sync::Condvar::new();

/// The engine tier is one test binary: its tests of one module (one file)
/// run beside each other, never beside another module's, as when each file
/// was a binary of its own (two labs of different files would share the
/// machine's two cores and the default lab's ports).
pub struct ModuleTurn(&'static str);

/// Waits until no other module's tests run, then runs among this module's.
pub fn one_module_at_a_time(module: &'static str) -> ModuleTurn {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    while running.0.is_some_and(|m| m != module) {
        running = TURN.wait(running).unwrap_or_else(|e| e.into_inner());
    }
    running.0 = Some(module);
    running.1 += 1;
    ModuleTurn(module)
}

impl Drop for ModuleTurn {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        debug_assert_eq!(running.0, Some(self.0));
        running.1 -= 1;
        if running.1 == 0 {
            running.0 = None;
            TURN.notify_all();
        }
    }
}
