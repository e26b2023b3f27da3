//! Making the base image when it cannot be pulled: a Debian bookworm root
//! file system made with debootstrap from the host's own Debian mirror,
//! imported into the engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::output::Progress;
use crate::platform::Arch;
use crate::runtime::Runtime;

mod cache;

/// The image labctl makes, as repository and tag.
pub(crate) const MADE_REPO: &str = "labctl/debian";
/// Its tag.
pub(crate) const MADE_TAG: &str = "bookworm-minbase";
/// The Debian release the lab's images use.
const SUITE: &str = "bookworm";

/// The name of the base image labctl makes: for the engine's own
/// architecture, or for another one run under emulation.
pub(crate) fn made_name(foreign: Option<Arch>) -> String {
    match foreign {
        None => format!("{MADE_REPO}:{MADE_TAG}"),
        Some(arch) => format!("{MADE_REPO}:{MADE_TAG}-{}", arch.docker()),
    }
}

/// The Debian archives named in an apt configuration: `(uri, suites)` from
/// one-line `deb` entries and deb822 stanzas.
pub(crate) fn apt_sources(files: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    for (path, text) in files {
        if path.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
                };
                let enabled = field("Enabled:").is_none_or(|v| v != "no");
                let is_deb =
                    field("Types:").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
                if let (true, true, Some(uris), Some(suites)) =
                    (enabled, is_deb, field("URIs:"), field("Suites:"))
                {
                    let suites: Vec<String> = suites.split_whitespace().map(String::from).collect();
                    for uri in uris.split_whitespace() {
                        found.push((uri.to_string(), suites.clone()));
                    }
                }
            }
        } else {
            for line in text.lines().map(str::trim) {
                let mut words = line.split_whitespace().peekable();
                if words.next() != Some("deb") {
                    continue;
                }
                if words.peek().is_some_and(|w| w.starts_with('[')) {
                    for w in words.by_ref() {
                        if w.ends_with(']') {
                            break;
                        }
                    }
                }
                if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                    found.push((uri.to_string(), vec![suite.to_string()]));
                }
            }
        }
    }
    found
}

/// The mirror to bootstrap from: the first archive that serves the release
/// itself (not only its security updates).
pub(crate) fn mirror_from(sources: &[(String, Vec<String>)]) -> Option<String> {
    sources
        .iter()
        .find(|(_, suites)| suites.iter().any(|s| s == SUITE || s == "stable"))
        .map(|(uri, _)| uri.clone())
}

/// The security archive, if the host has one for the release.
fn security_from(sources: &[(String, Vec<String>)]) -> Option<String> {
    sources
        .iter()
        .find(|(_, suites)| suites.iter().any(|s| s == &format!("{SUITE}-security")))
        .map(|(uri, _)| uri.clone())
}

fn read_host_apt() -> Vec<(String, String)> {
    let mut files = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        files.push(("/etc/apt/sources.list".to_string(), t));
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let name = p.display().to_string();
            if name.ends_with(".list") || name.ends_with(".sources") {
                if let Ok(t) = std::fs::read_to_string(&p) {
                    files.push((name, t));
                }
            }
        }
    }
    files
}

