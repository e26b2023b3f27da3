//! The verbs on a lab that runs on a Swarm (`labctl up --engine swarm`):
//! `up`, `scale`, `ps`, `status`, `logs`, `exec`, `down`.

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{bail, Result};
use comfy_table::{presets, Table};

use super::Context;
use crate::cli::{
    DownArgs, Engine, ExecArgs, Format, FormatArgs, PlacementArgs, ScaleArgs, UpArgs,
};
use crate::naming::{DEFAULT_SUBNET, HTTP_PORT, STATS_PORT};
use crate::swarm::{SwarmLab, SwarmScenario, SwarmUp};

/// The lab of `ctx` if it runs on the engine's Swarm.
pub async fn find(ctx: &Context) -> Result<Option<SwarmLab>> {
    SwarmLab::find(ctx.lab.runtime(), ctx.lab.names()).await
}

pub async fn up(ctx: &Context, args: &UpArgs) -> Result<ExitCode> {
    if args.stage != 6 {
        return Err(crate::usage::usage(anyhow::anyhow!(
            "a lab on a Swarm runs stage 6 only (the lab's stages 0 to 5 use fixed addresses, \
             which Swarm tasks cannot have): leave out --stage, or use --engine docker"
        )));
    }
    let lab = SwarmLab::new(ctx.lab.runtime().clone(), ctx.lab.names().clone()).await?;
    let names = ctx.lab.names();
    let req = request(
        ctx,
        &args.place,
        args.webapps.unwrap_or(2),
        args.stats_auth.clone(),
        args.registry.clone(),
    )?;
    lab.up(&req, args.wait.limit(), &ctx.progress).await?;
    ctx.progress.finish();
    crate::outln!(
        "lab `{}` is up on the Swarm: ha + {} web app(s); HAProxy listens on port {} (stats {}) \
         of the manager that runs ha",
        names.lab(),
        req.webapps,
        req.http_port,
        req.stats_port
    )?;
    Ok(ExitCode::SUCCESS)
}

/// What `up` asks of a lab on the Swarm: the lab `heig` has its own subnet
/// and ports; another lab needs them given.
pub fn request(
    ctx: &Context,
    place: &PlacementArgs,
    webapps: u32,
    stats_auth: Option<String>,
    registry: Option<String>,
) -> Result<SwarmUp> {
    let own = ctx.lab.names().is_default();
    let ports = "a lab other than `heig` on a Swarm needs --http-port and --stats-port";
    Ok(SwarmUp {
        subnet: match place.subnet {
            Some(s) => s,
            None if own => DEFAULT_SUBNET.parse()?,
            None => bail!(
                "a lab other than `heig` on a Swarm needs its own subnet: pass --subnet \
                 (e.g. 192.168.43.0/24)"
            ),
        },
        webapps,
        http_port: match place.http_port {
            Some(p) => p,
            None if own => HTTP_PORT,
            None => bail!("{ports}"),
        },
        stats_port: match place.stats_port {
            Some(p) => p,
            None if own => STATS_PORT,
            None => bail!("{ports}"),
        },
        stats_auth,
        registry,
    })
}

/// The lab of `ctx` on the engine's Swarm, as scenarios run it, when the
/// lab runs there or `engine` asks for it (`None` otherwise).
pub async fn scenario_lab(
    ctx: &Context,
    engine: Engine,
    place: &PlacementArgs,
    registry: Option<String>,
) -> Result<Option<SwarmScenario>> {
    let lab = match find(ctx).await? {
        Some(lab) => lab,
        None if engine == Engine::Swarm => {
            SwarmLab::new(ctx.lab.runtime().clone(), ctx.lab.names().clone()).await?
        }
        None => return Ok(None),
    };
    let req = request(ctx, place, 2, None, registry)?;
    Ok(Some(SwarmScenario::new(lab, req)))
}

pub async fn scale(ctx: &Context, lab: &SwarmLab, args: &ScaleArgs) -> Result<ExitCode> {
    lab.scale(args.target, args.wait.limit(), &ctx.progress)
        .await?;
    ctx.progress.finish();
    crate::outln!(
        "lab `{}`: {} web app(s) on the Swarm",
        lab.names().lab(),
        args.target
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn ps(lab: &SwarmLab, args: &FormatArgs) -> Result<ExitCode> {
    let rows = lab.rows(false).await?;
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&rows)?)?,
        Format::Table => {
            crate::output::write_out(format_args!("{}", crate::swarm::plan::table(&rows, false)))?
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn status(lab: &SwarmLab, args: &FormatArgs) -> Result<ExitCode> {
    let rows = lab.rows(false).await?;
    let backends = lab.backends().await;
    let state_of = |node: &str| match &backends {
        Ok(b) => b
            .servers
            .iter()
            .find(|s| s.name == node)
            .map(|s| s.status.clone())
            .unwrap_or_else(|| "-".into()),
        Err(_) => "?".into(),
    };
    #[derive(serde::Serialize)]
    struct Line {
        node: String,
        swarm_node: String,
        task: String,
        haproxy: String,
    }
    let lines: Vec<Line> = rows
        .iter()
        .map(|r| Line {
            node: r.name.clone(),
            swarm_node: r.host.clone(),
            task: r.state.clone(),
            haproxy: if r.name == crate::naming::HA {
                "-".into()
            } else {
                state_of(&r.name)
            },
        })
        .collect();
    match args.format {
        Format::Json => crate::outln!("{}", serde_json::to_string_pretty(&lines)?)?,
        Format::Table => {
            let mut table = Table::new();
            table.load_preset(presets::NOTHING);
            table.set_header(["NODE", "SWARM NODE", "TASK", "HAPROXY"]);
            for l in &lines {
                table.add_row([&l.node, &l.swarm_node, &l.task, &l.haproxy]);
            }
            crate::outln!("{table}")?;
            match &backends {
                Ok(b) => {
                    for d in &b.differences {
                        crate::outln!("difference: {d}")?;
                    }
                    if let Some(e) = &b.last_error {
                        crate::outln!("last error: {e}")?;
                    }
                    if let Some(w) = &b.waiting {
                        crate::outln!("waiting: {w}")?;
                    }
                }
                Err(e) => crate::outln!("HAProxy's state could not be read: {e:#}")?,
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn exec(lab: &SwarmLab, args: &ExecArgs) -> Result<ExitCode> {
    let tty = args.tty
        || (!args.no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal());
    let cmd: Vec<&str> = args.cmd.iter().map(String::as_str).collect();
    let code = lab.exec_attached(&args.node, &cmd, tty).await?;
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

pub async fn down(ctx: &Context, lab: &SwarmLab, _args: &DownArgs) -> Result<ExitCode> {
    let removed = lab.down(&ctx.progress).await?;
    ctx.progress.finish();
    if removed.is_empty() {
        crate::outln!("lab `{}` has nothing to remove", lab.names().lab())?;
    } else {
        crate::outln!("removed {}", removed.join(", "))?;
    }
    Ok(ExitCode::SUCCESS)
}
