//! The lab as Swarm services: names, specs and what the tasks say, as pure
//! functions.

use std::collections::HashMap;

use ipnet::Ipv4Net;

use crate::contract::{self, Role};
use crate::labels;
use crate::naming::{LabNames, DEFAULT_SUBNET, HA, HTTP_PORT, STATS_PORT};
use crate::runtime::swarm::{HostPort, ServiceSpec, SwarmNode, SwarmTask};
use crate::service::Placement;

/// How long a web app task may take to leave: `ha` takes it out of rotation
/// (a few hundred milliseconds), it finishes what it holds, its agent
/// leaves (up to 10 s).
pub(crate) const WEBAPP_STOP_GRACE_S: u64 = 30;
/// The file name of the Serf secret inside the tasks.
const SECRET_FILE: &str = "serf.json";

/// The service of a role: `ha` and `webapp` (`<lab>-ha`, … for other labs).
pub(crate) fn service(names: &LabNames, role: Role) -> String {
    names.container(role.dir())
}

/// The lab's Serf secret: `heig-serf` (`<lab>-heig-serf`).
pub(crate) fn secret(names: &LabNames) -> String {
    format!("{}-serf", names.network())
}

/// The secret's content: Serf's configuration with the lab's key.
pub(crate) fn secret_data(key: &str) -> Vec<u8> {
    serde_json::json!({ "encrypt_key": key })
        .to_string()
        .into_bytes()
}

/// The labels of the lab's services, network and secret.
pub(crate) fn lab_labels(names: &LabNames, role: Option<Role>) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::LAB.to_string(), names.lab().to_string()),
        (labels::STAGE.to_string(), "6".to_string()),
        (labels::ENGINE.to_string(), "swarm".to_string()),
    ]);
    if let Some(role) = role {
        l.insert(labels::ROLE.to_string(), role.word().to_string());
    }
    l
}

/// What a lab on a Swarm is asked for.
#[derive(Debug, Clone)]
pub(crate) struct SwarmUp {
    /// The lab's overlay subnet.
    pub subnet: Ipv4Net,
    /// Web apps wanted.
    pub webapps: u32,
    /// Node port for HAProxy's port 80.
    pub http_port: u16,
    /// Node port for the stats page.
    pub stats_port: u16,
    /// `user:pass` of the stats page.
    pub stats_auth: Option<String>,
    /// The registry (`HOST:PORT`) the nodes pull the lab's images from;
    /// `None`: every node holds them already.
    pub registry: Option<String>,
}

impl SwarmUp {
    /// What `up` asks of lab `names` on the Swarm with `webapps` web apps,
    /// placed as `place` says: the lab `heig` has its own subnet and ports;
    /// another lab needs them given.
    pub(crate) fn new(names: &LabNames, place: &Placement, webapps: u32) -> anyhow::Result<Self> {
        let own = names.is_default();
        let ports = "a lab other than `heig` on a Swarm needs --http-port and --stats-port";
        Ok(Self {
            subnet: match place.subnet {
                Some(s) => s,
                None if own => DEFAULT_SUBNET.parse()?,
                None => anyhow::bail!(
                    "a lab other than `heig` on a Swarm needs its own subnet: pass --subnet \
                     (e.g. 192.168.43.0/24)"
                ),
            },
            webapps,
            http_port: match place.http_port {
                Some(p) => p,
                None if own => HTTP_PORT,
                None => anyhow::bail!("{ports}"),
            },
            stats_port: match place.stats_port {
                Some(p) => p,
                None if own => STATS_PORT,
                None => anyhow::bail!("{ports}"),
            },
            stats_auth: place.stats_auth.clone(),
            registry: place.registry.clone(),
        })
    }
}

/// Where a registry keeps one of the lab's images:
/// `HOST:PORT/labctl/ha:latest`.
pub(crate) fn registry_reference(registry: &str, role: Role) -> String {
    format!("{registry}/{}", role.image())
}

fn common_env(names: &LabNames, subnet: Ipv4Net) -> Vec<String> {
    vec![
        format!("{}={}", contract::LAB, names.lab()),
        format!("{}=6", contract::STAGE),
        format!("{}={subnet}", contract::SUBNET),
        format!("{}=1", contract::SWARM),
    ]
}

