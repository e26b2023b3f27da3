//! What a change of the lab takes, decided from one observation: which
//! containers to create (with their spec, environment, labels and address),
//! start, or take out. Pure: nothing here talks to the engine.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use anyhow::{bail, Context, Result};

use super::observe::{addressing, Observation};
use crate::contract::{self, Role};
use crate::labels;
use crate::naming::{self, Addressing, LabNames, HA, HTTP_PORT, STATS_PORT};
use crate::platform::Arch;
use crate::runtime::{ContainerInfo, ContainerSpec, NetworkInfo};
use crate::stage::Stage;

/// Where `up` publishes `ha`'s ports.
#[derive(Debug, Clone)]
pub struct Publish {
    /// Host address.
    pub bind: IpAddr,
    /// Host port for port 80 (0: any free port).
    pub http: u16,
    /// Host port for the stats page (0: any free port).
    pub stats: u16,
    /// `user:pass` the stats page asks for, if any.
    pub stats_auth: Option<String>,
}

impl Publish {
    /// The lab's own ports (80 and 1936) for the default lab, free ports
    /// picked by the engine for the others, unless given.
    pub fn defaults(names: &LabNames, bind: IpAddr, http: Option<u16>, stats: Option<u16>) -> Self {
        let own = names.is_default();
        Self {
            bind,
            http: http.unwrap_or(if own { HTTP_PORT } else { 0 }),
            stats: stats.unwrap_or(if own { STATS_PORT } else { 0 }),
            stats_auth: None,
        }
    }
}

/// A change of the web app set, computed from what runs and what is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePlan {
    /// Web app numbers to create.
    pub create: Vec<u32>,
    /// Existing web apps to start again.
    pub start: Vec<u32>,
    /// Web apps to remove, highest number first.
    pub remove: Vec<u32>,
}

impl ScalePlan {
    /// From the existing web apps (number → running?) to `1..=wanted`.
    pub fn new(existing: &BTreeMap<u32, bool>, wanted: u32) -> Self {
        let create = (1..=wanted).filter(|n| !existing.contains_key(n)).collect();
        let start = existing
            .iter()
            .filter(|(n, running)| **n <= wanted && !**running)
            .map(|(n, _)| *n)
            .collect();
        let remove = existing
            .keys()
            .rev()
            .filter(|n| **n > wanted)
            .copied()
            .collect();
        Self {
            create,
            start,
            remove,
        }
    }

    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.start.is_empty() && self.remove.is_empty()
    }
}

/// A scale step ready to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ScaleWork {
    /// The new web apps' containers.
    pub create: Vec<ContainerSpec>,
    /// Containers of stopped web apps to start again.
    pub start: Vec<String>,
    /// Containers of web apps to take out, highest number first, and
    /// whether each runs (only a running one has a cluster to leave).
    pub remove: Vec<(String, bool)>,
}

/// What scaling to `wanted` web apps takes, new addresses chosen.
pub(super) fn scale(
    obs: &Observation,
    network: &NetworkInfo,
    wanted: u32,
    stage: Stage,
    foreign: Option<Arch>,
) -> Result<ScaleWork> {
    let addressing = addressing(network)?;
    check_capacity(addressing, wanted)?;
    let webapps = obs.webapps();
    let running: BTreeMap<u32, bool> = webapps
        .iter()
        .map(|(n, c)| (*n, c.state.is_running()))
        .collect();
    let plan = ScalePlan::new(&running, wanted);
    let new_nodes: Vec<String> = plan
        .create
        .iter()
        .map(|n| naming::webapp_name(*n))
        .collect();
    obs.check_names_free(&new_nodes)?;
    let mut used = obs.used_addresses(&network.name);
    let create = webapp_specs(
        obs.names(),
        &plan.create,
        network,
        addressing,
        stage,
        foreign,
        &mut used,
    )?;
    Ok(ScaleWork {
        create,
        start: plan.start.iter().map(|n| webapps[n].name.clone()).collect(),
        remove: plan
            .remove
            .iter()
            .map(|n| (webapps[n].name.clone(), webapps[n].state.is_running()))
            .collect(),
    })
}

/// The web apps numbered above `wanted`: the ones a finished scale removes.
pub(super) fn extra_webapps(obs: &Observation, wanted: u32) -> Vec<&ContainerInfo> {
    obs.webapps()
        .into_iter()
        .filter(|(n, _)| *n > wanted)
        .map(|(_, c)| c)
        .collect()
}

