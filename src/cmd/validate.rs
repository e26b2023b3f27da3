//! `labctl validate FILE...`: check scenario files without Docker.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ValidateArgs;
use crate::scenario;

pub fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let mut failed = false;
    for file in &args.files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).with_context(|| format!("reading `{name}`"))?;
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