/// The `ha` service: one task, on a manager (never a worker that can vanish
/// silently), its two ports published on that node.
/// `image` is the reference the nodes run.
pub(crate) fn ha_service(names: &LabNames, req: &SwarmUp, image: &str) -> ServiceSpec {
    let mut env = common_env(names, req.subnet);
    env.push(format!("{}={HA}", contract::NODE_NAME));
    if let Some(auth) = &req.stats_auth {
        env.push(format!("{}={auth}", contract::STATS_AUTH));
    }
    ServiceSpec {
        name: service(names, Role::Ha),
        image: image.to_string(),
        replicas: 1,
        hostname: HA.to_string(),
        env,
        labels: lab_labels(names, Some(Role::Ha)),
        network: names.network(),
        constraints: vec!["node.role==manager".to_string()],
        ports: vec![
            HostPort {
                target: HTTP_PORT,
                published: req.http_port,
            },
            HostPort {
                target: STATS_PORT,
                published: req.stats_port,
            },
        ],
        secrets: vec![(secret(names), SECRET_FILE.to_string())],
        stop_grace_s: 10,
        one_per_node: false,
    }
}

/// The `webapp` service: task N is web app `sN` (its host name, Serf name
/// and tag); it joins `ha` by its service name.
/// `image` is the reference the nodes run.
pub(crate) fn webapp_service(names: &LabNames, req: &SwarmUp, image: &str) -> ServiceSpec {
    let mut env = common_env(names, req.subnet);
    env.push(format!("{}=s{{{{.Task.Slot}}}}", contract::NODE_NAME));
    env.push(format!("{}=s{{{{.Task.Slot}}}}", contract::TAG));
    env.push(format!(
        "{}={}",
        contract::SERF_JOIN,
        service(names, Role::Ha)
    ));
    ServiceSpec {
        name: service(names, Role::Webapp),
        image: image.to_string(),
        replicas: u64::from(req.webapps),
        hostname: "s{{.Task.Slot}}".to_string(),
        env,
        labels: lab_labels(names, Some(Role::Webapp)),
        network: names.network(),
        constraints: Vec::new(),
        ports: Vec::new(),
        secrets: vec![(secret(names), SECRET_FILE.to_string())],
        stop_grace_s: WEBAPP_STOP_GRACE_S,
        one_per_node: false,
    }
}

/// The node name of a web app task.
pub(crate) fn webapp_node(task: &SwarmTask) -> String {
    format!("s{}", task.slot)
}

/// The web apps that should be in HAProxy: the running tasks the Swarm
/// wants running, by node name, in order.
pub(crate) fn expected_webapps(tasks: &[SwarmTask]) -> Vec<String> {
    let mut slots: Vec<u32> = tasks
        .iter()
        .filter(|t| t.is_running())
        .map(|t| t.slot)
        .collect();
    slots.sort_unstable();
    slots.dedup();
    slots.into_iter().map(|s| format!("s{s}")).collect()
}

