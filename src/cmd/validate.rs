//! `labctl validate FILE...`: check scenario files without Docker.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::scenario;

pub fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        // A file that cannot be read fails, and the others are still checked.
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                eprintln!("{name}: cannot read it: {e}");
                failed = true;
                continue;
            }
        };
        match scenario::parse(&name, &text) {
            Ok(s) => println!("{name}: ok ({} steps, stage {})", s.steps.len(), s.stage),
            Err(problems) => {
                eprintln!("{problems}");
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
