//! Checks, before any work, that labctl may write where it was told to: a
//! run of several minutes must not end on a folder it cannot create.

use std::path::{Path, PathBuf};

/// The nearest folder at or above `path` that exists.
fn nearest_existing(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut at = path.as_path();
    loop {
        if std::fs::symlink_metadata(at).is_ok() {
            return at.to_path_buf();
        }
        match at.parent() {
            Some(p) => at = p,
            None => return PathBuf::from("/"),
        }
    }
}

/// Whether a file can be made in folder `dir` (tried, then removed).
fn can_create_in(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!(".labctl-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!("cannot write in `{}`: {e}", dir.display())),
    }
}

/// Checks that folder `path` (given with `option`) can be made or written
/// into.
pub(crate) fn dir(path: &Path, option: &str) -> Result<(), String> {
    let fix = format!("give {option} a folder you can write to");
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            return Err(format!(
                "`{}` is a file, not a folder; {fix}",
                path.display()
            ))
        }
        Ok(_) => return can_create_in(path).map_err(|e| format!("{e}; {fix}")),
        Err(_) => {}
    }
    let base = nearest_existing(path);
    if !base.is_dir() {
        return Err(format!(
            "`{}` cannot be made: `{}` is a file, not a folder; {fix}",
            path.display(),
            base.display()
        ));
    }
    can_create_in(&base).map_err(|e| format!("`{}` cannot be made: {e}; {fix}", path.display()))
}

/// Checks that file `path` (given with `option`) can be written.
pub(crate) fn file(path: &Path, option: &str) -> Result<(), String> {
    let fix = format!("give {option} a file path you can write to");
    if let Ok(meta) = std::fs::metadata(path) {
        if !meta.is_file() {
            return Err(format!("`{}` is not a regular file; {fix}", path.display()));
        }
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir(parent, option).map_err(|e| format!("`{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_files_that_cannot_be_written_are_named() {
        let tmp = std::env::temp_dir().join(format!("labctl-writable-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).unwrap();
        assert_eq!(dir(&tmp.join("a/b/c"), "--out"), Ok(()));
        assert!(!tmp.join("a").exists(), "a check makes nothing");
        let file_there = tmp.join("f");
        std::fs::write(&file_there, "x").unwrap();
        let err = dir(&file_there, "--out").unwrap_err();
        assert!(err.contains("is a file, not a folder"), "{err}");
        let err = dir(&file_there.join("sub"), "--out").unwrap_err();
        assert!(err.contains("cannot be made"), "{err}");
        // /proc refuses new files even to root.
        let err = dir(Path::new("/proc/labctl-out"), "--out").unwrap_err();
        assert!(err.contains("cannot write in `/proc`"), "{err}");
        assert_eq!(file(&tmp.join("junit.xml"), "--junit"), Ok(()));
        let err = file(&tmp, "--junit").unwrap_err();
        assert!(err.contains("is not a regular file"), "{err}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
