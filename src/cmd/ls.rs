//! `labctl ls`: every lab on the engine.

use std::process::ExitCode;

use anyhow::Result;
use comfy_table::{presets, Table};

use super::Context;
use crate::cli::{Format, FormatArgs};

pub(super) async fn run(ctx: &Context, args: &FormatArgs) -> Result<ExitCode> {
    let labs = crate::lab::labs(ctx.runtime.as_ref()).await?;
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&labs)?)?,
        Format::Table => {
            let mut table = Table::new();
            table.load_preset(presets::NOTHING);
            table.set_header(["LAB", "HA", "WEB APPS", "STAGE", "HTTP", "STATS", "SUBNET"]);
            for l in &labs {
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                table.add_row([
                    l.lab.clone(),
                    if l.ha_running {
                        "running"
                    } else if l.stage.is_some() {
                        "stopped"
                    } else {
                        "-"
                    }
                    .to_string(),
                    format!("{}/{} running", l.running, l.webapps),
                    dash(&l.stage),
                    dash(&l.http),
                    dash(&l.stats),
                    dash(&l.subnet),
                ]);
            }
            crate::outln!("{table}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
