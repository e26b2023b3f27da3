//! labctl's entry point: parse the command line, run, report.

use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match labctl::cli::parse(&argv) {
        Ok(cli) => cli,
        Err(err) => {
            if let Some(msg) = labctl::cli::from_environment(&err, &argv) {
                labctl::errln!("error: {msg}");
                return ExitCode::from(labctl::usage::EXIT_USAGE);
            }
            err.exit()
        }
    };
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
