//! Names and addresses of a lab's resources: pure functions, no Docker.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use ipnet::Ipv4Net;

/// The lab that runs under the lab's own names (`heig`, `ha`, `s1`, …).
pub const DEFAULT_LAB: &str = "heig";
/// The default lab's subnet.
pub const DEFAULT_SUBNET: &str = "192.168.42.0/24";
/// The balancer's node name.
pub const HA: &str = "ha";
/// Host offset of `ha` in the lab's subnet (192.168.42.42).
const HA_OFFSET: u32 = 42;
/// Host offsets the lab gives `s1` and `s2` (.11 and .22).
const FIRST_WEBAPPS: [u32; 2] = [11, 22];
/// The web app's HTTP port.
pub const WEBAPP_PORT: u16 = 3000;
/// `ha`'s port for the web apps, in its container.
pub const HTTP_PORT: u16 = 80;
/// `ha`'s port for the stats page, in its container.
pub const STATS_PORT: u16 = 1936;

/// How a lab's networks and containers are named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabNames {
    lab: String,
}

impl LabNames {
    /// Checks a lab name: lowercase letters, digits and dashes, at most 24.
    pub fn new(lab: &str) -> Result<Self> {
        let ok = !lab.is_empty()
            && lab.len() <= 24
            && lab.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && lab
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            bail!(
                "invalid lab name `{lab}`: use 1 to 24 lowercase letters, digits or dashes, \
                 starting with a letter or digit (e.g. `--lab demo`)"
            );
        }
        Ok(Self {
            lab: lab.to_string(),
        })
    }

    /// The lab's name.
    pub fn lab(&self) -> &str {
        &self.lab
    }

    /// Whether this is the default lab, whose resources carry the lab's own
    /// names without a prefix.
    pub fn is_default(&self) -> bool {
        self.lab == DEFAULT_LAB
    }

    fn prefixed(&self, name: &str) -> String {
        if self.is_default() {
            name.to_string()
        } else {
            format!("{}-{name}", self.lab)
        }
    }

    /// The lab's network: `heig`, or `<lab>-heig`.
    pub fn network(&self) -> String {
        self.prefixed("heig")
    }

    /// The container of a node: `s1`, or `<lab>-s1`.
    pub fn container(&self, node: &str) -> String {
        self.prefixed(node)
    }

    /// The node a container of this lab runs: `s1` from `<lab>-s1`.
    pub fn node_of<'a>(&self, container: &'a str) -> &'a str {
        if self.is_default() {
            container
        } else {
            container
                .strip_prefix(&format!("{}-", self.lab))
                .unwrap_or(container)
        }
    }
}

/// The node name of web app number `n` (1-based).
pub fn webapp_name(n: u32) -> String {
    format!("s{n}")
}

/// The number of a web app from its node name (`s12` → 12).
pub fn webapp_number(node: &str) -> Option<u32> {
    let digits = node.strip_prefix('s')?;
    if digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

/// Addresses inside a lab's subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addressing {
    subnet: Ipv4Net,
}

impl Addressing {
    /// A subnet from /16 to /26: large enough for `ha` at host .42.
    pub fn new(subnet: Ipv4Net) -> Result<Self> {
        if !(16..=26).contains(&subnet.prefix_len()) {
            bail!(
                "subnet {subnet} has the wrong size: use a prefix from /16 to /26, e.g. `--subnet 192.168.43.0/24`"
            );
        }
        Ok(Self {
            subnet: subnet.trunc(),
        })
    }

    /// The subnet.
    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    fn host(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet.network()) + offset)
    }

    fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        self.subnet
            .contains(&ip)
            .then(|| u32::from(ip) - u32::from(self.subnet.network()))
    }

    /// The bridge's gateway: the first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }

    /// `ha`'s address: host .42.
    pub fn ha(&self) -> Ipv4Addr {
        self.host(HA_OFFSET)
    }

    fn last_host_offset(&self) -> u32 {
        (1u32 << (32 - self.subnet.prefix_len())) - 2
    }

    /// How many web apps the subnet holds (every host address but the
    /// gateway's and `ha`'s).
    pub fn capacity(&self) -> u32 {
        self.last_host_offset() - 2
    }

    /// The address for web app `n`, given the addresses already in use: `s1`
    /// and `s2` get the lab's .11 and .22, the others the lowest free address
    /// (never .11 or .22, so `s1` and `s2` can always come back to theirs).
    pub fn webapp(&self, n: u32, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        if let Some(offset) = FIRST_WEBAPPS.get((n as usize).wrapping_sub(1)) {
            let ip = self.host(*offset);
            if !used.contains(&ip) {
                return Some(ip);
            }
        }
        let reserved = |offset: u32| offset == HA_OFFSET || FIRST_WEBAPPS.contains(&offset);
        (2..=self.last_host_offset())
            .filter(|o| !reserved(*o))
            .map(|o| self.host(o))
            .find(|ip| !used.contains(ip))
            .or_else(|| {
                // Every other address is taken: .11 and .22 are the last resort.
                FIRST_WEBAPPS
                    .iter()
                    .map(|o| self.host(*o))
                    .find(|ip| !used.contains(ip))
            })
    }

    /// An address for a short-lived helper container (the lab's browser):
    /// the highest free one, far from where web apps take theirs.
    pub fn spare(&self, used: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let reserved = |offset: u32| offset == HA_OFFSET || FIRST_WEBAPPS.contains(&offset);
        (2..=self.last_host_offset())
            .rev()
            .filter(|o| !reserved(*o))
            .map(|o| self.host(o))
            .find(|ip| !used.contains(ip))
    }

    /// Whether an address lies in this subnet's host range.
    pub fn holds(&self, ip: Ipv4Addr) -> bool {
        self.offset(ip)
            .is_some_and(|o| o >= 1 && o <= self.last_host_offset())
    }
}