/// Why tasks could not start, one line per distinct reason (the Swarm
/// retries them; a missing image, say, will not fix itself).
pub(crate) fn task_errors(tasks: &[SwarmTask]) -> Vec<String> {
    let mut out: Vec<String> = tasks
        .iter()
        .filter(|t| t.desired == "running" || t.state == "rejected" || t.state == "failed")
        .filter_map(|t| t.error.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A task of the lab as `ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct TaskRow {
    /// The node name in the lab (`ha`, `s3`).
    pub name: String,
    /// The Swarm node it runs on.
    pub host: String,
    /// Where the Swarm wants it (`running`, `shutdown`).
    pub desired: String,
    /// Its state (`running`, `starting`, …).
    pub state: String,
    /// Since when (RFC 3339).
    pub since: String,
    /// Why it is not running, if it said.
    pub error: String,
}

/// Rows as `labctl ps` prints them on a Swarm; with `desired`, where the
/// Swarm wants each task too (tasks on their way out say `shutdown`).
pub(crate) fn table(rows: &[TaskRow], desired: bool) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    let mut header = vec!["NODE", "SWARM NODE", "STATE", "SINCE", "ERROR"];
    if desired {
        header.insert(2, "DESIRED");
    }
    table.set_header(header);
    for r in rows {
        let mut row = vec![&r.name, &r.host, &r.state, &r.since, &r.error];
        if desired {
            row.insert(2, &r.desired);
        }
        table.add_row(row);
    }
    format!("{table}\n")
}

/// The current tasks (the ones the Swarm wants running; with `all`, the
/// ended ones the Swarm still lists too) as rows, `ha` first, web apps in
/// order.
pub(crate) fn rows(
    ha: &[SwarmTask],
    webapps: &[SwarmTask],
    nodes: &[SwarmNode],
    all: bool,
) -> Vec<TaskRow> {
    let host = |id: &str| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.hostname.clone())
            .unwrap_or_else(|| id.chars().take(12).collect())
    };
    let row = |name: String, t: &SwarmTask| TaskRow {
        name,
        host: host(&t.node_id),
        desired: t.desired.clone(),
        state: t.state.clone(),
        since: t.since.clone(),
        error: t.error.clone().unwrap_or_default(),
    };
    let mut out: Vec<TaskRow> = ha
        .iter()
        .filter(|t| all || t.desired == "running")
        .map(|t| row(HA.to_string(), t))
        .collect();
    let mut web: Vec<&SwarmTask> = webapps
        .iter()
        .filter(|t| all || t.desired == "running")
        .collect();
    web.sort_by(|a, b| a.slot.cmp(&b.slot).then_with(|| b.since.cmp(&a.since)));
    out.extend(web.into_iter().map(|t| row(webapp_node(t), t)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(slot: u32, state: &str, desired: &str, node: &str) -> SwarmTask {
        SwarmTask {
            id: format!("t{slot}{state}"),
            slot,
            node_id: node.into(),
            state: state.into(),
            desired: desired.into(),
            container_id: None,
            error: None,
            since: String::new(),
        }
    }

    fn request() -> SwarmUp {
        SwarmUp {
            subnet: "192.168.42.0/24".parse().unwrap(),
            webapps: 6,
            http_port: 80,
            stats_port: 1936,
            stats_auth: None,
            registry: None,
        }
    }

    #[test]
    fn the_services_are_the_labs_nodes() {
        let names = LabNames::new("heig").unwrap();
        let ha = ha_service(&names, &request(), Role::Ha.image());
        assert_eq!(ha.name, "ha");
        assert_eq!(ha.hostname, "ha");
        assert_eq!(ha.constraints, ["node.role==manager"]);
        assert_eq!(ha.ports.len(), 2);
        assert_eq!(
            ha.secrets,
            [("heig-serf".to_string(), "serf.json".to_string())]
        );
        assert!(ha.env.contains(&"LAB_SUBNET=192.168.42.0/24".to_string()));
        // The key is in the secret, never in the environment.
        assert!(!ha.env.iter().any(|e| e.starts_with("SERF_ENCRYPT_KEY")));
        let web = webapp_service(&names, &request(), Role::Webapp.image());
        assert_eq!(web.name, "webapp");
        assert_eq!(web.replicas, 6);
        assert_eq!(web.hostname, "s{{.Task.Slot}}");
        assert!(web.env.contains(&"NODE_NAME=s{{.Task.Slot}}".to_string()));
        assert!(web.env.contains(&"SERF_JOIN=ha".to_string()));
        assert!(web.stop_grace_s >= 15);
        let other = LabNames::new("demo").unwrap();
        assert_eq!(
            webapp_service(&other, &request(), Role::Webapp.image()).name,
            "demo-webapp"
        );
        assert!(webapp_service(&other, &request(), Role::Webapp.image())
            .env
            .contains(&"SERF_JOIN=demo-ha".to_string()));
        assert_eq!(secret(&other), "demo-heig-serf");
        assert_eq!(
            String::from_utf8(secret_data("abc=")).unwrap(),
            r#"{"encrypt_key":"abc="}"#
        );
    }

    #[test]
    fn only_running_tasks_are_expected_in_haproxy() {
        let tasks = [
            task(1, "running", "running", "n1"),
            task(3, "running", "running", "n2"),
            task(2, "starting", "running", "n2"),
            task(4, "running", "shutdown", "n3"),
            task(3, "failed", "shutdown", "n3"),
        ];
        assert_eq!(expected_webapps(&tasks), ["s1", "s3"]);
    }

    #[test]
    fn rows_name_the_node_each_task_runs_on() {
        let nodes = [SwarmNode {
            id: "n1".into(),
            hostname: "node1".into(),
            manager: true,
            state: "ready".into(),
            availability: "active".into(),
            addr: "192.168.142.11".into(),
        }];
        let ha = [task(1, "running", "running", "n1")];
        let web = [
            task(2, "running", "running", "n1"),
            task(1, "running", "running", "n2xxxxxxxxxxxxxx"),
            task(3, "shutdown", "shutdown", "n1"),
        ];
        let rows = rows(&ha, &web, &nodes, false);
        let names: Vec<_> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ha", "s1", "s2"]);
        assert_eq!(rows[0].host, "node1");
        assert_eq!(rows[1].host, "n2xxxxxxxxxx");
    }

    #[test]
    fn task_errors_are_listed_once() {
        let mut a = task(1, "rejected", "shutdown", "n1");
        a.error = Some("No such image: labctl/webapp:latest".into());
        let mut b = a.clone();
        b.slot = 2;
        assert_eq!(task_errors(&[a, b]).len(), 1);
    }
}
