//! `labctl doctor`: whether this machine can run the lab, and what to do.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{presets, Table};

use crate::cli::{DoctorArgs, Format, Global};
use crate::doctor::{self, Level, Plan};
use crate::naming::LabNames;

pub(super) async fn run(global: &Global, args: &DoctorArgs) -> Result<ExitCode> {
    let names = LabNames::new(&global.lab)?;
    let plan = Plan {
        publish: args.place.placement().publish(&names),
        names,
        subnet: args.place.subnet,
        build: args.build.options(),
    };
    let checks = doctor::run(&plan).await;
    let healthy = doctor::healthy(&checks);
    match args.format {
        Format::Json => crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "healthy": healthy,
                "checks": checks,
            }))?
        )?,
        Format::Table => {
            let mut table = Table::new();
            table.load_preset(presets::NOTHING);
            table.set_header(["CHECK", "", "FOUND", "TO DO"]);
            for c in &checks {
                table.add_row([
                    c.name,
                    match c.level {
                        Level::Ok => "ok",
                        Level::Note => "note",
                        Level::Fail => "FAIL",
                    },
                    &c.found,
                    c.fix.as_deref().unwrap_or(""),
                ]);
            }
            crate::outln!("{table}")?;
            crate::outln!(
                "{}",
                if healthy {
                    "labctl up will work with this engine"
                } else {
                    "labctl up will not work until each FAIL above is fixed"
                }
            )?;
        }
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
