//! The lab's stages (tasks 0 to 6): which services each role runs and what
//! the balancer does on a membership event. One image per role serves every
//! stage; the stage is a runtime setting.

use anyhow::{bail, Result};

/// The final system, and the default.
pub const FINAL: Stage = Stage(6);

/// A stage of the lab, 0 to 6. On the command line and in files it is
/// its number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct Stage(u8);

impl TryFrom<u8> for Stage {
    type Error = anyhow::Error;

    fn try_from(n: u8) -> Result<Self> {
        Self::new(n)
    }
}

impl From<Stage> for u8 {
    fn from(stage: Stage) -> u8 {
        stage.0
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What `ha` does when Serf reports a membership event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEvent {
    /// No handler is installed (stages 0 to 2).
    Nothing,
    /// Log the event to `/var/log/serf.log` (stage 3).
    Log,
    /// Log, and render the template from the event's members only into
    /// `/tmp/haproxy.cfg` (stage 4, the lab's flaw included).
    RenderEventOnly,
    /// Log, rebuild `/nodes` and HAProxy's configuration, no reload (stage 5).
    Regenerate,
    /// Log, rebuild, and apply to the running HAProxy: servers through its
    /// runtime API, other changes by a seamless reload (stage 6).
    Apply,
}

impl Stage {
    /// A stage from its number.
    pub fn new(n: u8) -> Result<Self> {
        if n > 6 {
            bail!("stage {n} does not exist: the lab has stages 0 to 6");
        }
        Ok(Self(n))
    }

    /// The stage set in the container's `LABCTL_STAGE` (the final one when unset).
    pub fn from_env() -> Result<Self> {
        match std::env::var(crate::contract::STAGE) {
            Err(_) => Ok(FINAL),
            Ok(v) => match v.trim().parse::<u8>() {
                Ok(n) => Self::new(n),
                Err(_) => bail!("LABCTL_STAGE=`{v}` is not a stage number from 0 to 6"),
            },
        }
    }

    /// Its number.
    pub fn number(self) -> u8 {
        self.0
    }

    /// Whether a process supervisor runs (from stage 1).
    pub fn supervised(self) -> bool {
        self.0 >= 1
    }

    /// Whether Serf agents run (from stage 2).
    pub fn has_serf(self) -> bool {
        self.0 >= 2
    }

    /// Whether `ha` logs the membership events it is told of (from stage 3,
    /// in `/var/log/serf.log`).
    pub fn logs_events(self) -> bool {
        self.0 >= 3
    }

    /// Whether `ha` keeps the list of backends in `/nodes` (from stage 5).
    pub fn keeps_registry(self) -> bool {
        self.0 >= 5
    }

    /// Whether HAProxy is left as it is, the membership telling only in
    /// `/nodes` and the configuration on file (stage 5).
    pub fn config_on_file_only(self) -> bool {
        self.on_event() == OnEvent::Regenerate
    }

    /// Whether the running HAProxy follows the membership (stage 6, the
    /// final system).
    pub fn applies_changes(self) -> bool {
        self.on_event() == OnEvent::Apply
    }

    /// Whether HAProxy's servers are the lab's static `s1` and `s2` (up to
    /// stage 4) rather than generated from the membership.
    pub fn static_servers(self) -> bool {
        self.0 <= 4
    }

    /// The s6 services of `ha` at this stage.
    pub fn ha_services(self) -> &'static [&'static str] {
        match self.0 {
            0 | 1 => &["haproxy"],
            2..=5 => &["haproxy", "serf"],
            _ => &["haproxy", "serf", "watch"],
        }
    }

    /// The s6 services of a web app at this stage.
    pub fn webapp_services(self) -> &'static [&'static str] {
        if self.has_serf() {
            &["webapp", "serf"]
        } else {
            &["webapp"]
        }
    }

    /// What `ha`'s event handler does.
    pub fn on_event(self) -> OnEvent {
        match self.0 {
            0..=2 => OnEvent::Nothing,
            3 => OnEvent::Log,
            4 => OnEvent::RenderEventOnly,
            5 => OnEvent::Regenerate,
            _ => OnEvent::Apply,
        }
    }

    /// Where the configuration the stage generates is written.
    pub fn generated_config(self) -> &'static str {
        if self.0 == 4 {
            "/tmp/haproxy.cfg"
        } else {
            "/usr/local/etc/haproxy/haproxy.cfg"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_one_thing_each() {
        let s = |n| Stage::new(n).unwrap();
        assert!(!s(0).supervised() && s(1).supervised());
        assert!(!s(1).has_serf() && s(2).has_serf());
        assert_eq!(s(2).on_event(), OnEvent::Nothing);
        assert_eq!(s(3).on_event(), OnEvent::Log);
        assert_eq!(s(4).on_event(), OnEvent::RenderEventOnly);
        assert_eq!(s(5).on_event(), OnEvent::Regenerate);
        assert_eq!(s(6).on_event(), OnEvent::Apply);
        assert!(s(4).static_servers() && !s(5).static_servers());
        assert_eq!(s(4).generated_config(), "/tmp/haproxy.cfg");
        assert_eq!(s(6).ha_services(), ["haproxy", "serf", "watch"]);
        assert_eq!(s(1).webapp_services(), ["webapp"]);
        assert!(Stage::new(7).is_err());
        assert!(!s(2).logs_events() && s(3).logs_events());
        assert!(!s(4).keeps_registry() && s(5).keeps_registry());
        assert!(s(5).config_on_file_only() && !s(6).config_on_file_only());
        assert!(!s(5).applies_changes() && s(6).applies_changes());
    }

    #[test]
    fn a_stage_is_its_number_in_files() {
        let s: Stage = serde_yaml::from_str("5").unwrap();
        assert_eq!(s.number(), 5);
        assert_eq!(serde_yaml::to_string(&s).unwrap().trim(), "5");
        let e = serde_yaml::from_str::<Stage>("9").unwrap_err().to_string();
        assert!(e.contains("stage 9 does not exist"), "{e}");
    }
}