/// The containers of new web apps with the given numbers, each at the
/// lowest free address its number allows (`used` grows with them).
pub(super) fn webapp_specs(
    names: &LabNames,
    numbers: &[u32],
    network: &NetworkInfo,
    addressing: Addressing,
    stage: Stage,
    foreign: Option<Arch>,
    used: &mut HashSet<Ipv4Addr>,
) -> Result<Vec<ContainerSpec>> {
    let ha_ip = addressing.ha();
    used.insert(addressing.gateway());
    used.insert(ha_ip);
    let mut specs = Vec::new();
    for n in numbers {
        let node = naming::webapp_name(*n);
        let ip = addressing.webapp(*n, used).with_context(|| {
            format!(
                "subnet {} has no free address for `{node}`",
                addressing.subnet()
            )
        })?;
        used.insert(ip);
        let env = contract::NodeEnv {
            node: node.clone(),
            lab: names.lab().to_string(),
            stage: stage.number(),
            serf_key: serf_key(network, stage),
            node_ip: Some(ip),
            serf_join: vec![ha_ip.to_string()],
            static_servers: Vec::new(),
            stats_auth: None,
        };
        specs.push(ContainerSpec {
            name: names.container(&node),
            hostname: node.clone(),
            image: crate::images::image_name(Role::Webapp, foreign),
            env: env.to_env(),
            labels: labels_for(names, &node, Role::Webapp, stage, foreign),
            network: network.name.clone(),
            ip,
            aliases: vec![node],
            publish: Vec::new(),
            runs_engine: false,
        });
    }
    Ok(specs)
}

/// The container of a new `ha`. It joins the web apps that already run, so
/// that a replaced balancer finds its cluster at once, and the ones starting
/// with it: web apps join `ha` too, and whichever agent starts last finds
/// the other listening (Serf retries a failed join only after a second).
pub(super) fn ha_spec(
    obs: &Observation,
    network: &NetworkInfo,
    stage: Stage,
    foreign: Option<Arch>,
    publish: &Publish,
    starting: &[ContainerSpec],
) -> Result<ContainerSpec> {
    let addressing = addressing(network)?;
    let mut join: Vec<String> = obs
        .containers()
        .iter()
        .filter(|c| c.state.is_running())
        .filter_map(|c| c.addresses.get(&network.name))
        .map(ToString::to_string)
        .collect();
    join.extend(starting.iter().map(|s| s.ip.to_string()));
    // Up to stage 4, HAProxy lists the lab's s1 and s2 at the addresses
    // they get, injected at start as the lab did.
    let none = HashSet::new();
    let static_servers = (1..=2)
        .filter_map(|n| Some((naming::webapp_name(n), addressing.webapp(n, &none)?)))
        .collect();
    let names = obs.names();
    let env = contract::NodeEnv {
        node: HA.to_string(),
        lab: names.lab().to_string(),
        stage: stage.number(),
        serf_key: serf_key(network, stage),
        node_ip: None,
        serf_join: join,
        static_servers,
        stats_auth: publish.stats_auth.clone(),
    };
    Ok(ContainerSpec {
        name: names.container(HA),
        hostname: HA.to_string(),
        image: crate::images::image_name(Role::Ha, foreign),
        env: env.to_env(),
        labels: labels_for(names, HA, Role::Ha, stage, foreign),
        network: network.name.clone(),
        ip: addressing.ha(),
        aliases: vec![HA.to_string()],
        publish: vec![
            (HTTP_PORT, publish.bind.to_string(), publish.http),
            (STATS_PORT, publish.bind.to_string(), publish.stats),
        ],
        runs_engine: false,
    })
}

/// The labels of a node's container: the lab's state.
pub(super) fn labels_for(
    names: &LabNames,
    node: &str,
    role: Role,
    stage: Stage,
    foreign: Option<Arch>,
) -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::STAGE.to_string(), stage.number().to_string()),
        (labels::LAB.to_string(), names.lab().to_string()),
        (labels::NODE.to_string(), node.to_string()),
        (labels::ROLE.to_string(), role.word().to_string()),
    ]);
    if let Some(arch) = foreign {
        labels.insert(
            labels::PLATFORM.to_string(),
            crate::platform::Platform::linux(arch).to_string(),
        );
    }
    labels
}

