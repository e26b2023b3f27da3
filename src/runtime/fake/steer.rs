//! How tests steer the fake engine (a foreign container, a taken port, a
//! subnet lost to a race, a node that never comes UP) and read what it
//! was asked to change.

use std::collections::HashMap;

use ipnet::Ipv4Net;

use super::{new_info, Container, FakeRuntime};
use crate::runtime::{ContainerInfo, ContainerSpec, ContainerState, NetworkInfo};

impl FakeRuntime {
    /// Adds a container that is not any lab's, running.
    pub fn add_foreign_container(&self, name: &str) {
        let mut s = self.lock();
        let info = new_info(&mut s, name, "other:latest", HashMap::new());
        s.containers.insert(
            name.to_string(),
            Container {
                info: ContainerInfo {
                    state: ContainerState::Running,
                    ..info
                },
                serf_up: false,
            },
        );
    }

    /// Adds a network that is not any lab's.
    pub fn add_foreign_network(&self, name: &str, subnet: Ipv4Net) {
        self.lock().networks.insert(
            name.to_string(),
            NetworkInfo {
                name: name.to_string(),
                labels: HashMap::new(),
                subnets: vec![subnet],
            },
        );
    }

    /// Makes host port `port` taken by some other program.
    pub fn take_host_port(&self, port: u16) {
        self.lock().busy_host_ports.insert(port);
    }

    /// Another lab creates a network on `subnet` just before the next
    /// request for it: that request is refused as overlapping.
    pub fn lose_race_for(&self, subnet: Ipv4Net) {
        self.lock().races.push(subnet);
    }

    /// The engine keeps an endpoint on network `name` and refuses to
    /// remove it.
    pub fn keep_network(&self, name: &str) {
        self.lock().stuck_networks.insert(name.to_string());
    }

    /// HAProxy reports node `node` DOWN, whatever happens.
    pub fn never_up(&self, node: &str) {
        self.lock().never_up.insert(node.to_string());
    }

    /// Gives the engine's host a neighbour table of `limit` entries.
    pub fn set_neighbour_limit(&self, limit: u64) {
        self.lock().neighbour_limit = Some(limit);
    }

    /// Every change asked of the runtime, in order (`create s1`, …).
    pub fn changes(&self) -> Vec<String> {
        self.lock().changes.clone()
    }

    /// How many times the containers were listed.
    pub fn listings(&self) -> usize {
        self.lock().listings
    }

    /// A container, by name.
    pub fn container(&self, name: &str) -> Option<ContainerInfo> {
        self.lock().containers.get(name).map(|c| c.info.clone())
    }

    /// The spec a container was created with.
    pub fn spec(&self, name: &str) -> Option<ContainerSpec> {
        self.lock().specs.get(name).cloned()
    }

    /// The names of every container, sorted.
    pub fn container_names(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }

    /// The names of every network, sorted.
    pub fn network_names(&self) -> Vec<String> {
        self.lock().networks.keys().cloned().collect()
    }
}