/// Makes the base image and returns its name: from the root file system
/// debootstrap made on this machine within the week for the same release,
/// architecture and mirrors, unless `fresh`; else with debootstrap (and
/// that root file system is kept for the next engine).
pub(crate) async fn make(
    runtime: &dyn Runtime,
    mirror: Option<&str>,
    foreign: Option<Arch>,
    fresh: bool,
    progress: &Progress,
) -> Result<String> {
    let sources = read_host_apt();
    let mirror = match mirror {
        Some(m) => m.to_string(),
        None => mirror_from(&apt_sources(&sources)).context(
            "no Debian mirror found in this host's apt configuration (/etc/apt/sources.list, \
             /etc/apt/sources.list.d); name one with --mirror URL",
        )?,
    };
    let security = security_from(&apt_sources(&sources));
    let name = made_name(foreign);
    let arch = foreign.or(Arch::of_labctl()).map_or("native", Arch::docker);
    let kept = cache::folder().map(|f| cache::file(&f, SUITE, arch, &mirror, security.as_deref()));
    let found = kept
        .as_deref()
        .filter(|_| !fresh)
        .and_then(|path| Some((path, cache::read(path, std::time::SystemTime::now())?)));
    if let Some((path, (tar, age))) = found {
        progress.info(format!(
            "making base image {name} from the root file system debootstrap made here {} ago \
             (`{}`; `labctl build --no-cache` makes it again)",
            age_words(age),
            path.display()
        ));
        import(runtime, tar, foreign, progress).await?;
        return Ok(name);
    }
    if !crate::host::is_root() {
        bail!(
            "making the base image needs root (debootstrap creates device files and sets owners); \
             run `sudo labctl build` once, or load a base image and pass it with --base"
        );
    }
    if !crate::host::which("debootstrap") {
        bail!(
            "the base image must be made here, but debootstrap is not installed; install it \
             (`apt-get install debootstrap`) or load a base image and pass it with --base"
        );
    }
    if let Some(arch) = foreign {
        check_emulation(arch)?;
    }
    progress.info(format!(
        "making base image {name}: debootstrap {SUITE} (minbase{}) from {mirror}; this takes a \
         minute or two{}",
        foreign.map_or_else(String::new, |a| format!(", {}", a.docker())),
        if foreign.is_some() {
            ", longer under emulation"
        } else {
            ""
        }
    ));
    let root = std::env::temp_dir().join(format!("labctl-rootfs-{}", std::process::id()));
    let result = bootstrap(&root, &mirror, security.as_deref(), foreign, progress).await;
    let _ = std::fs::remove_dir_all(&root);
    let tar = result?;
    if let Some(path) = &kept {
        if let Err(e) = cache::keep(path, &tar) {
            progress.info(format!(
                "the root file system is not kept for the next engine (`{}`: {e})",
                path.display()
            ));
        }
    }
    import(runtime, tar, foreign, progress).await?;
    Ok(name)
}

