//! What can be checked without the engine is checked first: a mistake in
//! the command line is a usage error (exit 2), said before labctl connects,
//! builds or changes anything.

use anyhow::Result;

use crate::cli::{Cli, Command, LabKind, PlacementArgs, ScenarioTarget, UpArgs};
use crate::naming::{Addressing, LabNames};
use crate::scenario::{self, Scenario};
use crate::stage::{Stage, FINAL};
use crate::usage::usage;

/// Checks the command line as a whole; the first problem is the error.
pub(super) fn check(cli: &Cli) -> Result<()> {
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
        Command::Up(args) => {
            check_up(&names, args)?;
            check_engine(args.kind, args.registry.as_deref(), Some(args.stage))?;
            check_platform(args.kind, &args.build)?;
            check_bind(&args.place)
        }
        Command::Run(args) => {
            let name = args.file.display().to_string();
            let text = scenario::read(&args.file).map_err(usage)?;
            let scenario = scenario::parse(&name, &text).map_err(usage)?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| crate::runner::default_out(&scenario.name));
            crate::runner::check_out(&out, "--out").map_err(usage)?;
            if let Some(junit) = &args.junit {
                crate::writable::file(junit, "--junit").map_err(usage)?;
            }
            check_target(&args.target, &[scenario])
        }
        Command::Collect(args) => {
            let mut scenarios = Vec::new();
            for (task, text) in scenario::BUILT_IN {
                if args.tasks.iter().any(|t| t == task || t == "all") {
                    crate::runner::check_out(&args.out_root.join(task), "--out-root")
                        .map_err(usage)?;
                    scenarios
                        .push(scenario::parse(task, text).map_err(|p| anyhow::anyhow!("{p}"))?);
                }
            }
            if let Some(junit) = &args.junit {
                crate::writable::file(junit, "--junit").map_err(usage)?;
            }
            check_target(&args.target, &scenarios)
        }
        Command::Bench(args) => {
            check_beside(args)?;
            crate::writable::dir(&args.charts.join("logs/bench"), "--charts").map_err(usage)
        }
        Command::Down(args) if args.all && cli.global.lab_given => Err(usage(format!(
            "--all removes every lab on the engine, so --lab {} says nothing: run `labctl \
             down --all`, or `labctl --lab {} down` for that lab alone",
            cli.global.lab, cli.global.lab
        ))),
        _ => Ok(()),
    }
}

/// `bench --beside` takes the benchmarks that run on any engine, each on
/// its own platform.
fn check_beside(args: &crate::cli::BenchArgs) -> Result<()> {
    use crate::bench::Name;
    if args.beside.is_none() {
        return Ok(());
    }
    if let Some(name) = args
        .chosen()
        .iter()
        .find(|n| matches!(n, Name::Swarm | Name::Platforms | Name::Images))
    {
        return Err(usage(format!(
            "--beside: the {name} benchmark runs on one engine; name join, leave, \
             zero-downtime, scale-many or compose"
        )));
    }
    if args.build.platform.is_some() {
        return Err(usage(
            "--beside runs the lab on each engine's own platform; leave out --platform",
        ));
    }
    Ok(())
}

/// `--engine`, `--registry` and `--stage` fit together.
fn check_engine(kind: LabKind, registry: Option<&str>, stage: Option<Stage>) -> Result<()> {
    if registry.is_some() && kind != LabKind::Swarm {
        return Err(usage(
            "--registry is where a Swarm's nodes pull the lab's images, so it goes with \
             --engine swarm; a lab on one engine uses that engine's images: leave out \
             --registry, or add --engine swarm",
        ));
    }
    if let Some(stage) = stage.filter(|s| *s != FINAL && kind == LabKind::Swarm) {
        return Err(usage(format!(
            "a lab on a Swarm runs stage 6 only (stages 0 to 5 give the nodes fixed addresses, \
             which Swarm tasks cannot have), not stage {stage}: leave out --stage, or use \
             --engine docker"
        )));
    }
    Ok(())
}

/// `--platform` goes with a lab on one engine: a Swarm runs its nodes'
/// own platform.
fn check_platform(kind: LabKind, build: &crate::cli::BuildArgs) -> Result<()> {
    match build.platform {
        Some(p) if kind == LabKind::Swarm => Err(usage(format!(
            "--platform {p}: a lab on a Swarm runs on its nodes' own platform; leave out \
             --platform, or use --engine docker"
        ))),
        _ => Ok(()),
    }
}

/// Where scenarios run fits them: on a Swarm, every step of each is one a
/// Swarm can run.
fn check_target(target: &ScenarioTarget, scenarios: &[Scenario]) -> Result<()> {
    check_engine(target.kind, target.registry.as_deref(), None)?;
    check_platform(target.kind, &target.build)?;
    check_bind(&target.place)?;
    if target.kind == LabKind::Swarm {
        for s in scenarios {
            let reasons = crate::runner::refusals(s, crate::swarm::scenario_refusal);
            if !reasons.is_empty() {
                return Err(usage(format!(
                    "scenario {} cannot run on a Swarm:\n  {}",
                    s.name,
                    reasons.join("\n  ")
                )));
            }
        }
    }
    Ok(())
}

/// The published ports' address is one this host has, when the engine
/// runs here (a remote engine binds on its own host, which labctl cannot
/// see from here).
fn check_bind(place: &PlacementArgs) -> Result<()> {
    let local = crate::runtime::endpoint::from_env().is_ok_and(|e| e.host.starts_with("unix://"));
    if local && !crate::host::can_bind(place.bind) {
        return Err(usage(format!(
            "--bind {} is not an address of this host, so no port can be published on it: \
             give 127.0.0.1 (the default), 0.0.0.0 (every address) or one of this host's \
             addresses (`ip -brief address`)",
            place.bind
        )));
    }
    Ok(())
}

fn check_up(names: &LabNames, args: &UpArgs) -> Result<()> {
    if let Some(subnet) = args.place.subnet {
        let addressing = Addressing::new(subnet).map_err(usage)?;
        if let Some(n) = args.webapps {
            crate::lab::check_capacity(addressing, n).map_err(usage)?;
        }
    }
    let publish = args.place.placement().publish(names);
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

    fn check_args(args: &[&str]) -> Result<(), String> {
        let argv: Vec<std::ffi::OsString> = std::iter::once("labctl")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect();
        let cli = crate::cli::parse(&argv).map_err(|e| e.to_string())?;
        check(&cli).map_err(|e| format!("{e:#}"))
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
            .contains("invalid lab name `Demo`"));
        assert!(check_args(&["up", "--subnet", "10.0.0.0/8"]).is_err());
        assert!(check_args(&["--templates", "/nonexistent", "ps"])
            .unwrap_err()
            .contains("template directory `/nonexistent` does not exist"));
        assert!(check_args(&["--lab", "demo", "down", "--all"])
            .unwrap_err()
            .starts_with("--all removes every lab on the engine, so --lab demo says nothing"));
        assert!(check_args(&["down", "--all"]).is_ok());
        assert!(check_args(&["run", "/nonexistent.yaml"])
            .unwrap_err()
            .starts_with("cannot read scenario `/nonexistent.yaml`"));
    }
}
