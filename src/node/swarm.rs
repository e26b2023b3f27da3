//! What a node does differently when it runs as a Swarm task: it finds its
//! own address on the lab's overlay (a task has several networks). And a
//! web app stopped from outside (a Swarm's scale-down, `docker stop`) is
//! taken out of rotation by `ha` before its services stop.

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;

use crate::contract;

/// The Serf query a leaving web app sends `ha`, its name as payload; `ha`
/// answers once the web app is out of HAProxy's rotation.
pub(crate) const DRAIN_QUERY: &str = "labctl-drain";
/// `ha`'s answer to [`DRAIN_QUERY`].
pub(crate) const DRAINED: &str = "drained";

/// The IPv4 addresses of this host's interfaces.
fn interface_addresses() -> Result<Vec<Ipv4Addr>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that is only read
    // below and freed once with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error()).context("listing network interfaces");
    }
    let mut out = Vec::new();
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a node of the list getifaddrs returned.
        let entry = unsafe { &*cursor };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr whose family says its type.
            let family = unsafe { (*entry.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: an AF_INET sockaddr is a sockaddr_in.
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

/// The one of `addresses` inside `subnet`.
pub(crate) fn address_in(addresses: &[Ipv4Addr], subnet: Ipv4Net) -> Option<Ipv4Addr> {
    addresses.iter().copied().find(|a| subnet.contains(a))
}

/// This node's address on the lab's network, when it runs as a Swarm task
/// (`LAB_SUBNET` set) and has one.
pub(crate) fn own_address() -> Option<String> {
    let subnet: Ipv4Net = std::env::var(contract::SUBNET).ok()?.parse().ok()?;
    address_in(&interface_addresses().ok()?, subnet).map(|ip| ip.to_string())
}

/// Prints this node's address on the lab's network (`LAB_SUBNET`).
pub(crate) fn print_address() -> Result<()> {
    let subnet: Ipv4Net = std::env::var(contract::SUBNET)
        .with_context(|| format!("{} is not set", contract::SUBNET))?
        .parse()
        .with_context(|| format!("{} is not a subnet", contract::SUBNET))?;
    let addresses = interface_addresses()?;
    match address_in(&addresses, subnet) {
        Some(ip) => {
            println!("{ip}");
            Ok(())
        }
        None => bail!(
            "no interface of this node is in {subnet} (it has {})",
            addresses
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Whether `ha`'s answers to the drain query (`serf query -format json`)
/// say it took the web app out.
pub(crate) fn drained(answer: &str) -> bool {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(answer) else {
        return false;
    };
    doc.get("Responses")
        .and_then(|r| r.as_object())
        .is_some_and(|r| {
            r.values().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.lines().any(|l| l.trim().starts_with(DRAINED)))
            })
        })
}

/// A web app's graceful stop: asks `ha` (a Serf query) to take it out of
/// rotation and waits for its answer (2 s), then has the
/// supervisor stop every service: the web app finishes the requests it
/// holds, and the Serf agent leaves the cluster.
pub(crate) fn retire() -> Result<()> {
    let name = std::env::var(contract::NODE_NAME)
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default();
    let answer = Command::new("serf")
        .args([
            "query",
            "-node",
            crate::naming::HA,
            // Serf's command waits this long whatever comes: `ha` answers
            // in tens of milliseconds.
            "-timeout",
            "2s",
            "-no-ack",
            "-format",
            "json",
            DRAIN_QUERY,
            &name,
        ])
        .output();
    match answer {
        Ok(out) if drained(&String::from_utf8_lossy(&out.stdout)) => {
            println!("labctl: {name} is out of ha's rotation; stopping");
        }
        Ok(out) => println!(
            "labctl: ha did not confirm that {name} is out of rotation ({}); stopping anyway",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => println!("labctl: cannot ask ha to take {name} out ({e}); stopping anyway"),
    }
    // Requests HAProxy sent just before the change reach the web app now.
    std::thread::sleep(Duration::from_millis(200));
    let status = Command::new("s6-svscanctl")
        .args(["-t", super::init::SCAN_DIR])
        .status()
        .context("asking the supervisor to stop the services")?;
    if !status.success() {
        bail!("s6-svscanctl -t exited with {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_the_one_in_the_labs_subnet() {
        let addresses: Vec<Ipv4Addr> = ["127.0.0.1", "172.18.0.5", "192.168.42.7"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let subnet = "192.168.42.0/24".parse().unwrap();
        assert_eq!(
            address_in(&addresses, subnet),
            Some("192.168.42.7".parse().unwrap())
        );
        assert_eq!(address_in(&addresses[..2], subnet), None);
    }

    #[test]
    fn only_has_answer_counts() {
        assert!(drained(r#"{"Acks":[],"Responses":{"ha":"drained s3\n"}}"#));
        // `ha` logs what it did before it answers.
        assert!(drained(
            r#"{"Acks":null,"Responses":{"ha":"labctl: runtime API: disable server nodes/s3\nlabctl: backends now [s1]\ndrained s3\n"}}"#
        ));
        assert!(!drained(r#"{"Acks":[],"Responses":{}}"#));
        assert!(!drained(r#"{"Acks":[],"Responses":{"ha":"no such node"}}"#));
        assert!(!drained("Error connecting to Serf agent"));
    }
}
