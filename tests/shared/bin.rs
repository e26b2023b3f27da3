//! The real labctl binary, run as a user runs it: both test tiers use it.

use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_labctl");

/// Runs labctl with arguments; `LABCTL_*` from the caller's environment is
/// left out so that tests see the defaults.
pub fn labctl(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("LABCTL_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).output().expect("running labctl")
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
