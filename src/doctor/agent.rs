//! Doctor's look at the agent (see [`crate::agent`]): where `up` will take
//! it from for the engine's platform (or `--platform`'s), and whether that
//! will work, without building anything.

use std::path::PathBuf;

use super::{check, Check, Level};
use crate::agent::{self, Kind, Source};
use crate::platform::Arch;

/// What was found of the agent.
#[derive(Debug, Clone)]
pub(super) struct AgentFacts {
    /// The architecture the lab's nodes run.
    pub arch: Arch,
    /// `LABCTL_AGENT`, and why it does not fit, if it does not.
    pub given: Option<(PathBuf, Option<String>)>,
    /// What the running labctl is.
    pub running: Kind,
    /// Whether labctl's source is there to build from.
    pub source: bool,
    /// Whether the Rust target is installed (`None`: rustc not found).
    pub target_installed: Option<bool>,
    /// Whether rustup may install a missing target by itself.
    pub auto_install: bool,
    /// Whether an agent was built already.
    pub built: bool,
}

/// The verdict on the agent.
pub(super) fn agent_check(f: &AgentFacts) -> Check {
    const NAME: &str = "agent";
    if let Some((path, unfit)) = &f.given {
        return match unfit {
            None => check(
                NAME,
                Level::Ok,
                format!(
                    "LABCTL_AGENT `{}`, a static Linux program for {}",
                    path.display(),
                    f.arch.uname()
                ),
                None,
            ),
            Some(why) => check(
                NAME,
                Level::Fail,
                format!("LABCTL_AGENT: {why}"),
                Some("unset LABCTL_AGENT, or point it at a static labctl for the engine"),
            ),
        };
    }
    let target = match agent::choose(f.running, f.arch) {
        Source::Running => {
            return check(
                NAME,
                Level::Ok,
                format!(
                    "labctl itself, a static Linux program for {}",
                    f.arch.uname()
                ),
                None,
            )
        }
        Source::Build(target) => target,
    };
    if !f.source {
        return check(
            NAME,
            Level::Fail,
            format!("this labctl cannot run in the images, and its source is not here to build one for {target}"),
            Some("build it in labctl's repository (`cargo build --profile agent --target <target>`) and point LABCTL_AGENT at it"),
        );
    }
    if f.built {
        return check(
            NAME,
            Level::Ok,
            format!("built from labctl's source for {target} (`target/agent`); rebuilt when the source changes"),
            None,
        );
    }
    match f.target_installed {
        Some(false) if !f.auto_install => Check {
            name: NAME,
            level: Level::Fail,
            found: format!("the Rust target {target} is not installed, and the agent is built for it"),
            fix: Some(format!("rustup target add {target}")),
        },
        None => check(
            NAME,
            Level::Fail,
            format!("no Rust toolchain found to build the agent for {target}"),
            Some("install Rust (https://rustup.rs), or point LABCTL_AGENT at a static labctl for the engine"),
        ),
        _ => check(
            NAME,
            Level::Note,
            format!("`up` builds it once from labctl's source for {target} (a few minutes; rustup adds the target if it is missing)"),
            None,
        ),
    }
}

/// Finds the facts: reads files and asks rustc where its targets are;
/// builds nothing.
pub(super) fn agent_facts(arch: Arch) -> AgentFacts {
    let given = std::env::var_os("LABCTL_AGENT").map(|p| {
        let path = PathBuf::from(p);
        let why = match std::fs::read(&path) {
            Ok(bytes) => agent::unfit(&bytes, &path.display().to_string(), arch),
            Err(e) => Some(format!("cannot read `{}`: {e}", path.display())),
        };
        (path, why)
    });
    let running = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::read(p).ok())
        .map_or(Kind::Unknown, |b| agent::kind(&b));
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = arch.musl_target();
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    AgentFacts {
        arch,
        given,
        running,
        source: source.join("Cargo.toml").is_file(),
        target_installed: sysroot.map(|s| s.join("lib/rustlib").join(target).is_dir()),
        auto_install: std::env::var("RUSTUP_AUTO_INSTALL").map_or(true, |v| v != "0"),
        built: agent::built_path(&source, target).is_file(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> AgentFacts {
        AgentFacts {
            arch: Arch::Arm64,
            given: None,
            running: Kind::MachO,
            source: true,
            target_installed: Some(true),
            auto_install: false,
            built: false,
        }
    }

    #[test]
    fn each_way_to_the_agent_gets_its_verdict() {
        let c = agent_check(&facts());
        assert_eq!(c.level, Level::Note);
        assert!(c
            .found
            .contains("builds it once from labctl's source for aarch64-unknown-linux-musl"));
        let c = agent_check(&AgentFacts {
            target_installed: Some(false),
            ..facts()
        });
        assert_eq!(c.level, Level::Fail);
        assert_eq!(
            c.fix.as_deref(),
            Some("rustup target add aarch64-unknown-linux-musl")
        );
        let c = agent_check(&AgentFacts {
            target_installed: Some(false),
            auto_install: true,
            ..facts()
        });
        assert_eq!(c.level, Level::Note);
        let c = agent_check(&AgentFacts {
            source: false,
            ..facts()
        });
        assert_eq!(c.level, Level::Fail);
        assert!(c.fix.unwrap().contains("LABCTL_AGENT"));
        let c = agent_check(&AgentFacts {
            built: true,
            ..facts()
        });
        assert_eq!(c.level, Level::Ok);
        let running = Kind::Elf {
            machine: Arch::Arm64.elf_machine(),
            is_static: true,
        };
        let c = agent_check(&AgentFacts {
            running,
            source: false,
            ..facts()
        });
        assert_eq!(
            (c.level, c.found.as_str()),
            (
                Level::Ok,
                "labctl itself, a static Linux program for aarch64"
            )
        );
        let given = Some((
            PathBuf::from("/x"),
            Some("`/x` is a macOS (Mach-O) program".to_string()),
        ));
        let c = agent_check(&AgentFacts { given, ..facts() });
        assert_eq!(c.level, Level::Fail);
        assert!(c.found.starts_with("LABCTL_AGENT: `/x` is a macOS"));
    }
}
