//! How the fake's nodes answer the commands labctl runs in them, as the
//! nodes of a healthy lab would.

use std::net::Ipv4Addr;

use anyhow::{bail, Result};

use super::{missing, Container, State};
use crate::contract;
use crate::labels;
use crate::naming::WEBAPP_PORT;
use crate::runtime::{ContainerInfo, ExecOutput};

impl State {
    pub(super) fn running(&self, name: &str) -> Result<&Container> {
        let c = self
            .containers
            .get(name)
            .ok_or_else(|| missing("container", name))?;
        if !c.info.state.is_running() {
            bail!("container {name} is not running");
        }
        Ok(c)
    }

    /// The running containers of the lab `of` belongs to, with a role.
    fn lab_peers(&self, of: &ContainerInfo, role: &str) -> Vec<&Container> {
        self.containers
            .values()
            .filter(|c| {
                c.info.state.is_running()
                    && c.info.label(labels::LAB) == of.label(labels::LAB)
                    && c.info.label(labels::ROLE) == Some(role)
            })
            .collect()
    }

    /// The web apps `ha`'s Serf agent counts as alive.
    fn alive_webapps(&self, ha: &ContainerInfo) -> Vec<(String, Ipv4Addr)> {
        let mut list: Vec<(String, Ipv4Addr)> = self
            .lab_peers(ha, contract::BACKEND)
            .into_iter()
            .filter(|c| c.serf_up)
            .filter_map(|c| {
                let node = c.info.label(labels::NODE)?.to_string();
                let ip = c.info.addresses.values().next().copied()?;
                Some((node, ip))
            })
            .collect();
        list.sort_by_key(|(n, _)| crate::node::membership::natural_key(n));
        list
    }

    pub(super) fn answer(&mut self, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let info = self.running(container)?.info.clone();
        let ok = |stdout: String| ExecOutput {
            code: 0,
            stdout,
            stderr: String::new(),
        };
        match cmd {
            ["labctl", "node", "backends"] => {
                let servers: Vec<serde_json::Value> = self
                    .alive_webapps(&info)
                    .into_iter()
                    .map(|(node, ip)| {
                        let down = self.never_up.contains(&node);
                        serde_json::json!({
                            "name": node,
                            "status": if down { "DOWN" } else { "UP" },
                            "addr": format!("{ip}:{WEBAPP_PORT}"),
                            "total": 0,
                            "check": if down { "L4CON" } else { "L7OK" },
                            "last_change_s": 1,
                        })
                    })
                    .collect();
                Ok(ok(
                    serde_json::json!({ "servers": servers, "last_error": null }).to_string(),
                ))
            }
            ["serf", "members", "-format", "json"] => {
                let mut members = Vec::new();
                for role in [contract::BALANCER, contract::BACKEND] {
                    for c in self.lab_peers(&info, role) {
                        let ip = c.info.addresses.values().next().copied();
                        members.push(serde_json::json!({
                            "name": c.info.label(labels::NODE),
                            "addr": format!("{}:7946", ip.map(|i| i.to_string()).unwrap_or_default()),
                            "tags": { "role": role },
                            "status": if c.serf_up { "alive" } else { "left" },
                        }));
                    }
                }
                Ok(ok(serde_json::json!({ "members": members }).to_string()))
            }
            ["ls", "/nodes"] => {
                let nodes: Vec<String> = self
                    .alive_webapps(&info)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect();
                Ok(ok(nodes.join("\n")))
            }
            ["s6-svc", .., "-d", "/run/s6/serf"] => {
                if let Some(c) = self.containers.get_mut(container) {
                    c.serf_up = false;
                }
                self.changes.push(format!("leave {container}"));
                Ok(ok(String::new()))
            }
            ["sh", "-c", script] if script.starts_with("serf join") => Ok(ok(String::new())),
            ["labctl", "node", "stat"] => {
                Ok(ok("# pxname,svname,status\nnodes,BACKEND,UP\n".to_string()))
            }
            ["labctl", "node", "get", "--port", port, "--count", count, ..] => {
                // HAProxy on `ha`: its frontend turns round the web apps UP,
                // its stats page is a page.
                let count: usize = count.parse().unwrap_or(1);
                let up: Vec<String> = self
                    .alive_webapps(&info)
                    .into_iter()
                    .map(|(n, _)| n)
                    .filter(|n| !self.never_up.contains(n))
                    .collect();
                let answers: Vec<serde_json::Value> = (0..count)
                    .map(|i| match (*port, up.get(i % up.len().max(1))) {
                        ("1936", _) => serde_json::json!({
                            "status": 200,
                            "body": "<html><body>Statistics Report</body></html>",
                        }),
                        ("80", Some(node)) => serde_json::json!({
                            "status": 200,
                            "body": serde_json::json!({ "host": node }).to_string(),
                        }),
                        ("80", None) => serde_json::json!({
                            "status": 503,
                            "body": "No server is available to handle this request.",
                        }),
                        _ => serde_json::json!({
                            "status": 0,
                            "body": "",
                            "error": "Connection refused",
                        }),
                    })
                    .collect();
                Ok(ok(serde_json::Value::from(answers).to_string()))
            }
            _ => Ok(ExecOutput {
                code: 127,
                stdout: String::new(),
                stderr: format!("{}: not found", cmd.first().unwrap_or(&"")),
            }),
        }
    }
}
