//! What can be checked without the engine is checked first: a mistake in
//! the command line is a usage error (exit 2), said before labctl connects,
//! builds or changes anything.

use anyhow::Result;

use crate::cli::{Cli, Command, UpArgs};
use crate::naming::{Addressing, LabNames};
use crate::scenario;
use crate::usage::usage;

/// Checks the command line as a whole; the first problem is the error.
pub fn check(cli: &Cli) -> Result<()> {
    let names = LabNames::new(&cli.global.lab).map_err(usage)?;
    if let Some(dir) = &cli.global.templates {
        if !dir.is_dir() {
            return Err(usage(format!(
                "template directory `{}` does not exist; pass an existing directory to --templates",
                dir.display()
            )));
        }
    }
    match &cli.command {
        Command::Up(args) => check_up(&names, args),
        Command::Run(args) => {
            let name = args.file.display().to_string();
            let text = scenario::read(&args.file).map_err(usage)?;
            scenario::parse(&name, &text).map_err(usage)?;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_up(names: &LabNames, args: &UpArgs) -> Result<()> {
    if let Some(subnet) = args.place.subnet {
        let addressing = Addressing::new(subnet).map_err(usage)?;
        if let Some(n) = args.webapps {
            crate::lab::check_capacity(addressing, n).map_err(usage)?;
        }
    }
    let publish = args.place.publish(names);
    if publish.http != 0 && publish.http == publish.stats {
        return Err(usage(format!(
            "the web app and the stats page cannot share port {}; give --http-port and \
             --stats-port two different ports",
            publish.http
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn check_args(args: &[&str]) -> Result<(), String> {
        let mut all = vec!["labctl"];
        all.extend_from_slice(args);
        check(&Cli::parse_from(all)).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn mistakes_are_found_before_the_engine() {
        assert_eq!(
            check_args(&["up", "--http-port", "8080", "--stats-port", "8080"]),
            Err(
                "the web app and the stats page cannot share port 8080; give --http-port and \
                 --stats-port two different ports"
                    .into()
            )
        );
        // Lab `heig` publishes port 80 unless told otherwise.
        assert!(check_args(&["up", "--stats-port", "80"]).is_err());
        assert!(check_args(&["--lab", "demo", "up"]).is_ok());
        assert!(check_args(&["--lab", "Demo", "up"])
            .unwrap_err()
            .starts_with("invalid lab name `Demo`"));
        assert!(check_args(&["up", "--subnet", "10.0.0.0/8"]).is_err());
        assert!(check_args(&["--templates", "/nonexistent", "ps"])
            .unwrap_err()
            .starts_with("template directory `/nonexistent` does not exist"));
        assert!(check_args(&["run", "/nonexistent.yaml"])
            .unwrap_err()
            .starts_with("cannot read scenario `/nonexistent.yaml`"));
    }
}
