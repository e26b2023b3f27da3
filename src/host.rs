//! What this host has: programs on `PATH`, root, free disk space, kernel
//! modules. Read, never changed.

use std::path::Path;

/// Whether `program` is on `PATH`.
pub(crate) fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Whether labctl runs as root.
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Free bytes on the file system holding `path`, if it can be read.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct for a valid C path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // The field types differ between systems (u64 on Linux, u32 and u64
    // on macOS): widened to u64 on each.
    #[allow(clippy::useless_conversion)]
    let (blocks, size) = (u64::from(st.f_bavail), u64::from(st.f_frsize));
    Some(blocks.saturating_mul(size))
}

/// Whether the running kernel has module `name` loaded or installed.
pub(crate) fn kernel_module(name: &str) -> bool {
    if Path::new("/sys/module").join(name).exists() {
        return true;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let dep = Path::new("/lib/modules")
        .join(release.trim())
        .join("modules.dep");
    std::fs::read_to_string(dep).is_ok_and(|text| {
        text.lines().filter_map(|l| l.split(':').next()).any(|m| {
            m.rsplit('/')
                .next()
                .is_some_and(|f| f.starts_with(&format!("{name}.ko")))
        })
    })
}

/// Whether `ip` is an address published ports can bind to on this host:
/// any address, loopback, or the address of one of its interfaces.
pub(crate) fn can_bind(ip: std::net::IpAddr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() {
        return true;
    }
    local_addresses().contains(&ip)
}

/// The addresses of this host's interfaces.
fn local_addresses() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut at = head;
    while !at.is_null() {
        // SAFETY: `at` is a node of the list getifaddrs returned.
        let entry = unsafe { &*at };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr of the family it names.
            let family = i32::from(unsafe { (*entry.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*entry.ifa_addr.cast::<libc::sockaddr_in>() };
                out.push(std::net::IpAddr::V4(std::net::Ipv4Addr::from(
                    u32::from_be(sin.sin_addr.s_addr),
                )));
            } else if family == libc::AF_INET6 {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let sin6 = unsafe { &*entry.ifa_addr.cast::<libc::sockaddr_in6>() };
                out.push(std::net::IpAddr::V6(std::net::Ipv6Addr::from(
                    sin6.sin6_addr.s6_addr,
                )));
            }
        }
        at = entry.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_any_and_this_hosts_own_addresses_can_be_bound() {
        assert!(can_bind("127.0.0.1".parse().unwrap()));
        assert!(can_bind("0.0.0.0".parse().unwrap()));
        assert!(can_bind("::".parse().unwrap()));
        // TEST-NET-3 (RFC 5737) is never an interface's address.
        assert!(!can_bind("203.0.113.7".parse().unwrap()));
        for ip in local_addresses() {
            assert!(can_bind(ip), "{ip}");
        }
    }
}
