//! `labctl validate FILE...`: check scenario files without Docker.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::scenario;

pub(super) fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        // A file that cannot be read fails, and the others are still checked.
        let text = match scenario::read(file) {
            Ok(text) => text,
            Err(e) => {
                crate::errln!("{e}");
                failed = true;
                continue;
            }
        };
        match scenario::parse(&name, &text) {
            Ok(s) => crate::outln!("{name}: ok ({} steps, stage {})", s.steps.len(), s.stage)?,
            Err(problems) => {
                crate::errln!("{problems}");
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
