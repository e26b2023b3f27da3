//! labctl's node side: what runs inside the lab's containers (the Serf event
//! handler and membership watcher on `ha`, the web app on web apps).

pub(crate) mod get;
pub(crate) mod haproxy;
mod init;
pub(crate) mod leaving;
pub(crate) mod membership;
mod on_event;
pub(crate) mod reconcile;
pub(crate) mod serf_rpc;
pub(crate) mod servers;
pub(crate) mod swarm;
mod watch;
pub(crate) mod webapp;

pub(crate) use init::{init, render_config};
pub(crate) use on_event::on_event;
pub(crate) use watch::watch;

use std::io::Write;

use anyhow::{Context, Result};

use crate::stage::Stage;
use crate::templates::Server;
use membership::Refusal;
use reconcile::{reconcile, Layout, Mode, Outcome};

/// The lab's event log on `ha`.
pub(crate) const SERF_LOG: &str = "/var/log/serf.log";

/// Serf's live member list from the local agent.
pub(crate) fn live_members() -> Result<Vec<membership::Member>> {
    serf_rpc::SerfRpc::connect(serf_rpc::RPC_ADDR)?.members()
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
        .map(|r| format!("Member refused: \"{}\": {}", r.name, r.reason))
        .collect();
    for l in &lines {
        println!("labctl: {l}");
    }
    log_events(&lines);
}

/// Reconciles `/nodes`, the configuration and (in `mode` Apply) the running
/// HAProxy with `servers`, and says in `ha`'s log what changed (what it
/// waits for is the caller's to say: the watcher says it once).
fn reconcile_and_log(layout: &Layout, servers: &[Server], mode: Mode) -> Result<Outcome> {
    let out = reconcile(layout, servers, mode, &haproxy::Local)?;
    log_outcome(&out, servers);
    Ok(out)
}

/// Finishes what the last reconciliation left waiting, from the file in
/// place, and says in `ha`'s log what changed.
fn settle_and_log(layout: &Layout) -> Result<Outcome> {
    let out = reconcile::settle(layout, &haproxy::Local)?;
    if !matches!(&out, Outcome::Live { done, .. } if done.is_empty()) {
        log_outcome(&out, &reconcile::read_registry(&layout.nodes_dir));
    }
    Ok(out)
}

fn log_outcome(out: &Outcome, servers: &[Server]) {
    let names = || {
        servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match out {
        Outcome::Unchanged => {}
        Outcome::Written => println!(
            "labctl: backends now [{}]; configuration written (not applied at this stage)",
            names()
        ),
        Outcome::Reloaded => println!(
            "labctl: backends now [{}]; HAProxy reloaded (its configuration changed in more than its servers)",
            names()
        ),
        Outcome::ReloadPending => {
            println!("labctl: HAProxy could not be reloaded yet; the reload will be retried");
        }
        Outcome::Live { done, .. } => {
            for command in done {
                println!("labctl: runtime API: {command}");
            }
            if !done.is_empty() {
                println!("labctl: backends now [{}]", names());
            }
        }
    }
}

/// Prints HAProxy's view of the backends as JSON (for `labctl` on the
/// host): the servers HAProxy runs, those its configuration file names, how
/// the two differ, and what `ha` still waits for or failed to do.
pub(crate) fn print_backends() -> Result<()> {
    let servers = crate::stats::servers(&haproxy::show_stat()?, servers::BACKEND);
    let layout = Layout::default();
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).ok();
    let config = read(layout.config.clone()).unwrap_or_default();
    let config_servers = servers::split(&config).servers;
    let differences = if Stage::from_env()?.on_event() == crate::stage::OnEvent::Apply {
        servers::differences(&config_servers, &servers)
    } else {
        // Before stage 6 the file is not meant to be applied.
        Vec::new()
    };
    let doc = crate::contract::Backends {
        servers,
        config_servers: config_servers
            .iter()
            .map(|s| crate::contract::ConfigServer {
                name: s.name.clone(),
                addr: s.addr.clone(),
            })
            .collect(),
        differences,
        waiting: read(layout.waiting_file()),
        last_error: read(layout.error_file()),
        reload_pending: read(layout.reload_pending_file()),
        processes: haproxy::processes().ok(),
    };
    let doc = serde_json::to_string(&doc).context("writing the backends as JSON")?;
    println!("{doc}");
    Ok(())
}

/// Prints HAProxy's raw statistics CSV.
pub(crate) fn print_stat() -> Result<()> {
    print!("{}", haproxy::show_stat()?);
    Ok(())
}

/// Who the web app says it is, from the container's environment.
pub(crate) fn webapp_identity() -> webapp::Identity {
    let host = std::env::var(crate::contract::NODE_NAME)
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown".into());
    webapp::Identity {
        ip: std::env::var(crate::contract::NODE_IP)
            .ok()
            .or_else(swarm::own_address)
            .unwrap_or_default(),
        host,
        tag: std::env::var(crate::contract::TAG).unwrap_or_else(|_| "labctl".into()),
    }
}
