//! Serf's member list, as `serf members -format json` prints it, turned into
//! the backends HAProxy should serve, refusing members that are not safe to
//! write into `/nodes` or `haproxy.cfg`.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::naming::WEBAPP_PORT;
use crate::templates::Server;

/// One member of the Serf cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    /// Serf node name.
    pub name: String,
    /// `ip:port` of its gossip endpoint.
    pub addr: String,
    /// Its tags (`role` among them).
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    /// `alive`, `leaving`, `left`, `failed`.
    pub status: String,
}

#[derive(Deserialize)]
struct MemberList {
    members: Vec<Member>,
}

/// Parses `serf members -format json`.
pub(crate) fn parse_members(json: &str) -> Result<Vec<Member>> {
    let list: MemberList = serde_json::from_str(json)
        .context("reading Serf's member list (`serf members -format json`)")?;
    Ok(list.members)
}

/// A member left out of the backends, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The member's name, shown with its control characters escaped.
    pub name: String,
    /// Why it was refused.
    pub reason: String,
}

/// The longest node name accepted.
const MAX_NAME: usize = 63;

/// Whether a node name is safe as a file name under `/nodes` and as an
/// HAProxy server name: letters, digits, `-`, `_` and `.`, not starting with a
/// dot, at most 63 characters.
pub(crate) fn valid_node_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The alive members with role `backend`, as HAProxy servers sorted by node
/// name (s2 before s10), and the members refused as unsafe.
pub(crate) fn backends(members: &[Member]) -> (Vec<Server>, Vec<Refusal>) {
    let mut servers = Vec::new();
    let mut refused = Vec::new();
    for m in members {
        if m.status != "alive"
            || m.tags.get("role").map(String::as_str) != Some(crate::contract::BACKEND)
        {
            continue;
        }
        let refuse = |reason: &str| Refusal {
            name: m.name.escape_debug().take(80).collect(),
            reason: reason.to_string(),
        };
        if !valid_node_name(&m.name) {
            refused.push(refuse(
                "its name is not a safe node name (letters, digits, `-`, `_`, `.`; at most 63)",
            ));
            continue;
        }
        let ip = match m.addr.parse::<SocketAddr>().map(|a| a.ip()) {
            Ok(IpAddr::V4(ip)) => ip,
            _ => {
                refused.push(refuse("its address is not an IPv4 address"));
                continue;
            }
        };
        if servers.iter().any(|s: &Server| s.name == m.name) {
            refused.push(refuse("another member has the same name"));
            continue;
        }
        servers.push(Server {
            name: m.name.clone(),
            ip: ip.to_string(),
            port: WEBAPP_PORT,
        });
    }
    servers.sort_by_key(|s| natural_key(&s.name));
    // Serf lists members in no fixed order: sort, so that an unchanged set of
    // refusals compares equal and is logged once.
    refused.sort_by(|a, b| a.name.cmp(&b.name));
    (servers, refused)
}

/// Sort key that puts `s2` before `s10`.
pub(crate) fn natural_key(name: &str) -> (String, u64, String) {
    let prefix: String = name.chars().take_while(|c| !c.is_ascii_digit()).collect();
    let rest = &name[prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let number = digits.parse().unwrap_or(0);
    (prefix, number, rest[digits.len()..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"members":[
      {"name":"ha","addr":"192.168.42.42:7946","port":7946,"tags":{"role":"balancer"},"status":"alive","protocol":{"max":5,"min":2,"version":5}},
      {"name":"s10","addr":"192.168.42.3:7946","port":7946,"tags":{"role":"backend"},"status":"alive","protocol":{"max":5,"min":2,"version":5}},
      {"name":"s2","addr":"192.168.42.22:7946","port":7946,"tags":{"role":"backend"},"status":"alive","protocol":{"max":5,"min":2,"version":5}},
      {"name":"s1","addr":"192.168.42.11:7946","port":7946,"tags":{"role":"backend"},"status":"left","protocol":{"max":5,"min":2,"version":5}},
      {"name":"s3","addr":"192.168.42.2:7946","port":7946,"tags":{"role":"backend"},"status":"failed","protocol":{"max":5,"min":2,"version":5}}
    ]}"#;

    fn member(name: &str, addr: &str) -> Member {
        Member {
            name: name.into(),
            addr: addr.into(),
            tags: [("role".to_string(), "backend".to_string())].into(),
            status: "alive".into(),
        }
    }

    #[test]
    fn parses_serf_json() {
        let members = parse_members(JSON).unwrap();
        assert_eq!(members.len(), 5);
        assert_eq!(members[0].name, "ha");
        assert_eq!(members[0].tags["role"], "balancer");
        assert!(parse_members("not json").is_err());
    }

    #[test]
    fn alive_backends_only_in_natural_order() {
        let (servers, refused) = backends(&parse_members(JSON).unwrap());
        let names: Vec<_> = servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s2", "s10"]);
        assert_eq!(servers[0].ip, "192.168.42.22");
        assert_eq!(servers[0].port, 3000);
        assert!(refused.is_empty());
    }

    #[test]
    fn hostile_members_are_refused() {
        let members = vec![
            member("../../etc/passwd", "192.168.42.5:7946"),
            member("s4\n    server evil 10.0.0.1:80", "192.168.42.6:7946"),
            member("s5 backup", "192.168.42.7:7946"),
            member(&"x".repeat(500), "192.168.42.8:7946"),
            member(".hidden", "192.168.42.9:7946"),
            member("s6", "[::1]:7946"),
            member("s7", "192.168.42.10:7946"),
            member("s7", "192.168.42.12:7946"),
        ];
        let (servers, refused) = backends(&members);
        assert_eq!(servers.len(), 1);
        assert_eq!(servers[0].name, "s7");
        assert_eq!(servers[0].ip, "192.168.42.10");
        assert_eq!(refused.len(), 7);
        assert!(
            refused.iter().any(|r| r.name.contains("\\n")),
            "{refused:?}"
        );
        assert!(refused.iter().all(|r| r.name.len() <= 80));
    }

    #[test]
    fn node_names() {
        assert!(valid_node_name("s1"));
        assert!(valid_node_name("web-01.lab_a"));
        assert!(!valid_node_name(""));
        assert!(!valid_node_name(".."));
        assert!(!valid_node_name("a/b"));
        assert!(!valid_node_name("a b"));
        assert!(!valid_node_name(&"a".repeat(64)));
    }
}