/// An age in the largest unit that says it.
fn age_words(age: std::time::Duration) -> String {
    let minutes = age.as_secs() / 60;
    match minutes {
        0 => "less than a minute".to_string(),
        1..=89 => format!("{minutes} min"),
        90..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// Where the kernel keeps its registered emulators.
const BINFMT: &str = "/proc/sys/fs/binfmt_misc";

/// Checks that this host runs `arch` programs (qemu registered with the
/// kernel), which debootstrap's second stage and the image builds need.
fn check_emulation(arch: Arch) -> Result<()> {
    if Arch::of_labctl() == Some(arch) {
        return Ok(());
    }
    let entry = Path::new(BINFMT).join(format!("qemu-{}", arch.uname()));
    let enabled = std::fs::read_to_string(&entry).is_ok_and(|t| t.starts_with("enabled"));
    if !enabled {
        bail!(
            "this host cannot run {} programs, which making a {} base image needs: install \
             qemu's emulation (`apt-get install qemu-user-static binfmt-support`), then \
             `update-binfmts --enable qemu-{}` (mount `{BINFMT}` first if it is empty)",
            arch.uname(),
            arch.docker(),
            arch.uname()
        );
    }
    Ok(())
}

/// Makes the root file system at `root` with debootstrap and returns it
/// as a tar archive.
async fn bootstrap(
    root: &Path,
    mirror: &str,
    security: Option<&str>,
    foreign: Option<Arch>,
    progress: &Progress,
) -> Result<Vec<u8>> {
    let _ = std::fs::remove_dir_all(root);
    progress.set("debootstrap: downloading and unpacking Debian packages");
    let root_s = root.display().to_string();
    let mirror_s = mirror.to_string();
    let arch = foreign.map(|a| format!("--arch={}", a.docker()));
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("debootstrap");
        cmd.args(arch.as_slice());
        cmd.args(["--variant=minbase", SUITE, &root_s, &mirror_s])
            .stdin(Stdio::null())
            .output()
    })
    .await?
    .context("running debootstrap")?;
    if !out.status.success() {
        let log = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = log
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        bail!(
            "debootstrap failed from mirror {mirror}:\n{}\n{}\ncheck the mirror (--mirror URL) and the network",
            tail.join("\n"),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    slim_down(root, mirror, security)?;
    progress.set("packing the new root file system");
    let root_s = root.display().to_string();
    let tar = tokio::task::spawn_blocking(move || {
        Command::new("tar")
            .args([
                "--numeric-owner",
                "--exclude=./dev/*",
                "-C",
                &root_s,
                "-cf",
                "-",
                ".",
            ])
            .stderr(Stdio::inherit())
            .output()
    })
    .await?
    .context("running tar on the new root file system")?;
    anyhow::ensure!(tar.status.success(), "tar failed on `{}`", root.display());
    Ok(tar.stdout)
}

/// Imports the root file system `tar` into the engine as the base image.
async fn import(
    runtime: &dyn Runtime,
    tar: Vec<u8>,
    foreign: Option<Arch>,
    progress: &Progress,
) -> Result<()> {
    progress.set("importing the base image into the engine");
    let name = made_name(foreign);
    match foreign {
        None => {
            runtime
                .import_rootfs(
                    tar,
                    MADE_REPO,
                    MADE_TAG,
                    &[
                        format!("LABEL {}=base", crate::labels::IMAGE),
                        format!("LABEL {}=true", crate::labels::MANAGED),
                        "CMD [\"/bin/bash\"]".to_string(),
                    ],
                )
                .await?;
        }
        // An import takes the engine's own architecture whatever the files
        // are: an image archive says which it is.
        Some(arch) => {
            runtime
                .load_images(image_archive(&name, arch, tar)?)
                .await?;
        }
    }
    progress.info(format!("base image {name} is ready"));
    Ok(())
}

/// An image archive (as `docker save` writes it) of one layer, `rootfs`,
/// tagged `name`, for Linux on `arch`.
pub(crate) fn image_archive(name: &str, arch: Arch, rootfs: Vec<u8>) -> Result<Vec<u8>> {
    use sha2::{Digest, Sha256};
    let hex = |bytes: &[u8]| {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let layer_id = hex(&rootfs);
    let config = serde_json::json!({
        "architecture": arch.docker(),
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Cmd": ["/bin/bash"],
            "Labels": {
                crate::labels::IMAGE: "base",
                crate::labels::MANAGED: "true",
            },
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_id}")]},
        "history": [{
            "created": "1970-01-01T00:00:00Z",
            "created_by": format!("labctl: debootstrap --arch={} --variant=minbase {SUITE}", arch.docker()),
        }],
    })
    .to_string()
    .into_bytes();
    let config_name = format!("{}.json", hex(&config));
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [name],
        "Layers": [format!("{layer_id}/layer.tar")],
    }])
    .to_string()
    .into_bytes();
    let mut archive = tar::Builder::new(Vec::new());
    for (path, data) in [
        (format!("{layer_id}/layer.tar"), rootfs.as_slice()),
        (config_name.clone(), config.as_slice()),
        ("manifest.json".to_string(), manifest.as_slice()),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        archive
            .append_data(&mut header, &path, data)
            .with_context(|| format!("adding `{path}` to the image archive"))?;
    }
    archive.into_inner().context("finishing the image archive")
}

