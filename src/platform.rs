//! Where the lab's containers run: `linux/amd64` or `linux/arm64`, spelled
//! as `docker build --platform` and compose spell it. Engines and tools
//! disagree on the words (`x86_64` and `amd64`, `aarch64` and `arm64`);
//! they all come through here.

use std::fmt;

/// A CPU architecture the lab runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arch {
    /// x86_64, amd64.
    Amd64,
    /// aarch64, arm64 (Apple Silicon, Graviton, Raspberry Pi 4 and later).
    Arm64,
}

impl Arch {
    /// Every architecture labctl runs the lab on.
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    /// Reads any of the words engines and tools use: Docker's `/info`
    /// (`x86_64`, `aarch64`, as uname says), its `/version` and Podman
    /// (`amd64`, `arm64`), Rust's (`x86_64`, `aarch64`), and variants
    /// (`arm64/v8`).
    pub fn parse(word: &str) -> Option<Self> {
        match word.trim().to_ascii_lowercase().as_str() {
            "x86_64" | "amd64" | "x86-64" | "x64" => Some(Self::Amd64),
            "aarch64" | "arm64" | "arm64/v8" | "arm64v8" | "armv8" => Some(Self::Arm64),
            _ => None,
        }
    }

    /// The word Docker's platforms and Debian use: `amd64`, `arm64`.
    pub fn docker(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
        }
    }

    /// The word `uname -m` says inside a container: `x86_64`, `aarch64`.
    pub fn uname(self) -> &'static str {
        match self {
            Self::Amd64 => "x86_64",
            Self::Arm64 => "aarch64",
        }
    }

    /// The Rust target of a static Linux binary for it.
    pub fn musl_target(self) -> &'static str {
        match self {
            Self::Amd64 => "x86_64-unknown-linux-musl",
            Self::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// Its number in an ELF header's `e_machine`.
    pub fn elf_machine(self) -> u16 {
        match self {
            Self::Amd64 => 62,
            Self::Arm64 => 183,
        }
    }

    /// The other architecture of the two.
    pub fn other(self) -> Self {
        match self {
            Self::Amd64 => Self::Arm64,
            Self::Arm64 => Self::Amd64,
        }
    }

    /// The architecture labctl itself was built for, if the lab runs on it.
    pub fn of_labctl() -> Option<Self> {
        Self::parse(std::env::consts::ARCH)
    }
}

/// A platform of the lab: Linux on an architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Platform {
    /// Its architecture.
    pub arch: Arch,
}

impl Platform {
    /// Linux on `arch`.
    pub fn linux(arch: Arch) -> Self {
        Self { arch }
    }

    /// Reads `linux/amd64`, `linux/arm64` (also `linux/arm64/v8`,
    /// `linux/x86_64`, `linux/aarch64`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (os, arch) = s.split_once('/').ok_or_else(|| {
            format!(
                "`{s}` is not a platform: write it as docker does, `linux/amd64` or `linux/arm64`"
            )
        })?;
        if os != "linux" {
            return Err(format!(
                "`{s}`: the lab's containers run Linux, so the platform is `linux/amd64` or \
                 `linux/arm64`"
            ));
        }
        Arch::parse(arch)
            .map(Self::linux)
            .ok_or_else(|| format!("`{s}`: labctl runs the lab on `linux/amd64` or `linux/arm64`"))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linux/{}", self.arch.docker())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_architecture_is_read() {
        for word in ["x86_64", "amd64", "AMD64", "x86-64", " x86_64\n"] {
            assert_eq!(Arch::parse(word), Some(Arch::Amd64), "{word}");
        }
        for word in ["aarch64", "arm64", "arm64/v8", "ARM64"] {
            assert_eq!(Arch::parse(word), Some(Arch::Arm64), "{word}");
        }
        for word in ["arm", "armv7l", "riscv64", "ppc64le", "s390x", "386", ""] {
            assert_eq!(Arch::parse(word), None, "{word}");
        }
        assert_eq!(Arch::Amd64.uname(), "x86_64");
        assert_eq!(Arch::Arm64.docker(), "arm64");
        assert_eq!(Arch::Arm64.musl_target(), "aarch64-unknown-linux-musl");
    }

    #[test]
    fn platforms_are_spelled_as_docker_spells_them() {
        assert_eq!(
            Platform::parse("linux/arm64"),
            Ok(Platform::linux(Arch::Arm64))
        );
        assert_eq!(
            Platform::parse("linux/x86_64"),
            Ok(Platform::linux(Arch::Amd64))
        );
        assert_eq!(
            Platform::parse("linux/arm64/v8"),
            Ok(Platform::linux(Arch::Arm64))
        );
        assert_eq!(Platform::linux(Arch::Amd64).to_string(), "linux/amd64");
        assert!(Platform::parse("arm64")
            .unwrap_err()
            .contains("`linux/arm64`"));
        assert!(Platform::parse("darwin/arm64")
            .unwrap_err()
            .contains("run Linux"));
        assert!(Platform::parse("linux/riscv64")
            .unwrap_err()
            .contains("`linux/amd64` or `linux/arm64`"));
    }
}
