//! Reading the command line: clap's parse, plus what clap cannot say by
//! itself (a refused value that came from an environment variable names
//! the variable; whether `--lab` was typed or came from `LABCTL_LAB`).

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};

use super::Cli;

/// Parses `argv` (program name first).
pub fn parse(argv: &[OsString]) -> Result<Cli, clap::Error> {
    let matches = Cli::command().try_get_matches_from(argv)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    cli.global.lab_given = typed(&matches, "lab");
    Ok(cli)
}

/// Whether the argument `id` was given on the command line (in the verb's
/// part or before it), not taken from the environment or a default.
fn typed(matches: &ArgMatches, id: &str) -> bool {
    let here = matches.try_get_raw(id).ok().flatten().is_some()
        && matches.value_source(id) == Some(ValueSource::CommandLine);
    here || matches.subcommand().is_some_and(|(_, sub)| typed(sub, id))
}

/// The environment variable of the option `--long` of any verb.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
        .or_else(|| command.get_subcommands().find_map(|sub| env_of(sub, long)))
}

/// When clap refused a value that came from an environment variable, what
/// to say instead of naming the option: the variable, its value, why.
pub fn from_environment(err: &clap::Error, argv: &[OsString]) -> Option<String> {
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let var = env_of(&Cli::command(), long)?;
    let value = std::env::var_os(&var)?;
    // The variable is the culprit when the refused value is its value and
    // the command line does not hold that value itself.
    let Some(ContextValue::String(refused)) = err.get(ContextKind::InvalidValue) else {
        return None;
    };
    let typed = argv
        .iter()
        .skip(1)
        .any(|a| a.to_string_lossy().ends_with(refused.as_str()));
    if value.to_string_lossy() != *refused || typed {
        return None;
    }
    let why = match (err.kind(), err.get(ContextKind::ValidValue)) {
        (ErrorKind::InvalidValue, Some(ContextValue::Strings(valid))) => {
            format!("use one of {}", valid.join(", "))
        }
        _ => std::error::Error::source(err).map_or_else(
            || "it is not a value --{long} takes".into(),
            ToString::to_string,
        ),
    };
    Some(format!(
        "environment variable {var} is `{}` (read for --{long}): {why}; correct it, or `unset {var}`",
        value.to_string_lossy()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("labctl")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn a_typed_lab_is_told_from_one_that_was_not() {
        assert!(
            parse(&argv(&["--lab", "demo", "ps"]))
                .unwrap()
                .global
                .lab_given
        );
        assert!(
            parse(&argv(&["down", "--all", "--lab", "demo"]))
                .unwrap()
                .global
                .lab_given
        );
        assert!(!parse(&argv(&["down", "--all"])).unwrap().global.lab_given);
    }

    #[test]
    fn a_bad_value_typed_on_the_command_line_names_the_option() {
        let err = parse(&argv(&["up", "--subnet", "x"])).unwrap_err();
        assert_eq!(
            from_environment(&err, &argv(&["up", "--subnet", "x"])),
            None
        );
    }
}