/// Drops what a container does not need (package caches, documentation,
/// translations) and keeps it out of later installs, as Debian's slim
/// images do; points apt at the mirror used.
fn slim_down(root: &Path, mirror: &str, security: Option<&str>) -> Result<()> {
    for dir in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
    ] {
        let path = root.join(dir);
        if let Ok(entries) = std::fs::read_dir(&path) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("var/cache/apt")) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "bin") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let write = |rel: &str, text: String| {
        let p = root.join(rel);
        std::fs::write(&p, text).with_context(|| format!("writing `{}`", p.display()))
    };
    write(
        "etc/dpkg/dpkg.cfg.d/labctl-slim",
        "path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n".into(),
    )?;
    write(
        "etc/apt/apt.conf.d/labctl-slim",
        "APT::Install-Recommends \"false\";\nAPT::Install-Suggests \"false\";\nAcquire::Languages \"none\";\n".into(),
    )?;
    let mut sources = format!("deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\n");
    if let Some(sec) = security {
        sources.push_str(&format!("deb {sec} {SUITE}-security main\n"));
    }
    write("etc/apt/sources.list", sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_root_file_systems_age_in_words() {
        let words = |s: u64| age_words(std::time::Duration::from_secs(s));
        assert_eq!(words(20), "less than a minute");
        assert_eq!(words(5 * 60), "5 min");
        assert_eq!(words(3 * 3600), "3 h");
        assert_eq!(words(3 * 86400), "3 days");
    }

    #[test]
    fn another_architectures_base_is_an_archive_that_says_so() {
        assert_eq!(made_name(None), "labctl/debian:bookworm-minbase");
        assert_eq!(
            made_name(Some(Arch::Arm64)),
            "labctl/debian:bookworm-minbase-arm64"
        );
        let rootfs = b"a root file system".to_vec();
        let archive = image_archive("labctl/debian:x", Arch::Arm64, rootfs.clone()).unwrap();
        let mut entries = std::collections::BTreeMap::new();
        for entry in tar::Archive::new(archive.as_slice()).entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            entries.insert(path, data);
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&entries["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["RepoTags"][0], "labctl/debian:x");
        let layer = manifest[0]["Layers"][0].as_str().unwrap();
        assert_eq!(entries[layer], rootfs);
        let config_name = manifest[0]["Config"].as_str().unwrap();
        let config: serde_json::Value = serde_json::from_slice(&entries[config_name]).unwrap();
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["os"], "linux");
        // The layer's ID is its content's sha256, as the engine checks.
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(&rootfs)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(config["rootfs"]["diff_ids"][0], format!("sha256:{sha}"));
        assert_eq!(layer, format!("{sha}/layer.tar"));
    }

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
            .collect()
    }

    #[test]
    fn reads_deb822_sources() {
        let f = files(&[(
            "/etc/apt/sources.list.d/debian.sources",
            "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
             Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n",
        )]);
        let s = apt_sources(&f);
        assert_eq!(
            mirror_from(&s).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            security_from(&s).as_deref(),
            Some("http://security.example/debian-security")
        );
    }

    #[test]
    fn reads_one_line_sources_and_skips_others() {
        let f = files(&[(
            "/etc/apt/sources.list",
            "# deb http://old.example/debian bookworm main\n\
             deb-src http://src.example/debian bookworm main\n\
             deb [arch=amd64 signed-by=/k.gpg] http://sec.example/debian-security bookworm-security main\n\
             deb http://mirror.example/debian bookworm main contrib\n",
        )]);
        let s = apt_sources(&f);
        assert_eq!(s.len(), 2);
        assert_eq!(
            mirror_from(&s).as_deref(),
            Some("http://mirror.example/debian")
        );
    }

    #[test]
    fn disabled_or_foreign_stanzas_give_no_mirror() {
        let f = files(&[(
            "/etc/apt/sources.list.d/x.sources",
            "Types: deb\nURIs: http://node.example/node\nSuites: nodistro\n\n\
             Enabled: no\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n",
        )]);
        assert_eq!(mirror_from(&apt_sources(&f)), None);
    }
}