/// The first /24 in 192.168.43.0 – 192.168.254.0 that overlaps none of
/// `taken`: a subnet for a lab that names none.
pub fn free_subnet(taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    (43u8..=254)
        .filter_map(|third| Ipv4Net::new(Ipv4Addr::new(192, 168, third, 0), 24).ok())
        .find(|candidate| !taken.iter().any(|t| overlaps(*t, *candidate)))
}

/// Whether two subnets share any address.
pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn a_helper_takes_the_highest_free_address() {
        let a = Addressing::new(net("192.168.50.0/24")).unwrap();
        let used: HashSet<Ipv4Addr> = ["192.168.50.254".parse().unwrap()].into();
        assert_eq!(
            a.spare(&HashSet::new()),
            Some("192.168.50.254".parse().unwrap())
        );
        assert_eq!(a.spare(&used), Some("192.168.50.253".parse().unwrap()));
    }

    #[test]
    fn a_container_tells_its_node() {
        assert_eq!(LabNames::new("heig").unwrap().node_of("s3"), "s3");
        assert_eq!(LabNames::new("demo").unwrap().node_of("demo-s3"), "s3");
        assert_eq!(LabNames::new("demo").unwrap().node_of("other"), "other");
    }

    #[test]
    fn default_lab_uses_the_lab_names() {
        let names = LabNames::new(DEFAULT_LAB).unwrap();
        assert_eq!(names.network(), "heig");
        assert_eq!(names.container("ha"), "ha");
        assert_eq!(names.container("s2"), "s2");
    }

    #[test]
    fn other_labs_are_prefixed() {
        let names = LabNames::new("demo").unwrap();
        assert_eq!(names.network(), "demo-heig");
        assert_eq!(names.container("s1"), "demo-s1");
    }

    #[test]
    fn bad_lab_names_are_refused() {
        for bad in ["", "Demo", "-x", "a/b", "a b", "aaaaaaaaaaaaaaaaaaaaaaaaa"] {
            let err = LabNames::new(bad).unwrap_err().to_string();
            assert!(err.contains("invalid lab name"), "{bad}: {err}");
        }
    }

    #[test]
    fn webapp_names_round_trip() {
        assert_eq!(webapp_name(7), "s7");
        assert_eq!(webapp_number("s7"), Some(7));
        assert_eq!(webapp_number("s12"), Some(12));
        assert_eq!(webapp_number("s0"), None);
        assert_eq!(webapp_number("s01"), None);
        assert_eq!(webapp_number("ha"), None);
        assert_eq!(webapp_number("sx"), None);
    }

    #[test]
    fn the_lab_addresses() {
        let a = Addressing::new(net(DEFAULT_SUBNET)).unwrap();
        let none = HashSet::new();
        assert_eq!(a.gateway(), Ipv4Addr::new(192, 168, 42, 1));
        assert_eq!(a.ha(), Ipv4Addr::new(192, 168, 42, 42));
        assert_eq!(a.webapp(1, &none), Some(Ipv4Addr::new(192, 168, 42, 11)));
        assert_eq!(a.webapp(2, &none), Some(Ipv4Addr::new(192, 168, 42, 22)));
        assert_eq!(a.webapp(3, &none), Some(Ipv4Addr::new(192, 168, 42, 2)));
        assert_eq!(a.capacity(), 252);
    }

    #[test]
    fn further_webapps_skip_used_and_reserved_addresses() {
        let a = Addressing::new(net(DEFAULT_SUBNET)).unwrap();
        let used: HashSet<_> = (2..=10)
            .map(|o| Ipv4Addr::new(192, 168, 42, o))
            .chain([Ipv4Addr::new(192, 168, 42, 12)])
            .collect();
        assert_eq!(a.webapp(5, &used), Some(Ipv4Addr::new(192, 168, 42, 13)));
        // s1's own address taken: it falls back to a free one.
        let used: HashSet<_> = [Ipv4Addr::new(192, 168, 42, 11)].into();
        assert_eq!(a.webapp(1, &used), Some(Ipv4Addr::new(192, 168, 42, 2)));
    }

    #[test]
    fn a_full_subnet_has_no_address() {
        let a = Addressing::new(net("10.9.0.0/26")).unwrap();
        assert_eq!(a.capacity(), 60);
        let used: HashSet<_> = (1..=62).map(|o| Ipv4Addr::new(10, 9, 0, o)).collect();
        assert_eq!(a.webapp(3, &used), None);
    }

    #[test]
    fn subnet_sizes_are_checked() {
        assert!(Addressing::new(net("10.0.0.0/27")).is_err());
        assert!(Addressing::new(net("10.0.0.0/15")).is_err());
        assert!(Addressing::new(net("10.0.0.0/16")).is_ok());
    }

    #[test]
    fn free_subnets_avoid_taken_ones() {
        let taken = [net("192.168.43.0/24"), net("192.168.44.0/23")];
        assert_eq!(free_subnet(&taken), Some(net("192.168.46.0/24")));
        assert_eq!(free_subnet(&[net("192.168.0.0/16")]), None);
        assert!(overlaps(net("10.0.0.0/8"), net("10.1.2.0/24")));
        assert!(!overlaps(net("10.0.0.0/24"), net("10.0.1.0/24")));
    }
}
