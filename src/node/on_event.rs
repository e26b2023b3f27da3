//! `labctl node on-event`: Serf's event handler on `ha`.

use std::io::BufRead;

use anyhow::{Context, Result};

use super::membership::{self, backends};
use super::reconcile::{self, Layout, Mode};
use super::{live_members, log_events, log_refusals, now, reconcile_and_log};
use crate::stage::{OnEvent, Stage};

/// The Serf event handler: logs each member of the event to the lab's event
/// log; then, as the stage says, renders the event's members alone (stage
/// 4) or reconciles from the whole live membership, not from the event.
pub fn on_event() -> Result<()> {
    let stage = Stage::from_env()?;
    let event = std::env::var("SERF_EVENT").unwrap_or_else(|_| "unknown".into());
    let kind = event.strip_prefix("member-").unwrap_or(&event).to_string();
    let stdin = std::io::stdin();
    let mut lines = Vec::new();
    let mut event_members = Vec::new();
    for line in stdin.lock().lines().take(10_000) {
        let line = line.context("reading the event from Serf")?;
        let mut fields = line.split('\t');
        let name = fields.next().unwrap_or_default();
        let addr = fields.next().unwrap_or_default();
        let role = fields.next().unwrap_or_default();
        if name.is_empty() {
            continue;
        }
        lines.push(format!(
            "{} Member {kind} event received from: {} with role {}",
            now(),
            name.escape_debug().take(80).collect::<String>(),
            role.escape_debug().take(40).collect::<String>()
        ));
        event_members.push(membership::Member {
            name: name.to_string(),
            addr: format!("{addr}:7946"),
            tags: [("role".to_string(), role.to_string())].into(),
            status: "alive".into(),
        });
    }
    log_events(&lines);
    let mode = match stage.on_event() {
        OnEvent::Nothing | OnEvent::Log => return Ok(()),
        OnEvent::RenderEventOnly => {
            if kind != "join" {
                return Ok(());
            }
            // The lab's task 4: the template sees only the joining member.
            let (servers, refused) = backends(&event_members);
            log_refusals(&refused);
            let text = reconcile::render_config(&Layout::default(), &servers)?;
            return reconcile::write_atomic(std::path::Path::new(stage.generated_config()), &text);
        }
        OnEvent::Regenerate => Mode::Write,
        OnEvent::Apply => Mode::Apply,
    };
    let (servers, refused) = backends(&live_members()?);
    log_refusals(&refused);
    if let super::reconcile::Outcome::Live { waiting, .. } =
        reconcile_and_log(&Layout::default(), &servers, mode)?
    {
        for w in waiting {
            println!("labctl: waiting: {w}");
        }
    }
    Ok(())
}
