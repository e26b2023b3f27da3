//! What this host has: programs on `PATH`, root, free disk space, kernel
//! modules. Read, never changed.

use std::path::Path;

/// Whether `program` is on `PATH`.
pub fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// Whether labctl runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Free bytes on the file system holding `path`, if it can be read.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs fills the zeroed struct for a valid C path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Whether the running kernel has module `name` loaded or installed.
pub fn kernel_module(name: &str) -> bool {
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
