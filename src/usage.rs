//! Mistakes in what the user typed, told apart from failures: they exit
//! with 2, as clap's own usage errors do, and are found before labctl
//! reaches the engine.

use std::fmt;
use std::process::ExitCode;

/// A usage error: what was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Exit code of a usage error.
pub const EXIT_USAGE: u8 = 2;

/// Marks an error as the user's input being wrong.
pub fn usage(err: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(UsageError(format!("{err:#}")))
}

/// The exit code an error ends labctl with.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    if err
        .chain()
        .any(|e| e.downcast_ref::<UsageError>().is_some())
    {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn usage_errors_exit_2_even_under_context() {
        let err = Err::<(), _>(usage("bad lab name"))
            .context("checking the command line")
            .unwrap_err();
        assert_eq!(exit_code(&err), ExitCode::from(2));
        assert_eq!(
            exit_code(&anyhow::anyhow!("engine down")),
            ExitCode::FAILURE
        );
    }
}
