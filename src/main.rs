//! labctl's entry point: parse the command line, run, report.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = labctl::cli::Cli::parse();
    match labctl::run(cli) {
        Ok(code) => code,
        Err(err) if labctl::output::is_closed_stdout(&err) => {
            ExitCode::from(labctl::output::EXIT_CLOSED)
        }
        Err(err) => {
            labctl::errln!("error: {err:#}");
            labctl::usage::exit_code(&err)
        }
    }
}
