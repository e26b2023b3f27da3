//! The engine's list of containers, read from its own JSON: a state it
//! names that a client library's list of states lacks (Podman's `stopped`,
//! which a container passes through on its way out) is one container's
//! word, not a listing that fails.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Deserialize;

use super::DockerEngine;
use crate::runtime::{ContainerInfo, ContainerState, PublishedPort};

/// One container as `GET /containers/json` lists it (the fields labctl
/// reads).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Summary {
    id: Option<String>,
    names: Option<Vec<String>>,
    image: Option<String>,
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
    labels: Option<HashMap<String, String>>,
    state: Option<String>,
    status: Option<String>,
    command: Option<String>,
    created: Option<i64>,
    ports: Option<Vec<Port>>,
    network_settings: Option<Networks>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Port {
    private_port: u16,
    public_port: Option<u16>,
    #[serde(rename = "IP")]
    ip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Networks {
    networks: Option<HashMap<String, Endpoint>>,
}

#[derive(Debug, Deserialize)]
struct Endpoint {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
}

impl From<Summary> for ContainerInfo {
    fn from(c: Summary) -> Self {
        let addresses = c
            .network_settings
            .and_then(|n| n.networks)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(net, ep)| Some((net, ep.ip_address?.parse().ok()?)))
            .collect();
        let mut ports: Vec<PublishedPort> = c
            .ports
            .unwrap_or_default()
            .into_iter()
            .map(|p| PublishedPort {
                container: p.private_port,
                host_ip: p.ip.filter(|ip| !ip.is_empty()),
                host_port: p.public_port.filter(|&port| port != 0),
            })
            .collect();
        ports.sort_by_key(|p| (p.container, p.host_ip.clone()));
        ports.dedup_by_key(|p| (p.container, p.host_port));
        ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.into_iter().next())
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: c.image.unwrap_or_default(),
            image_id: c.image_id.unwrap_or_default(),
            labels: c.labels.unwrap_or_default(),
            state: ContainerState::parse(c.state.as_deref().unwrap_or_default()),
            status: c.status.unwrap_or_default(),
            command: c.command.unwrap_or_default(),
            created: c.created.unwrap_or(0),
            addresses,
            ports,
        }
    }
}

/// The containers in a `GET /containers/json` answer.
fn parse(body: &[u8]) -> Result<Vec<ContainerInfo>> {
    let list: Vec<Summary> =
        serde_json::from_slice(body).context("reading the engine's list of containers")?;
    Ok(list.into_iter().map(ContainerInfo::from).collect())
}

/// `text` as a URL's query value.
fn query_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl DockerEngine {
    /// Every container (running or not) that matches `filters`.
    pub(super) async fn list_containers(
        &self,
        filters: &HashMap<&str, Vec<String>>,
    ) -> Result<Vec<ContainerInfo>> {
        let mut path = format!("/v{}/containers/json?all=1", self.docker.client_version());
        if !filters.is_empty() {
            let filters = serde_json::to_string(filters).context("writing the filters")?;
            path.push_str(&format!("&filters={}", query_value(&filters)));
        }
        parse(&self.get_raw(&path, "listing containers").await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_no_client_library_knows_is_one_containers_word() {
        // Trimmed from Podman 4.3's answer while a container is on its way
        // out, beside a running one with a published port.
        let body = br#"[
          {"Id":"aa11","Names":["/labctl-lock.lab.heig"],"Image":"labctl/ha:latest",
           "ImageID":"sha256:1","Command":"cat -","Created":1700000000,"Ports":[],
           "Labels":{"io.labctl.managed":"true"},"State":"stopped","Status":"Exited (0)",
           "NetworkSettings":{"Networks":{}}},
          {"Id":"bb22","Names":["/ha"],"Image":"labctl/ha:latest","ImageID":"sha256:1",
           "Command":"labctl node init","Created":1700000001,
           "Ports":[{"IP":"127.0.0.1","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                    {"IP":"::1","PrivatePort":80,"PublicPort":8080,"Type":"tcp"},
                    {"PrivatePort":7946,"Type":"tcp"}],
           "Labels":null,"State":"running","Status":"Up 2 seconds",
           "NetworkSettings":{"Networks":{"heig":{"IPAddress":"192.168.42.2"},
                                          "none":{"IPAddress":""}}}}
        ]"#;
        let list = parse(body).unwrap();
        assert_eq!(list[0].name, "labctl-lock.lab.heig");
        assert_eq!(list[0].state, ContainerState::Exited);
        assert_eq!(list[0].label(crate::labels::MANAGED), Some("true"));
        let ha = &list[1];
        assert!(ha.state.is_running());
        assert_eq!(ha.host_port(80), Some(8080));
        assert_eq!(
            ha.ports
                .iter()
                .find(|p| p.container == 7946)
                .unwrap()
                .host_port,
            None
        );
        assert_eq!(ha.addresses.len(), 1);
        assert_eq!(ha.addresses["heig"].to_string(), "192.168.42.2");
        assert!(ha.labels.is_empty());
    }

    #[test]
    fn filters_go_into_the_query_escaped() {
        assert_eq!(
            query_value(r#"{"label":["io.labctl.lab=a b"]}"#),
            "%7B%22label%22%3A%5B%22io.labctl.lab%3Da%20b%22%5D%7D"
        );
    }
}
