//! The agent: labctl's own code inside the lab's images (the Serf event
//! handler, the watcher, the web app). It must be a static Linux program of
//! the engine's architecture, which the labctl that runs on the user's
//! machine often is not (a macOS program, a Linux program linked to the
//! host's C library, another architecture). This module decides where the
//! agent comes from, checks it, and builds it from labctl's source when it
//! has to.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::output::Progress;
use crate::platform::Arch;

/// What a program file is, as far as the lab's images care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A 64-bit little-endian ELF program: its machine, and whether it is
    /// static (no dynamic loader asked for).
    Elf { machine: u16, is_static: bool },
    /// A macOS program.
    MachO,
    /// A Windows program.
    Pe,
    /// Anything else.
    Unknown,
}

/// Reads a program's kind from its first bytes (and its program headers).
pub(crate) fn kind(bytes: &[u8]) -> Kind {
    const MACH_O: [[u8; 4]; 5] = [
        [0xcf, 0xfa, 0xed, 0xfe], // 64-bit, little-endian
        [0xce, 0xfa, 0xed, 0xfe], // 32-bit, little-endian
        [0xfe, 0xed, 0xfa, 0xcf], // 64-bit, big-endian
        [0xfe, 0xed, 0xfa, 0xce], // 32-bit, big-endian
        [0xca, 0xfe, 0xba, 0xbe], // universal (fat)
    ];
    let head = bytes.get(..4).unwrap_or(&[]);
    if MACH_O.iter().any(|m| head == m) {
        return Kind::MachO;
    }
    if bytes.starts_with(b"MZ") {
        return Kind::Pe;
    }
    if !bytes.starts_with(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return Kind::Unknown;
    }
    let machine = bytes
        .get(0x12..0x14)
        .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    Kind::Elf {
        machine,
        is_static: !has_interpreter(bytes),
    }
}

/// Whether a 64-bit little-endian ELF file asks for a dynamic loader
/// (has a PT_INTERP program header).
pub(crate) fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let u16_at = |o: usize| elf.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) || elf.get(4) != Some(&2) {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    (0..usize::from(phnum)).any(|i| {
        usize::try_from(phoff)
            .ok()
            .and_then(|off| u32_at(off + i * usize::from(phentsize)))
            == Some(PT_INTERP)
    })
}

/// Why `bytes` (the program `name`) cannot be the agent on `arch`, if it
/// cannot.
pub(crate) fn unfit(bytes: &[u8], name: &str, arch: Arch) -> Option<String> {
    let want = format!("a static Linux program for {}", arch.uname());
    match kind(bytes) {
        Kind::Elf { machine, is_static } if machine == arch.elf_machine() => {
            (!is_static).then(|| format!("`{name}` is linked dynamically; the images need {want}"))
        }
        Kind::Elf { machine, .. } => {
            let is = Arch::ALL
                .into_iter()
                .find(|a| a.elf_machine() == machine)
                .map_or_else(|| format!("machine {machine}"), |a| a.uname().to_string());
            Some(format!(
                "`{name}` is a Linux program for {is}; the engine runs {}, so the images need {want}",
                arch.uname()
            ))
        }
        Kind::MachO => Some(format!(
            "`{name}` is a macOS (Mach-O) program; the images need {want}"
        )),
        Kind::Pe => Some(format!(
            "`{name}` is a Windows (PE) program; the images need {want}"
        )),
        Kind::Unknown => Some(format!(
            "`{name}` is not an ELF program; the images need {want}"
        )),
    }
}

/// Where the agent comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// The running labctl: it already is a static Linux program of the
    /// engine's architecture.
    Running,
    /// A build of labctl's source for this Rust target.
    Build(&'static str),
}

/// Where the agent for an engine of `engine` comes from, given what the
/// running labctl is (`running`, its kind).
pub(crate) fn choose(running: Kind, engine: Arch) -> Source {
    match running {
        Kind::Elf {
            machine,
            is_static: true,
        } if machine == engine.elf_machine() => Source::Running,
        _ => Source::Build(engine.musl_target()),
    }
}

