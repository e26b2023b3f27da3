//! The engine's machine when it is not this one (an engine over tcp, TLS
//! or ssh): read through the engine by a short-lived probe container on
//! that host's network, with the engine's folder mounted read-only. It
//! reports the neighbour table's limit, the disk under the engine's
//! folder, the TCP ports something listens on there and the kernel modules
//! loaded (VXLAN and IPVS for multi-host labs).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::Result;

use crate::runtime::Runtime;

/// What the probe found on the engine's host.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HostFacts {
    /// The kernel's neighbour-table limit (`gc_thresh3`).
    pub(crate) neighbour_limit: Option<u64>,
    /// Free bytes under the engine's folder.
    pub(crate) free: Option<u64>,
    /// The addresses and ports something listens on (TCP).
    pub(crate) listening: Vec<(IpAddr, u16)>,
    /// The kernel modules loaded or built in (`/sys/module`).
    pub(crate) modules: Vec<String>,
}

/// Where the probe sees the engine's folder.
const ROOT: &str = "/engine-root";

/// The probe's script: three sections, each after its `@` line.
const SCRIPT: &str = "echo @neigh; cat /proc/sys/net/ipv4/neigh/default/gc_thresh3; \
    echo @disk; df -P -k /engine-root | tail -n 1; \
    echo @tcp; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; \
    echo @modules; ls /sys/module; true";

/// Reads the engine's host with a probe of `image` (one on the engine
/// already: the lab's base).
pub(crate) async fn read(runtime: &dyn Runtime, image: &str, root_dir: &str) -> Result<HostFacts> {
    let out = runtime
        .run_on_host(image, &["sh", "-c", SCRIPT], (root_dir, ROOT))
        .await?
        .success("the probe on the engine's host")?;
    Ok(parse(&out.stdout))
}

/// The facts in the probe's output.
pub(crate) fn parse(out: &str) -> HostFacts {
    let mut facts = HostFacts::default();
    let mut section = "";
    for line in out.lines() {
        if let Some(name) = line.strip_prefix('@') {
            section = name;
            continue;
        }
        match section {
            "neigh" => facts.neighbour_limit = line.trim().parse().ok(),
            // Filesystem 1024-blocks Used Available Capacity Mounted-on
            "disk" => {
                facts.free = line
                    .split_whitespace()
                    .nth(3)
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .map(|kb| kb * 1024);
            }
            "tcp" => facts.listening.extend(listening(line)),
            "modules" => facts.modules.push(line.trim().to_string()),
            _ => {}
        }
    }
    facts
}

/// The address and port of a `/proc/net/tcp` or `tcp6` line in state
/// LISTEN (`0A`).
fn listening(line: &str) -> Option<(IpAddr, u16)> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(3) != Some(&"0A") {
        return None;
    }
    let (addr, port) = fields.get(1)?.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // The kernel prints each 32-bit word of the address in host order
    // (little-endian on amd64 and arm64).
    let words: Vec<u32> = (0..addr.len() / 8)
        .map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).map(u32::swap_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    let ip = match words.as_slice() {
        [v4] => IpAddr::V4(Ipv4Addr::from(*v4)),
        [a, b, c, d] => {
            let mut bytes = [0u8; 16];
            for (i, w) in [a, b, c, d].into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Whether a listener in `listening` holds `port` for an engine that
/// publishes it on `bind`.
pub(crate) fn taken(listening: &[(IpAddr, u16)], bind: IpAddr, port: u16) -> bool {
    port != 0
        && listening.iter().any(|(ip, p)| {
            *p == port && (ip.is_unspecified() || bind.is_unspecified() || *ip == bind)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: &str = "@neigh
1024
@disk
overlay 258724812 12345678 83886080 13% /engine-root
@tcp
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0CEA 0100007F:D2B4 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
  sl  local_address                         remote_address                        st
   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1
@modules
overlay
vxlan
";

    #[test]
    fn the_probe_output_gives_the_limit_the_disk_and_the_listeners() {
        let facts = parse(OUT);
        assert_eq!(facts.neighbour_limit, Some(1024));
        assert_eq!(facts.free, Some(83_886_080 * 1024));
        assert_eq!(
            facts.listening,
            [
                ("127.0.0.1".parse().unwrap(), 3306),
                ("0.0.0.0".parse().unwrap(), 80),
                ("::1".parse().unwrap(), 22),
            ]
        );
        assert_eq!(facts.modules, ["overlay", "vxlan"]);
        assert_eq!(parse("@neigh\n@disk\n@tcp\n"), HostFacts::default());
    }

    #[test]
    fn a_port_is_taken_where_the_lab_would_publish_it() {
        let facts = parse(OUT);
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(taken(&facts.listening, any, 80));
        assert!(
            taken(&facts.listening, local, 80),
            "80 listens on every address"
        );
        assert!(taken(&facts.listening, any, 3306));
        assert!(taken(&facts.listening, local, 3306));
        assert!(!taken(&facts.listening, other, 3306));
        assert!(!taken(&facts.listening, any, 1936));
        assert!(
            !taken(&facts.listening, any, 0),
            "0: the engine picks a free one"
        );
    }
}
