//! `labctl events`: the lab's events as they happen, a line each (or a JSON
//! object per line), until Ctrl-C, `--count` or `--for`. Serf and HAProxy
//! events come from `ha`'s output as it writes it; container events from
//! comparing listings.

use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;
use tokio::sync::mpsc;

use crate::cli::{EventsArgs, Format};
use crate::lab::{Event, Look};
use crate::naming::HA;
use crate::runner::Subject;
use crate::runtime::LogsRequest;

/// How often the containers are listed.
const EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Sends the events of `ha`'s output, from now on, as it writes it.
async fn from_ha(lab: &dyn Subject, tx: mpsc::UnboundedSender<Event>) -> Result<()> {
    let mut pending: Vec<u8> = Vec::new();
    let from_now = LogsRequest {
        tail: Some(0),
        timestamps: false,
        follow: true,
    };
    lab.stream_logs(HA, &from_now, &mut |bytes| {
        pending.extend_from_slice(bytes);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if let Some(e) = crate::lab::from_ha_line(&String::from_utf8_lossy(&line)) {
                let _ = tx.send(e);
            }
        }
    })
    .await
}

/// Sends container events, from comparing listings.
async fn from_containers(lab: &dyn Subject, tx: mpsc::UnboundedSender<Event>) -> Result<()> {
    let look = || async {
        Ok::<_, anyhow::Error>(Look {
            containers: lab.node_states().await?.into_iter().collect(),
        })
    };
    let mut before = look().await?;
    loop {
        tokio::time::sleep(EVERY).await;
        let Ok(after) = look().await else {
            continue;
        };
        for e in crate::lab::changes(&before, &after) {
            if tx.send(e).is_err() {
                return Ok(());
            }
        }
        before = after;
    }
}

pub(super) async fn run(lab: &dyn Subject, args: &EventsArgs) -> Result<ExitCode> {
    lab.check_nodes(&[HA.to_string()]).await?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let print = async {
        let mut told = 0;
        while let Some(e) = rx.recv().await {
            let at = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
            match args.format {
                Format::Table => {
                    crate::outln!("{at} {:<4} {:<9} {}", e.node, e.source, e.what)?;
                }
                Format::Json => {
                    let mut doc = serde_json::to_value(&e)?;
                    doc["at"] = serde_json::Value::String(at);
                    crate::outln!("{doc}")?;
                }
            }
            told += 1;
            if args.count.is_some_and(|n| told >= n) {
                break;
            }
        }
        Ok::<_, anyhow::Error>(())
    };
    let until = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        result = print => result?,
        result = from_ha(lab, tx.clone()) => result?,
        result = from_containers(lab, tx) => result?,
        () = until => {}
    }
    Ok(ExitCode::SUCCESS)
}