/// The agent for `arch`: the file `LABCTL_AGENT` names, else the running
/// labctl when it fits, else a build of labctl's source (made once, then
/// up to date in a second). Refused, with the fix, when it does not fit.
pub(crate) fn for_arch(arch: Arch, progress: &Progress) -> Result<Vec<u8>> {
    if let Some(path) = std::env::var_os("LABCTL_AGENT") {
        let path = PathBuf::from(path);
        let bytes = read(&path)?;
        if let Some(why) = unfit(&bytes, &path.display().to_string(), arch) {
            bail!(
                "LABCTL_AGENT: {why}; build one with `cargo build --profile agent --target {}` \
                 in labctl's repository and point LABCTL_AGENT at it, or unset it",
                arch.musl_target()
            );
        }
        return Ok(bytes);
    }
    let exe = std::env::current_exe().context("finding the labctl binary")?;
    let running = read(&exe)?;
    match choose(kind(&running), arch) {
        Source::Running => Ok(running),
        Source::Build(target) => {
            let built = build(target, progress)?;
            let bytes = read(&built)?;
            if let Some(why) = unfit(&bytes, &built.display().to_string(), arch) {
                bail!("the agent built for {target} does not fit: {why}");
            }
            Ok(bytes)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading `{}`", path.display()))
}

/// labctl's source, where this labctl was built from (when it is still
/// there).
fn source_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    (dir.join("Cargo.toml").is_file() && dir.join("src/main.rs").is_file()).then_some(dir)
}

/// The command that builds the agent for `target` from `source`, into a
/// target folder of its own (a `cargo test` that runs labctl holds the
/// main one).
pub(crate) fn build_command(source: &Path, target: &str) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(source)
        .args([
            "build",
            "--profile",
            "agent",
            "--locked",
            "--target",
            target,
        ])
        .env("CARGO_TARGET_DIR", source.join("target/agent"))
        // Static by nature, and linked by the linker every Rust toolchain
        // ships (as .cargo/config.toml says for a build by hand): nothing
        // to install but the target itself.
        .env(
            format!(
                "CARGO_TARGET_{}_LINKER",
                target.to_ascii_uppercase().replace('-', "_")
            ),
            "rust-lld",
        );
    cmd
}

