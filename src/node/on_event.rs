//! `labctl node on-event`: Serf's event handler on `ha`.

use std::io::{BufRead, Read};

use anyhow::{Context, Result};

use super::membership::{self, backends};
use super::reconcile::{self, Layout, Mode};
use super::{live_members, log_events, log_refusals, reconcile_and_log};
use crate::stage::{OnEvent, Stage};

/// The Serf event handler: logs each member of the event to the lab's event
/// log; then, as the stage says, renders the event's members alone (stage
/// 4) or reconciles from the whole live membership, not from the event.
pub(crate) fn on_event() -> Result<()> {
    let stage = Stage::from_env()?;
    let event = std::env::var("SERF_EVENT").unwrap_or_else(|_| "unknown".into());
    if event == "query" {
        return on_query(stage);
    }
    let kind = event.strip_prefix("member-").unwrap_or(&event).to_string();
    let stdin = std::io::stdin();
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
        event_members.push(membership::Member {
            name: name.to_string(),
            addr: format!("{addr}:7946"),
            tags: [("role".to_string(), role.to_string())].into(),
            status: "alive".into(),
        });
    }
    // A web app labctl is removing (marked as leaving) that Serf found
    // failed left gracefully, and its leave was lost on the way (several
    // agents leaving at once gossip partly to each other): Serf is told it
    // left, which reports it as the leave it was.
    if event == "member-failed" && stage.applies_changes() {
        let layout = Layout::default();
        event_members.retain(|m| {
            if !super::leaving::is_marked(&layout, &m.name) {
                return true;
            }
            let done = std::process::Command::new("serf")
                .args(["force-leave", &m.name])
                .output()
                .is_ok_and(|o| o.status.success());
            if done {
                println!(
                    "labctl: {} left while its leave was lost; told Serf",
                    m.name
                );
            }
            !done
        });
        if event_members.is_empty() {
            return Ok(());
        }
    }
    let seen: Vec<(String, String)> = event_members
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                m.tags.get("role").cloned().unwrap_or_default(),
            )
        })
        .collect();
    log_events(&event_log(&event, &seen, stage.keeps_registry()));
    let mode = match stage.on_event() {
        OnEvent::Nothing | OnEvent::Log => return Ok(()),
        OnEvent::RenderEventOnly => {
            if kind != "join" {
                return Ok(());
            }
            // The lab's task 4: a one-line template rendered for each joining
            // member (ha included) into the same file: it ends up naming the
            // last one only.
            let Some(last) = event_members
                .iter()
                .rev()
                .find(|m| membership::valid_node_name(&m.name))
            else {
                return Ok(());
            };
            let text = task4_line(
                &read_task4_template()?,
                &last.name,
                last.addr.trim_end_matches(":7946"),
            )?;
            return reconcile::write_atomic(std::path::Path::new(stage.generated_config()), &text);
        }
        OnEvent::Regenerate => Mode::Write,
        OnEvent::Apply => Mode::Apply,
    };
    let members = live_members()?;
    let (servers, refused) = backends(&members);
    let servers = super::leaving::without_leaving(&Layout::default(), servers, &members);
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

/// A Serf query to `ha`: a web app on a Swarm asks to be taken out of
/// rotation before it stops ([`super::swarm::DRAIN_QUERY`], its name as
/// payload). It is marked as leaving and the membership applied at once;
/// the answer says so.
fn on_query(stage: Stage) -> Result<()> {
    let name = std::env::var("SERF_QUERY_NAME").unwrap_or_default();
    if name != super::swarm::DRAIN_QUERY || stage.on_event() != OnEvent::Apply {
        return Ok(());
    }
    let mut payload = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin().lock().take(256), &mut payload)
        .context("reading the query from Serf")?;
    let node = payload.trim();
    let layout = Layout::default();
    super::leaving::mark(&layout, node)?;
    let members = live_members()?;
    let (servers, refused) = backends(&members);
    let servers = super::leaving::without_leaving(&layout, servers, &members);
    log_refusals(&refused);
    reconcile_and_log(&layout, &servers, Mode::Apply)?;
    println!("{} {node}", super::swarm::DRAINED);
    Ok(())
}

/// Where the task-4 template is in `ha`.
const TASK4_TEMPLATE: &str = "/config/task4.cfg.tera";

fn read_task4_template() -> Result<String> {
    std::fs::read_to_string(TASK4_TEMPLATE)
        .with_context(|| format!("reading the task-4 template `{TASK4_TEMPLATE}`"))
}

/// The lab's task-4 template rendered for one member.
pub(super) fn task4_line(template: &str, name: &str, ip: &str) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Member<'a> {
        name: &'a str,
        ip: &'a str,
    }
    crate::templates::render(TASK4_TEMPLATE, template, &Member { name, ip })
}

/// The lines the lab's own handlers write to `/var/log/serf.log` for one
/// event, without timestamps: a line for the handler, then one per member
/// (`$SERF_EVENT` verbatim for leaves and failures). From task 5 on
/// (`backends_only`) only web apps get a line. Events the lab's handlers do
/// not handle (update, reap) write nothing.
pub(super) fn event_log(
    serf_event: &str,
    members: &[(String, String)],
    backends_only: bool,
) -> Vec<String> {
    let (header, kind) = match serf_event {
        "member-join" => ("Member join script triggered", "join"),
        "member-leave" | "member-failed" => ("Member leave/join script triggered", serf_event),
        _ => return Vec::new(),
    };
    let mut lines = vec![header.to_string()];
    for (name, role) in members {
        if backends_only && role != crate::contract::BACKEND {
            continue;
        }
        lines.push(format!(
            "Member {kind} event received from: {} with role {}",
            name.escape_debug().take(80).collect::<String>(),
            role.escape_debug().take(40).collect::<String>()
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, r)| ((*n).to_string(), (*r).to_string()))
            .collect()
    }

    #[test]
    fn the_task4_template_names_one_member() {
        let template = include_str!("../../templates/ha/task4.cfg.tera");
        assert_eq!(
            task4_line(template, "s2", "192.168.42.22").unwrap(),
            "Container s2 has joined the Serf cluster with the following IP address: 192.168.42.22\n"
        );
    }

    #[test]
    fn the_event_log_is_the_labs() {
        let joined = members(&[("ha", "balancer"), ("s1", "backend")]);
        assert_eq!(
            event_log("member-join", &joined, false),
            [
                "Member join script triggered",
                "Member join event received from: ha with role balancer",
                "Member join event received from: s1 with role backend",
            ]
        );
        assert_eq!(
            event_log("member-join", &joined, true),
            [
                "Member join script triggered",
                "Member join event received from: s1 with role backend",
            ]
        );
        assert_eq!(
            event_log("member-failed", &members(&[("s2", "backend")]), true),
            [
                "Member leave/join script triggered",
                "Member member-failed event received from: s2 with role backend",
            ]
        );
        assert_eq!(
            event_log("member-leave", &members(&[("s1", "backend")]), false),
            [
                "Member leave/join script triggered",
                "Member member-leave event received from: s1 with role backend",
            ]
        );
        assert!(event_log("member-update", &joined, false).is_empty());
        assert!(event_log("member-reap", &joined, false).is_empty());
    }
}
