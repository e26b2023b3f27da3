//! The kernel's neighbour (ARP) table, which caps how many web apps a lab
//! can run on one host. Every container of a lab gossips with every other
//! (Serf), and each keeps one entry per peer in the kernel's neighbour
//! table, which all network namespaces share and which holds at most
//! `net.ipv4.neigh.default.gc_thresh3` entries (1024 by default). Past that
//! the kernel drops packets ("neighbor table overflow" in its log), the Serf
//! agents mark live web apps failed, and the lab never settles: with the
//! default, past about 30 web apps. Read here, never changed.

/// The sysctl that caps the table.
pub(crate) const LIMIT: &str = "net.ipv4.neigh.default.gc_thresh3";
const LIMIT_FILE: &str = "/proc/sys/net/ipv4/neigh/default/gc_thresh3";
/// Entries left for the rest of the host: its own interfaces, the engine's
/// bridge, the proxies of published ports.
const MARGIN: u64 = 64;

/// The entries a lab of `webapps` web apps and `ha` fills: one per peer in
/// each container.
pub(crate) fn needed(webapps: u64) -> u64 {
    webapps
        .saturating_add(1)
        .saturating_mul(webapps)
        .saturating_add(MARGIN)
}

/// The most web apps one lab can run on a table of `limit` entries.
pub(crate) fn capacity(limit: u64) -> u64 {
    // The largest n with n (n + 1) <= limit - MARGIN.
    let room = u128::from(limit.saturating_sub(MARGIN));
    let n = ((4 * room + 1).isqrt() - 1) / 2;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The command that makes room for `webapps` web apps, with room to spare
/// (twice the entries; the soft limits at a half and a quarter of it).
pub(crate) fn fix(webapps: u64) -> String {
    let limit = needed(webapps).saturating_mul(2).next_power_of_two();
    format!(
        "sudo sysctl -w {LIMIT}={limit} net.ipv4.neigh.default.gc_thresh2={} net.ipv4.neigh.default.gc_thresh1={}",
        limit / 2,
        limit / 4
    )
}

/// What stands in the way of `webapps` web apps on a table of `limit`
/// entries, and how to lift it; `None` when there is room.
pub(crate) fn shortfall(webapps: u64, limit: u64) -> Option<String> {
    let needed = needed(webapps);
    (needed > limit).then(|| {
        format!(
            "{webapps} web apps fill about {needed} entries of the kernel's neighbour table, which holds {limit} ({LIMIT}: room for {} web apps in one lab); past it the kernel drops packets, Serf marks live web apps failed and the lab never settles. Make room first: `{}`",
            capacity(limit),
            fix(webapps)
        )
    })
}

/// The table's limit on this host, when the engine runs here (a local
/// socket); `None` when it cannot be read or the engine is elsewhere.
pub(crate) fn local_limit() -> Option<u64> {
    if !crate::runtime::endpoint::from_env().is_ok_and(|e| e.is_local_linux()) {
        return None;
    }
    std::fs::read_to_string(LIMIT_FILE)
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_holds_about_thirty_web_apps() {
        // Measured: 30 web apps settle on the default 1024 entries; at 50
        // the kernel logs "neighbor table overflow" and Serf marks live
        // web apps failed.
        assert_eq!(capacity(1024), 30);
        assert!(shortfall(30, 1024).is_none());
        let why = shortfall(50, 1024).unwrap();
        assert!(why.contains("50 web apps fill about 2614 entries"), "{why}");
        assert!(why.contains("which holds 1024"), "{why}");
        assert!(why.contains("room for 30 web apps"), "{why}");
        assert!(
            why.contains("sudo sysctl -w net.ipv4.neigh.default.gc_thresh3=8192 net.ipv4.neigh.default.gc_thresh2=4096 net.ipv4.neigh.default.gc_thresh1=2048"),
            "{why}"
        );
    }

    #[test]
    fn the_fix_makes_room_for_what_was_asked() {
        for webapps in [31, 100, 250] {
            let limit: u64 = fix(webapps)
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{LIMIT}=")))
                .unwrap()
                .parse()
                .unwrap();
            assert!(shortfall(webapps, limit).is_none(), "{webapps}");
            assert!(capacity(limit) >= webapps, "{webapps}");
        }
        assert_eq!(capacity(0), 0);
        assert_eq!(capacity(needed(7)), 7);
        assert_eq!(capacity(needed(7) - 1), 6);
        assert!(capacity(u64::MAX) > 4_000_000_000);
    }
}