/// Builds the agent for `target` from labctl's source; returns its path.
fn build(target: &'static str, progress: &Progress) -> Result<PathBuf> {
    let Some(source) = source_dir() else {
        bail!(
            "this labctl is not a static Linux program for the engine, and its source is not \
             at `{}` to build one from: build the agent with `cargo build --profile agent --target \
             {target}` in labctl's repository and point LABCTL_AGENT at \
             `target/{target}/agent/labctl`",
            env!("CARGO_MANIFEST_DIR")
        );
    };
    // Up to date in a fraction of a second, usually: said only when it
    // took long enough to notice.
    progress.set(format!(
        "the agent for {target}: cargo build in `{}` (the first time takes minutes)",
        source.display()
    ));
    let started = std::time::Instant::now();
    let out = build_command(&source, target)
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "running cargo to build the agent for {target}: install Rust (https://rustup.rs) \
                 or point LABCTL_AGENT at a static labctl for the engine"
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let missing = stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
            || stderr.contains("can't find crate for `std`");
        let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        if missing {
            bail!(
                "the Rust target {target} is not installed, so the agent cannot be built: run \
                 `rustup target add {target}` (rustup does it by itself where it may install \
                 what rust-toolchain.toml names)"
            );
        }
        bail!(
            "building the agent for {target} failed:\n{}",
            tail.join("\n")
        );
    }
    if started.elapsed() > std::time::Duration::from_secs(2) {
        progress.info(format!(
            "built the agent for {target} from `{}` in {:.1} s",
            source.display(),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(built_path(&source, target))
}

/// Where the agent for `target` is built from `source`.
pub(crate) fn built_path(source: &Path, target: &str) -> PathBuf {
    source
        .join("target/agent")
        .join(target)
        .join("agent/labctl")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF header for `machine`, static
    /// (no program headers).
    fn elf(machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        b
    }

    #[test]
    fn formats_are_told_apart() {
        assert_eq!(
            kind(&elf(62)),
            Kind::Elf {
                machine: 62,
                is_static: true
            }
        );
        assert_eq!(kind(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]), Kind::MachO);
        assert_eq!(kind(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]), Kind::MachO);
        assert_eq!(kind(b"MZ\x90\x00\x03\x00\x00\x00"), Kind::Pe);
        assert_eq!(kind(b"#!/bin/sh\n"), Kind::Unknown);
        assert_eq!(kind(b""), Kind::Unknown);
    }

    #[test]
    fn what_cannot_be_the_agent_is_refused_with_why() {
        assert_eq!(unfit(&elf(62), "a", Arch::Amd64), None);
        assert_eq!(unfit(&elf(183), "a", Arch::Arm64), None);
        assert_eq!(
            unfit(&elf(62), "labctl", Arch::Arm64).unwrap(),
            "`labctl` is a Linux program for x86_64; the engine runs aarch64, so the images \
             need a static Linux program for aarch64"
        );
        assert!(unfit(&elf(183), "labctl", Arch::Amd64)
            .unwrap()
            .contains("for aarch64; the engine runs x86_64"));
        assert_eq!(
            unfit(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1], "labctl", Arch::Arm64).unwrap(),
            "`labctl` is a macOS (Mach-O) program; the images need a static Linux program for \
             aarch64"
        );
        assert!(unfit(b"MZ\x90\x00", "labctl.exe", Arch::Amd64)
            .unwrap()
            .contains("is a Windows (PE) program"));
        assert!(unfit(b"hello", "x", Arch::Amd64)
            .unwrap()
            .contains("is not an ELF program"));
        // A dynamically linked program of the host is told apart.
        let ls = std::fs::read("/bin/ls").unwrap();
        assert!(has_interpreter(&ls));
        assert!(!has_interpreter(b"not an elf"));
        // The running test binary is linked dynamically (the host's C
        // library): refused for its own architecture too.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let arch = Arch::of_labctl().unwrap();
        assert!(unfit(&me, "me", arch)
            .unwrap()
            .contains("linked dynamically"));
    }

    #[test]
    fn the_agent_is_chosen_for_every_host_and_engine() {
        // The running labctl, as each host builds it by default.
        let hosts = [
            ("linux x86_64, glibc", kind(&dynamic(62))),
            ("linux aarch64, glibc", kind(&dynamic(183))),
            ("linux x86_64, musl", kind(&elf(62))),
            ("linux aarch64, musl", kind(&elf(183))),
            ("macOS arm64", Kind::MachO),
            ("macOS x86_64", Kind::MachO),
            ("Windows x86_64", Kind::Pe),
        ];
        for (host, running) in hosts {
            for engine in Arch::ALL {
                let want = match (host, engine) {
                    ("linux x86_64, musl", Arch::Amd64) | ("linux aarch64, musl", Arch::Arm64) => {
                        Source::Running
                    }
                    _ => Source::Build(engine.musl_target()),
                };
                assert_eq!(choose(running, engine), want, "{host} → {engine:?}");
            }
        }
    }

    /// An ELF header that asks for a dynamic loader (one PT_INTERP header).
    fn dynamic(machine: u16) -> Vec<u8> {
        let mut b = elf(machine);
        b.resize(64 + 56, 0);
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        b[64..68].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        b
    }

    #[test]
    fn the_agent_build_uses_the_targets_own_linker_and_folder() {
        let cmd = build_command(Path::new("/src"), "aarch64-unknown-linux-musl");
        let envs: Vec<(String, String)> = cmd
            .get_envs()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.map(|v| v.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        assert!(envs.contains(&(
            "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER".into(),
            "rust-lld".into()
        )));
        assert!(envs.contains(&("CARGO_TARGET_DIR".into(), "/src/target/agent".into())));
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "build",
                "--profile",
                "agent",
                "--locked",
                "--target",
                "aarch64-unknown-linux-musl"
            ]
        );
    }
}
