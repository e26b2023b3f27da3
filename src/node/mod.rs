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
fn apply(layout: &Layout, servers: &[Server]) -> Result<Outcome> {
    let out = reconcile(layout, servers, haproxy::check_config, haproxy::reload)?;
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
/// log, then reconciles from the whole live membership, not from the event.
pub fn on_event() -> Result<()> {
    let event = std::env::var("SERF_EVENT").unwrap_or_else(|_| "unknown".into());
    let kind = event.strip_prefix("member-").unwrap_or(&event).to_string();
    let stdin = std::io::stdin();
    let mut lines = Vec::new();
    for line in stdin.lock().lines().take(10_000) {
        let line = line.context("reading the event from Serf")?;
        let mut fields = line.split('\t');
        let name = fields.next().unwrap_or_default();
        let _addr = fields.next();
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
    }
    log_events(&lines);
    let (servers, refused) = backends(&live_members()?);
    log_refusals(&refused);
    apply(&Layout::default(), &servers).map(|_| ())
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
                if applied.as_ref() != Some(&servers) || retry_due {
                    match apply(&layout, &servers) {
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

/// Renders HAProxy's configuration from the registry in `/nodes` (the
/// backends known before a restart), unless `if_missing` and one exists.
pub fn render_config(if_missing: bool) -> Result<()> {
    let layout = Layout::default();
    if if_missing && layout.config.exists() {
        return Ok(());
    }
    let servers = reconcile::read_registry(&layout.nodes_dir);
    let template = std::fs::read_to_string(&layout.template)
        .with_context(|| format!("reading `{}`", layout.template.display()))?;
    let text = crate::templates::render_haproxy(
        &crate::templates::normalize_line_endings(&template),
        &reconcile::context_for(&servers),
    )?;
    if let Some(dir) = layout.config.parent() {
        std::fs::create_dir_all(dir)?;
    }
    reconcile::write_atomic(&layout.config, &text)?;
    haproxy::check_config(&layout.config)
}

/// Prints HAProxy's view of the backends as JSON (for `labctl` on the host).
pub fn print_backends() -> Result<()> {
    let servers = crate::stats::servers(&haproxy::show_stat()?, "nodes");
    let last_error = std::fs::read_to_string(Layout::default().error_file()).ok();
    let doc = serde_json::json!({ "servers": servers, "last_error": last_error });
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
