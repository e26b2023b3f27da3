//! labctl's node side: what runs inside the lab's containers (the Serf event
//! handler and membership watcher on `ha`, the web app on web apps).

pub mod haproxy;
pub mod membership;
pub mod reconcile;
pub mod serf_rpc;
pub mod webapp;

use std::io::{BufRead, Write};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

use crate::stage::{OnEvent, Stage};
use crate::templates::Server;
use membership::{backends, Refusal};
use reconcile::{reconcile, Layout, Outcome};

/// The lab's event log on `ha`.
pub const SERF_LOG: &str = "/var/log/serf.log";

/// Serf's live member list from the local agent.
pub fn live_members() -> Result<Vec<membership::Member>> {
    serf_rpc::SerfRpc::connect(serf_rpc::RPC_ADDR)?.members()
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// Appends lines to the lab's event log.
fn log_events(lines: &[String]) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(SERF_LOG);
    if let Ok(mut f) = file {
        for l in lines {
            let _ = writeln!(f, "{l}");
        }
    }
}

fn log_refusals(refused: &[Refusal]) {
    let lines: Vec<String> = refused
        .iter()
        .map(|r| format!("{} Member refused: \"{}\": {}", now(), r.name, r.reason))
        .collect();
    for l in &lines {
        println!("labctl: {l}");
    }
    log_events(&lines);
}

/// Reconciles `/nodes` and HAProxy with `servers`, logging what happened.
/// Stage 5 of the lab writes the configuration but does not reload.
fn apply(layout: &Layout, servers: &[Server], reload: bool) -> Result<Outcome> {
    // Stage 5 writes the configuration and leaves the running HAProxy as it is.
    let out = reconcile(layout, servers, haproxy::check_config, || {
        reload
            .then(haproxy::reload)
            .transpose()
            .map(|r| r.is_some())
    })?;
    if let Outcome::Applied { reloaded } = out {
        let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
        println!(
            "labctl: backends now [{}]; configuration {}",
            names.join(", "),
            if reloaded { "reloaded" } else { "written" }
        );
    }
    Ok(out)
}

/// The Serf event handler: logs each member of the event to the lab's event
/// log; then, as the stage says, renders the event's members alone (stage
/// 4) or reconciles from the whole live membership, not from the event.
pub fn on_event() -> Result<()> {
    let stage = Stage::from_env()?;
    let event = std::env::var("SERF_EVENT").unwrap_or_else(|_| "unknown".into());
    let kind = event.strip_prefix("member-").unwrap_or(&event).to_string();
    let stdin = std::io::stdin();
    let mut lines = Vec::new();
    let mut event_members = Vec::new();
    for line in stdin.lock().lines().take(10_000) {
        let line = line.context("reading the event from Serf")?;
        let mut fields = line.split('\t');
        let name = fields.next().unwrap_or_default();
        let addr = fields.next().unwrap_or_default();
        let role = fields.next().unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        lines.push(format!(
            "{} Member {kind} event received from: {} with role {}",
            now(),
            name.escape_debug().take(80).collect::<String>(),
            role.escape_debug().take(40).collect::<String>()
        ));
        event_members.push(membership::Member {
            name: name.to_string(),
            addr: format!("{addr}:7946"),
            tags: [("role".to_string(), role.to_string())].into(),
            status: "alive".into(),
        });
    }
    log_events(&lines);
    match stage.on_event() {
        OnEvent::Nothing | OnEvent::Log => Ok(()),
        OnEvent::RenderEventOnly => {
            if kind != "join" {
                return Ok(());
            }
            // The lab's task 4: the template sees only the joining member.
            let (servers, refused) = backends(&event_members);
            log_refusals(&refused);
            let text = reconcile::render_config(&Layout::default(), &servers)?;
            reconcile::write_atomic(std::path::Path::new(stage.generated_config()), &text)
        }
        OnEvent::Regenerate | OnEvent::Reload => {
            let (servers, refused) = backends(&live_members()?);
            log_refusals(&refused);
            apply(
                &Layout::default(),
                &servers,
                stage.on_event() == OnEvent::Reload,
            )
            .map(|_| ())
        }
    }
}

/// Watches Serf's live member list and reconciles as soon as it changes.
/// Serf delays member events by a second or more; polling the local agent
/// puts a new backend into rotation in a fraction of that.
pub fn watch(interval: Duration) -> Result<()> {
    let layout = Layout::default();
    let mut applied: Option<Vec<Server>> = None;
    let mut last_refused: Vec<Refusal> = Vec::new();
    let mut last_failure: Option<Instant> = None;
    let mut serf_down_reported = false;
    println!(
        "labctl watch: polling Serf every {} ms",
        interval.as_millis()
    );
    let mut rpc: Option<serf_rpc::SerfRpc> = None;
    loop {
        let members = match rpc.take() {
            Some(r) => Ok(r),
            None => serf_rpc::SerfRpc::connect(serf_rpc::RPC_ADDR),
        }
        .and_then(|mut r| {
            let m = r.members()?;
            rpc = Some(r);
            Ok(m)
        });
        match members {
            Ok(members) => {
                serf_down_reported = false;
                let (servers, refused) = backends(&members);
                if refused != last_refused {
                    log_refusals(&refused);
                    last_refused = refused;
                }
                let retry_due = last_failure.is_some_and(|t| t.elapsed() > Duration::from_secs(5));
                let reload_pending = layout.reload_pending_file().exists();
                if applied.as_ref() != Some(&servers) || retry_due || reload_pending {
                    match apply(&layout, &servers, true) {
                        Ok(_) => {
                            applied = Some(servers);
                            last_failure = None;
                        }
                        Err(e) => {
                            println!("labctl watch: {e:#}");
                            applied = Some(servers);
                            last_failure = Some(Instant::now());
                        }
                    }
                }
            }
            Err(e) if !serf_down_reported => {
                println!("labctl watch: waiting for the Serf agent: {e:#}");
                serf_down_reported = true;
            }
            Err(_) => {}
        }
        std::thread::sleep(interval);
    }
}

