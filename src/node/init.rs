//! A node container's start: the entrypoint that sets up the services of
//! the lab stage and hands over to s6, and HAProxy's first configuration.

use anyhow::{Context, Result};

use super::{haproxy, membership, reconcile};
use crate::stage::Stage;
use crate::templates::Server;
use reconcile::Layout;

/// The lab's static servers (stages 0 to 4), from `STATIC_SERVERS`
/// (`s1=192.168.42.11 s2=192.168.42.22`), injected when `ha` starts as the
/// lab's `run.sh` did.
pub(crate) fn static_servers(spec: &str) -> Vec<Server> {
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
pub(crate) fn render_config(if_missing: bool) -> Result<()> {
    let layout = Layout::default();
    if if_missing && layout.config.exists() {
        return Ok(());
    }
    let servers = if Stage::from_env()?.static_servers() {
        static_servers(&std::env::var(crate::contract::STATIC_SERVERS).unwrap_or_default())
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
pub(super) const SCAN_DIR: &str = "/run/s6";

/// The containers' entrypoint: sets up the services of the stage in
/// `LABCTL_STAGE` and hands over to s6-svscan as PID 1; at stage 0 (no
/// supervisor) hands over to the main program alone.
pub(crate) fn init() -> Result<()> {
    use std::os::unix::process::CommandExt;
    let stage = Stage::from_env()?;
    let balancer =
        std::env::var(crate::contract::ROLE).is_ok_and(|r| r == crate::contract::BALANCER);
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
        control_scripts(scan, !balancer && stage.applies_changes())?;
        std::process::Command::new("s6-svscan").arg(SCAN_DIR).exec()
    } else {
        std::process::Command::new(format!("{SERVICES}/{}/run", services[0])).exec()
    };
    Err(err).context("starting the node's programs")
}

/// The supervisor's own scripts. `finish`, run once it has told the
/// services to stop (SIGTERM to the container): it waits (up to 15 s) for
/// the Serf agent to be down, so that its leave is sent before the container
/// ends (the container ends with its first process). At stage 6 a web app's
/// `SIGTERM` runs `labctl node retire` instead of stopping at once: `ha`
/// takes it out of rotation first (`docker stop`, a Swarm's scale-down).
fn control_scripts(scan: &std::path::Path, retire: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let control = scan.join(".s6-svscan");
    std::fs::create_dir_all(&control)
        .with_context(|| format!("creating `{}`", control.display()))?;
    let finish = format!(
        "#!/bin/sh\n[ -d {SCAN_DIR}/serf ] && s6-svwait -D -t 15000 {SCAN_DIR}/serf\nexit 0\n"
    );
    let mut scripts = vec![("finish", finish)];
    if retire {
        scripts.push((
            "SIGTERM",
            "#!/bin/sh\nexec labctl node retire\n".to_string(),
        ));
    }
    for (name, text) in scripts {
        let script = control.join(name);
        std::fs::write(&script, text).with_context(|| format!("writing `{}`", script.display()))?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making `{}` executable", script.display()))?;
    }
    Ok(())
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