/// The labels of a new lab network, with its fresh Serf key.
pub(super) fn network_labels(names: &LabNames, serf_key: String) -> HashMap<String, String> {
    HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::LAB.to_string(), names.lab().to_string()),
        (labels::SERF_KEY.to_string(), serf_key),
    ])
}

/// The lab's Serf key, kept on its network; given to the nodes at the final
/// stage only. Up to stage 5 gossip is in clear, as in the lab, so that a
/// web app started by hand (`docker run --network heig labctl/webapp`) joins.
fn serf_key(network: &NetworkInfo, stage: Stage) -> Option<String> {
    (stage == crate::stage::FINAL)
        .then(|| network.labels.get(labels::SERF_KEY).cloned())
        .flatten()
}

/// Refuses more web apps than the subnet holds.
pub fn check_capacity(addressing: Addressing, webapps: u32) -> Result<()> {
    if webapps > addressing.capacity() {
        bail!(
            "subnet {} holds at most {} web apps, not {webapps}",
            addressing.subnet(),
            addressing.capacity()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_scale_up_and_down() {
        let existing: BTreeMap<u32, bool> = [(1, true), (2, false), (3, true), (5, true)].into();
        let up = ScalePlan::new(&existing, 6);
        assert_eq!(up.create, [4, 6]);
        assert_eq!(up.start, [2]);
        assert!(up.remove.is_empty());
        let down = ScalePlan::new(&existing, 1);
        assert!(down.create.is_empty());
        assert!(down.start.is_empty());
        assert_eq!(down.remove, [5, 3, 2]);
        assert!(ScalePlan::new(&[(1, true), (2, true)].into(), 2).is_empty());
        assert_eq!(
            ScalePlan::new(&BTreeMap::new(), 0),
            ScalePlan {
                create: vec![],
                start: vec![],
                remove: vec![]
            }
        );
    }

    fn network() -> NetworkInfo {
        NetworkInfo {
            name: "demo-heig".into(),
            labels: HashMap::from([(labels::SERF_KEY.to_string(), "KEY".to_string())]),
            subnets: vec!["192.168.50.0/24".parse().unwrap()],
        }
    }

    #[test]
    fn a_new_webapp_gets_its_address_name_labels_and_environment() {
        let names = LabNames::new("demo").unwrap();
        let net = network();
        let addressing = addressing(&net).unwrap();
        let mut used = HashSet::new();
        let specs = webapp_specs(
            &names,
            &[1, 3],
            &net,
            addressing,
            Stage::new(6).unwrap(),
            None,
            &mut used,
        )
        .unwrap();
        assert_eq!(specs.len(), 2);
        let s1 = &specs[0];
        assert_eq!(s1.name, "demo-s1");
        assert_eq!(s1.hostname, "s1");
        assert_eq!(s1.ip.to_string(), "192.168.50.11");
        assert_eq!(s1.aliases, ["s1"]);
        assert_eq!(
            s1.env,
            [
                "NODE_NAME=s1",
                "LAB=demo",
                "LABCTL_STAGE=6",
                "SERF_ENCRYPT_KEY=KEY",
                "NODE_IP=192.168.50.11",
                "SERF_JOIN=192.168.50.42",
                "TAG=s1",
            ]
        );
        assert_eq!(s1.labels[labels::ROLE], "backend");
        assert_eq!(s1.image, "labctl/webapp:latest");
        assert!(!s1.labels.contains_key(labels::PLATFORM));
        // Under emulation: the images of that architecture, and a label
        // that says so (scale and start read it back).
        let arm = webapp_specs(
            &names,
            &[4],
            &net,
            addressing,
            Stage::new(6).unwrap(),
            Some(Arch::Arm64),
            &mut used,
        )
        .unwrap();
        assert_eq!(arm[0].image, "labctl/webapp:arm64");
        assert_eq!(arm[0].labels[labels::PLATFORM], "linux/arm64");
        assert_eq!(s1.labels[labels::NODE], "s1");
        assert_eq!(s1.labels[labels::STAGE], "6");
        assert!(used.contains(&specs[1].ip));
        assert!(used.contains(&addressing.ha()));
    }

    #[test]
    fn too_many_webapps_for_the_subnet_are_refused() {
        let addressing = Addressing::new("192.168.50.0/26".parse().unwrap()).unwrap();
        let err = check_capacity(addressing, addressing.capacity() + 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "subnet 192.168.50.0/26 holds at most {} web apps, not {}",
                addressing.capacity(),
                addressing.capacity() + 1
            )
        );
    }
}
