use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::*;

fn temp_lock(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("labctl-lock-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn a_held_lock_is_not_taken_twice_names_its_holder_and_goes_with_it() {
    let path = temp_lock("held");
    let first = FileLock::try_acquire(&path, "process 1 (`labctl up`)").unwrap();
    assert!(first.is_some());
    assert!(FileLock::try_acquire(&path, "x").unwrap().is_none());
    assert_eq!(holder_of(&path).as_deref(), Some("process 1 (`labctl up`)"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode & 0o022, 0, "others may not write it: {mode:o}");
    drop(first);
    assert!(!path.exists(), "the holder removes its lock file");
    assert_eq!(holder_of(&path), None);
    let again = FileLock::try_acquire(&path, "y").unwrap();
    assert!(again.is_some());
    drop(again);
}

#[test]
fn a_symbolic_link_at_the_lock_path_is_refused_and_its_target_untouched() {
    let path = temp_lock("link");
    let target = temp_lock("link-target");
    std::fs::write(&target, "precious").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let err = FileLock::try_acquire(&path, "x").err().unwrap().to_string();
    assert!(err.contains("is a symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
    // A dangling link too: nothing is created where it points.
    std::fs::remove_file(&target).unwrap();
    assert!(FileLock::try_acquire(&path, "x").is_err());
    assert!(!target.exists());
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn two_engines_with_one_lab_name_have_two_locks() {
    let a = LabLock::new("engine-A-id", "demo", Duration::from_secs(1));
    let b = LabLock::new("engine-B-id", "demo", Duration::from_secs(1));
    assert_ne!(a.path(), b.path());
    assert_eq!(
        a.path(),
        LabLock::new("engine-A-id", "demo", Duration::ZERO).path()
    );
    assert_ne!(
        a.path(),
        LabLock::cluster("engine-A-id", "demo", Duration::ZERO).path()
    );
    let _a = FileLock::try_acquire(a.path(), "engine A's")
        .unwrap()
        .unwrap();
    // Another process on engine B is not held up by engine A's lab.
    let other_b = FileLock::try_acquire(b.path(), "other").unwrap();
    assert!(other_b.is_some());
    drop(other_b);
    // Engine A's lab is busy for any other process.
    assert!(FileLock::try_acquire(a.path(), "other").unwrap().is_none());
}

#[test]
fn no_lab_name_meets_the_clusters_or_the_images_lock() {
    for lab in ["images", "cluster.demo"] {
        let lab = LabLock::new("engine", lab, Duration::ZERO);
        assert_ne!(lab.path(), LabLock::images("engine", Duration::ZERO).path());
        assert_ne!(
            lab.path(),
            LabLock::cluster("engine", "demo", Duration::ZERO).path()
        );
    }
}

/// The child side of the two-user test: runs as another user, told what
/// to do by `LABCTL_LOCK_CHILD`.
#[test]
#[ignore = "run by two_users_wait_for_each_other as another user"]
fn lock_child() {
    let Ok(mode) = std::env::var("LABCTL_LOCK_CHILD") else {
        return;
    };
    let path = PathBuf::from(std::env::var("LABCTL_LOCK_PATH").unwrap());
    match mode.as_str() {
        "try" => match FileLock::try_acquire(&path, "child") {
            Ok(None) => println!("busy:{}", holder_of(&path).unwrap_or_default()),
            Ok(Some(_)) => println!("took"),
            Err(e) => println!("error:{e:#}"),
        },
        "hold" => {
            let held = FileLock::try_acquire(&path, "child-holder").unwrap();
            println!("{}", if held.is_some() { "held" } else { "busy" });
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
            drop(held);
            println!("released");
        }
        _ => panic!("unknown mode {mode}"),
    }
}

/// Runs `lock_child` in `mode` as user nobody (as this user when not
/// root), from a copy of the test binary any user may run.
fn child(exe: &Path, mode: &str, path: &Path) -> std::process::Child {
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "lock::tests::lock_child",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("LABCTL_LOCK_CHILD", mode)
    .env("LABCTL_LOCK_PATH", path)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    if crate::host::is_root() {
        cmd.uid(65534).gid(65534);
    }
    cmd.spawn().unwrap()
}

/// The next answer the child printed (the test harness may print its
/// own words before it on the line).
fn answer(child: &mut std::process::Child) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return String::new();
        }
        let found = ["busy", "took", "held", "error", "released"]
            .iter()
            .filter_map(|w| line.find(w))
            .min();
        if let Some(at) = found {
            return line[at..].trim().to_string();
        }
    }
}

/// A copy of this test binary that any user may run, removed when done.
struct Copy(PathBuf);

impl Drop for Copy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn two_users_wait_for_each_other() {
    let exe =
        Copy(std::env::temp_dir().join(format!("labctl-lock-test-bin-{}", std::process::id())));
    std::fs::copy(std::env::current_exe().unwrap(), &exe.0).unwrap();
    std::fs::set_permissions(&exe.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = exe.0.clone();
    let path = temp_lock("users");

    // This user holds it: the other waits, and can tell who holds it.
    let mine = FileLock::try_acquire(&path, "root-holder")
        .unwrap()
        .unwrap();
    let mut c = child(&exe, "try", &path);
    assert_eq!(answer(&mut c), "busy:root-holder");
    c.wait().unwrap();
    drop(mine);

    // The other user holds it: this one waits, then takes it once freed.
    let mut c = child(&exe, "hold", &path);
    assert_eq!(answer(&mut c), "held");
    assert!(FileLock::try_acquire(&path, "root").unwrap().is_none());
    assert_eq!(holder_of(&path).as_deref(), Some("child-holder"));
    c.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    c.wait().unwrap();
    let again = FileLock::try_acquire(&path, "root").unwrap();
    assert!(again.is_some(), "freed by the other user");
    drop(again);

    // A file left by a holder that died (not the other user's to remove)
    // still locks, read-only.
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut c = child(&exe, "try", &path);
    assert_eq!(answer(&mut c), "took");
    c.wait().unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn holders_coming_and_going_never_share_the_lock_nor_fail() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let path = temp_lock("churn");
    let inside = AtomicUsize::new(0);
    let taken = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (path, inside, taken) = (&path, &inside, &taken);
            scope.spawn(move || {
                for _ in 0..150 {
                    // Every open, lock, check, write and removal must hold
                    // while the others remove the file under it.
                    if let Some(held) = FileLock::try_acquire(path, &format!("t{t}")).unwrap() {
                        assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        taken.fetch_add(1, Ordering::SeqCst);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(held);
                    }
                }
            });
        }
    });
    assert!(taken.load(Ordering::SeqCst) > 0);
    assert!(!path.exists(), "the last holder removed it");
}
