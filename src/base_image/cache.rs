//! Root file systems made by debootstrap, kept on this machine for a week:
//! the next engine that needs the base (another remote engine, Podman
//! beside Docker, a fresh CI engine) gets it in seconds, not a minute or
//! two of downloads. Keyed by release, architecture and the mirrors it came
//! from; `build --no-cache` makes it again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long a kept root file system is used: its packages are a release's
/// updates as of the day it was made.
pub(super) const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The folder root file systems are kept in: `LABCTL_CACHE_DIR`, else the
/// user's cache folder (`XDG_CACHE_HOME` or `~/.cache`) under `labctl`.
pub(super) fn folder() -> Option<PathBuf> {
    let nonempty = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(dir) = nonempty("LABCTL_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let base = nonempty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("labctl"))
}

/// The file of the root file system of `suite` for `arch` made from
/// `mirror` (and `security`, the security archive, if any).
pub(super) fn file(
    folder: &Path,
    suite: &str,
    arch: &str,
    mirror: &str,
    security: Option<&str>,
) -> PathBuf {
    let source = format!("{mirror}\n{}", security.unwrap_or_default());
    let key = crate::fnv::short_key(source.bytes());
    folder.join(format!("rootfs-{suite}-minbase-{arch}-{key}.tar"))
}

/// A kept root file system at `path` and its age, when there is one young
/// enough.
pub(super) fn read(path: &Path, now: SystemTime) -> Option<(Vec<u8>, Duration)> {
    let made = std::fs::metadata(path).ok()?.modified().ok()?;
    let age = now.duration_since(made).unwrap_or_default();
    if age > MAX_AGE {
        return None;
    }
    Some((std::fs::read(path).ok()?, age))
}

/// Keeps `tar` at `path` (written aside, then renamed into place, so that
/// a reader never finds half a file). The folder is made 0700.
pub(super) fn keep(path: &Path, tar: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)?;
    let aside = folder.join(format!(
        ".{}.{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let written = std::fs::File::create(&aside)
        .and_then(|mut f| f.write_all(tar).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&aside, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&aside);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_per_release_architecture_and_mirrors() {
        let dir = Path::new("/cache");
        let a = file(dir, "bookworm", "amd64", "http://mirror-a/debian", None);
        assert_eq!(a.parent(), Some(dir));
        let name = a.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("rootfs-bookworm-minbase-amd64-"), "{name}");
        assert!(name.ends_with(".tar"), "{name}");
        assert_eq!(
            a,
            file(dir, "bookworm", "amd64", "http://mirror-a/debian", None)
        );
        for other in [
            file(dir, "bookworm", "arm64", "http://mirror-a/debian", None),
            file(dir, "bookworm", "amd64", "http://mirror-b/debian", None),
            file(
                dir,
                "bookworm",
                "amd64",
                "http://mirror-a/debian",
                Some("http://sec/"),
            ),
            file(dir, "trixie", "amd64", "http://mirror-a/debian", None),
        ] {
            assert_ne!(a, other);
        }
    }

    #[test]
    fn a_kept_root_file_system_is_read_back_until_it_is_a_week_old() {
        let dir = std::env::temp_dir().join(format!("labctl-cache-test-{}", std::process::id()));
        let path = file(&dir, "bookworm", "amd64", "http://m/debian", None);
        assert!(read(&path, SystemTime::now()).is_none(), "nothing kept yet");
        keep(&path, b"a root file system").unwrap();
        let (tar, age) = read(&path, SystemTime::now()).unwrap();
        assert_eq!(tar, b"a root file system");
        assert!(age < Duration::from_secs(60));
        let later = SystemTime::now() + MAX_AGE + Duration::from_secs(3600);
        assert!(read(&path, later).is_none(), "too old to use");
        // Kept again (a newer one): replaced whole, nothing left aside.
        keep(&path, b"newer").unwrap();
        assert_eq!(read(&path, SystemTime::now()).unwrap().0, b"newer");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
