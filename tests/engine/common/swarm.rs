//! A local Swarm cluster for the Swarm tests (`labctl cluster up`), with
//! labctl and docker pointed at its manager or at the host's engine, and
//! removed when the test ends, whatever happened.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use crate::bin::BIN;

/// A local cluster of the tests: its name, its nodes' subnet and the host
/// ports of its manager's engine and of the lab.
pub struct TestCluster {
    pub name: &'static str,
    pub subnet: &'static str,
    pub api_port: u16,
    pub http_port: u16,
    pub stats_port: u16,
}

impl TestCluster {
    /// `cluster up` with `nodes` nodes and the `extra` options: its output.
    pub fn up(&self, nodes: u32, extra: &[&str]) -> String {
        let (nodes, api, http, stats) = (
            nodes.to_string(),
            self.api_port.to_string(),
            self.http_port.to_string(),
            self.stats_port.to_string(),
        );
        let mut args = vec![
            "cluster",
            "--name",
            self.name,
            "up",
            "--nodes",
            &nodes,
            "--subnet",
            self.subnet,
            "--api-port",
            &api,
            "--http-port",
            &http,
            "--stats-port",
            &stats,
        ];
        args.extend_from_slice(extra);
        self.ok(false, &args)
    }

    fn manager(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.api_port)
    }

    /// labctl against the cluster's manager (`manager`) or the host's engine.
    pub fn labctl(&self, manager: bool, args: &[&str]) -> Output {
        self.command(manager, args)
            .output()
            .expect("running labctl")
    }

    /// The command that runs labctl against the manager or the host's
    /// engine, to start in the background.
    pub fn command(&self, manager: bool, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("LABCTL_") {
                cmd.env_remove(k);
            }
        }
        if manager {
            cmd.env("DOCKER_HOST", self.manager());
        } else {
            cmd.env_remove("DOCKER_HOST");
        }
        cmd.args(args);
        cmd
    }

    /// labctl that must succeed: its stdout.
    pub fn ok(&self, manager: bool, args: &[&str]) -> String {
        let out = self.labctl(manager, args);
        let (stdout, stderr) = super::text(&out);
        assert!(
            out.status.success(),
            "labctl {args:?} failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status.code()
        );
        stdout
    }

    /// `docker` on the host's engine (or the manager's), its output.
    pub fn docker(&self, manager: bool, args: &[&str]) -> String {
        let mut cmd = Command::new("docker");
        if manager {
            cmd.env("DOCKER_HOST", self.manager());
        } else {
            cmd.env_remove("DOCKER_HOST");
        }
        let out = cmd.args(args).output().expect("running docker");
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// node name → Swarm node, for the running tasks.
    pub fn placement(&self) -> BTreeMap<String, String> {
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(&self.ok(true, &["ps", "-o", "json"])).expect("ps json");
        rows.iter()
            .filter(|r| r["state"] == "running")
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["host"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// node name → HAProxy state, per `labctl status`.
    pub fn haproxy(&self) -> BTreeMap<String, String> {
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(&self.ok(true, &["status", "-o", "json"])).expect("status json");
        rows.iter()
            .filter(|r| r["node"] != "ha")
            .map(|r| {
                (
                    r["node"].as_str().unwrap().to_string(),
                    r["haproxy"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// `down` of the lab, then `cluster down`: nothing of either left on
    /// the Swarm or on the host (volumes: as `volumes_before`).
    pub fn assert_all_removed(&self, volumes_before: &BTreeSet<String>) {
        self.ok(true, &["down"]);
        assert!(self
            .docker(true, &["service", "ls", "-q"])
            .trim()
            .is_empty());
        assert!(self.docker(true, &["secret", "ls", "-q"]).trim().is_empty());
        assert!(
            !lines(&self.docker(true, &["network", "ls", "--format", "{{.Name}}"]))
                .contains("heig")
        );
        self.ok(false, &["cluster", "--name", self.name, "down"]);
        let filter = format!("label=io.labctl.cluster={}", self.name);
        assert!(self
            .docker(false, &["ps", "-aq", "--filter", &filter])
            .trim()
            .is_empty());
        assert!(self
            .docker(false, &["network", "ls", "-q", "--filter", &filter])
            .trim()
            .is_empty());
        assert_eq!(
            &lines(&self.docker(false, &["volume", "ls", "-q"])),
            volumes_before
        );
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        let _ = self.labctl(true, &["down"]);
        let _ = self.labctl(false, &["cluster", "--name", self.name, "down"]);
    }
}

/// The non-empty lines of a command's output.
pub fn lines(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}