/// The lab's static servers (stages 0 to 4), from `STATIC_SERVERS`
/// (`s1=192.168.42.11 s2=192.168.42.22`), injected when `ha` starts as the
/// lab's `run.sh` did.
pub fn static_servers(spec: &str) -> Vec<Server> {
    spec.split_whitespace()
        .filter_map(|pair| {
            let (name, ip) = pair.split_once('=')?;
            let ip: std::net::Ipv4Addr = ip.parse().ok()?;
            membership::valid_node_name(name).then(|| Server {
                name: name.to_string(),
                ip: ip.to_string(),
                port: crate::naming::WEBAPP_PORT,
            })
        })
        .collect()
}

/// Renders HAProxy's configuration, unless `if_missing` and one exists: up
/// to stage 4 with the static servers, then from the registry in `/nodes`
/// (the backends known before a restart).
pub fn render_config(if_missing: bool) -> Result<()> {
    let layout = Layout::default();
    if if_missing && layout.config.exists() {
        return Ok(());
    }
    let servers = if Stage::from_env()?.static_servers() {
        static_servers(&std::env::var("STATIC_SERVERS").unwrap_or_default())
    } else {
        reconcile::read_registry(&layout.nodes_dir)
    };
    let text = reconcile::render_config(&layout, &servers)?;
    if let Some(dir) = layout.config.parent() {
        std::fs::create_dir_all(dir)?;
    }
    reconcile::write_atomic(&layout.config, &text)?;
    haproxy::check_config(&layout.config)
}

/// Where the services the image carries live, and where the ones of the
/// current stage are set up for s6.
const SERVICES: &str = "/etc/s6/services";
const SCAN_DIR: &str = "/run/s6";

/// The containers' entrypoint: sets up the services of the stage in
/// `LABCTL_STAGE` and hands over to s6-svscan as PID 1; at stage 0 (no
/// supervisor) hands over to the main program alone.
pub fn init() -> Result<()> {
    use std::os::unix::process::CommandExt;
    let stage = Stage::from_env()?;
    let balancer = std::env::var("ROLE").is_ok_and(|r| r == "balancer");
    let services = if balancer {
        stage.ha_services()
    } else {
        stage.webapp_services()
    };
    let err = if stage.supervised() {
        let scan = std::path::Path::new(SCAN_DIR);
        // A fresh scan directory each start: no stale supervise state.
        let _ = std::fs::remove_dir_all(scan);
        for svc in services {
            let dir = scan.join(svc);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating `{}`", dir.display()))?;
            std::fs::copy(format!("{SERVICES}/{svc}/run"), dir.join("run"))
                .with_context(|| format!("setting up service `{svc}`"))?;
        }
        std::process::Command::new("s6-svscan").arg(SCAN_DIR).exec()
    } else {
        std::process::Command::new(format!("{SERVICES}/{}/run", services[0])).exec()
    };
    Err(err).context("starting the node's programs")
}

/// Prints HAProxy's view of the backends as JSON (for `labctl` on the host).
pub fn print_backends() -> Result<()> {
    let servers = crate::stats::servers(&haproxy::show_stat()?, "nodes");
    let layout = Layout::default();
    let last_error = std::fs::read_to_string(layout.error_file()).ok();
    let reload_pending = std::fs::read_to_string(layout.reload_pending_file()).ok();
    let doc = serde_json::json!({
        "servers": servers,
        "last_error": last_error,
        "reload_pending": reload_pending,
    });
    println!("{doc}");
    Ok(())
}

/// Prints HAProxy's raw statistics CSV.
pub fn print_stat() -> Result<()> {
    print!("{}", haproxy::show_stat()?);
    Ok(())
}

/// Who the web app says it is, from the container's environment.
pub fn webapp_identity() -> webapp::Identity {
    let host = std::env::var("NODE_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into());
    webapp::Identity {
        ip: std::env::var("NODE_IP").unwrap_or_default(),
        host,
        tag: std::env::var("TAG").unwrap_or_else(|_| "labctl".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_servers_come_from_the_environment() {
        let servers = static_servers("s1=192.168.42.11 s2=192.168.42.22 bad s3=nope ../x=1.2.3.4");
        let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s1", "s2"]);
        assert_eq!(servers[1].ip, "192.168.42.22");
        assert!(static_servers("").is_empty());
    }
}
