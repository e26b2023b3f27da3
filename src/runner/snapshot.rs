//! Snapshots of a lab for the lab's deliverables: `docker ps` in the docker
//! CLI's columns, `docker inspect` documents, the generated configuration,
//! `/nodes`, logs, `serf.log` and the HAProxy stats page (CSV, HTML and a
//! screenshot).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::contract::SECRETS;
use crate::labels;
use crate::naming::HA;
use crate::runner::Subject;
use crate::runtime::ContainerInfo;
use crate::scenario::Capture;
use crate::stage::Stage;

/// A file a snapshot wrote, for INDEX.md.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Written {
    /// Path relative to the output folder.
    pub path: String,
    /// What it holds.
    pub what: String,
    /// Why it could not be made, when it was not (the deliverable is then
    /// missing, and INDEX.md says so).
    pub missing: Option<String>,
}

/// "3 seconds ago", as the docker CLI says it.
pub(crate) fn human_age(age: Duration) -> String {
    let s = age.as_secs();
    match s {
        0 => "Less than a second ago".into(),
        1 => "1 second ago".into(),
        2..=59 => format!("{s} seconds ago"),
        60..=119 => "About a minute ago".into(),
        120..=3599 => format!("{} minutes ago", s / 60),
        3600..=7199 => "About an hour ago".into(),
        _ => format!("{} hours ago", s / 3600),
    }
}

/// The lab's containers as `docker ps -a` prints them.
/// Newest first, as the docker CLI lists them (containers created in the
/// same second: the one of the higher node number first).
pub(crate) fn docker_ps(containers: &[ContainerInfo], now: SystemTime) -> String {
    let mut containers: Vec<&ContainerInfo> = containers.iter().collect();
    containers.sort_by_key(|c| {
        std::cmp::Reverse((
            c.created,
            crate::lab::node_order(c.label(labels::NODE).unwrap_or("")),
        ))
    });
    let now_s = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut rows = vec![[
        "CONTAINER ID".to_string(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    for c in containers {
        let command = if c.command.chars().count() > 20 {
            format!("\"{}…\"", c.command.chars().take(19).collect::<String>())
        } else {
            format!("\"{}\"", c.command)
        };
        let created = u64::try_from(c.created).unwrap_or(0);
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|p| match (&p.host_ip, p.host_port) {
                (Some(ip), Some(hp)) => format!("{ip}:{hp}->{}/tcp", p.container),
                _ => format!("{}/tcp", p.container),
            })
            .collect();
        rows.push([
            c.id.chars().take(12).collect(),
            c.image.clone(),
            command,
            human_age(Duration::from_secs(now_s.saturating_sub(created))),
            c.status.clone(),
            ports.join(", "),
            c.name.clone(),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i == 6 {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A `docker inspect` document as the docker CLI prints it: the engine's
/// bytes in an array, indented by four spaces as Go's `json.Indent` does
/// (order, escapes and nulls kept), with the lab's secrets blanked out.
pub(crate) fn inspect_text(raw: &[u8]) -> String {
    let mut array = Vec::with_capacity(raw.len() + 2);
    array.push(b'[');
    array.extend_from_slice(raw.trim_ascii());
    array.push(b']');
    let mut text = go_indent(&String::from_utf8_lossy(&array));
    for key in SECRETS {
        text = redact(&text, key);
    }
    text.push('\n');
    text
}

/// `"KEY=value"` strings with the value replaced by `<redacted>`.
fn redact(text: &str, key: &str) -> String {
    let needle = format!("\"{key}=");
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        out.push_str(&rest[..at + needle.len()]);
        rest = &rest[at + needle.len()..];
        // The value ends at the next unescaped quote.
        let mut end = 0;
        let mut escaped = false;
        for (i, c) in rest.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = i;
                    break;
                }
                _ => escaped = false,
            }
        }
        out.push_str("<redacted>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// JSON indented by four spaces as Go's `json.Indent` does: whitespace
/// between tokens dropped, a new line and indent after `{`, `[` and `,`,
/// `": "` after keys, `{}` and `[]` kept empty, strings copied as they are.
pub(crate) fn go_indent(src: &str) -> String {
    const INDENT: &str = "    ";
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut need_indent = false;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(INDENT);
        }
    };
    for c in src.chars() {
        if in_string {
            out.push(c);
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => in_string = false,
                _ => escaped = false,
            }
            continue;
        }
        if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        if need_indent && c != '}' && c != ']' {
            need_indent = false;
            depth += 1;
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_string = true;
                escaped = false;
                out.push(c);
            }
            '{' | '[' => {
                need_indent = true;
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            '}' | ']' => {
                if need_indent {
                    need_indent = false;
                } else {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The `server` names of HAProxy's `nodes` backend in a configuration.
pub(crate) fn config_servers(config: &str) -> Vec<String> {
    crate::node::servers::split(config)
        .servers
        .into_iter()
        .map(|s| s.name)
        .collect()
}

/// Takes one snapshot of `lab` into `dir`.
pub(crate) async fn capture(
    lab: &dyn Subject,
    shots: &crate::screenshot::Screenshots<'_>,
    stage: Stage,
    parts: &[Capture],
    dir: &Path,
    rel: &str,
) -> Result<Vec<Written>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating `{}`", dir.display()))?;
    let mut written = Vec::new();
    let mut shot = None;
    let mut put = |name: &str, what: String, text: &str| -> Result<()> {
        let path: PathBuf = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing `{}`", path.display()))?;
        written.push(Written {
            path: format!("{rel}/{name}"),
            what,
            missing: None,
        });
        Ok(())
    };
    let ha_running = lab.ha_running().await?;
    for part in parts {
        match part {
            Capture::Ps | Capture::PsAll => {
                let l = lab.listing(*part == Capture::PsAll).await?;
                put(&l.file, l.what, &l.text)?;
            }
            Capture::Inspect => {
                for (name, raw) in lab.inspect_all().await? {
                    put(
                        &format!("inspect-{name}.json"),
                        format!("`docker inspect {name}`"),
                        &inspect_text(&raw),
                    )?;
                }
            }
            Capture::Logs => {
                for (name, text) in lab.logs_all().await? {
                    put(
                        &format!("logs-{name}.txt"),
                        format!("`docker logs {name}`"),
                        &text,
                    )?;
                }
            }
            Capture::Config if ha_running => {
                let path = stage.generated_config();
                let out = lab.exec(HA, &["cat", path]).await?;
                if out.code == 0 {
                    put("haproxy.cfg", format!("`{path}` in `ha`"), &out.stdout)?;
                }
            }
            Capture::Nodes if ha_running && stage.keeps_registry() => {
                let out = lab.exec(HA, &["ls", "/nodes"]).await?;
                put("nodes.txt", "`ls /nodes` in `ha`".into(), &out.stdout)?;
            }
            Capture::SerfLog if ha_running && stage.logs_events() => {
                let out = lab.exec(HA, &["cat", crate::node::SERF_LOG]).await?;
                put(
                    "serf.log",
                    "`/var/log/serf.log` in `ha`".into(),
                    &out.stdout,
                )?;
            }
            Capture::Stats if ha_running => {
                let csv = lab
                    .exec(HA, &["labctl", "node", "stat"])
                    .await?
                    .success("reading HAProxy's statistics")?;
                put(
                    "stats.csv",
                    "HAProxy statistics (CSV, from the runtime API)".into(),
                    &csv.stdout,
                )?;
                let html = lab.stats_page().await?;
                put(
                    "stats.html",
                    "the HAProxy stats page as HAProxy serves it".into(),
                    &html,
                )?;
                shot = Some(
                    lab.screenshot(shots, &dir.join("stats.html"), &dir.join("stats.png"))
                        .await?,
                );
            }
            _ => {}
        }
    }
    if let Some(shot) = shot {
        if let Err(why) = &shot {
            crate::errln!("warning: no screenshot of the stats page in {rel}/: {why}");
        }
        written.push(Written {
            path: format!("{rel}/stats.png"),
            what: "screenshot of the stats page (headless Chromium)".into(),
            missing: shot.err(),
        });
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ContainerState, PublishedPort};

    fn container(name: &str, created: i64, ports: Vec<PublishedPort>) -> ContainerInfo {
        ContainerInfo {
            id: format!("{name}0123456789abcdef"),
            name: name.into(),
            image: "labctl/ha:latest".into(),
            image_id: String::new(),
            labels: Default::default(),
            state: ContainerState::Running,
            status: "Up 5 seconds".into(),
            command: "/usr/local/bin/labctl node init".into(),
            created,
            addresses: Default::default(),
            ports,
        }
    }

    #[test]
    fn docker_ps_uses_the_cli_columns() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        let ha = container(
            "ha",
            995,
            vec![
                PublishedPort {
                    container: 80,
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(80),
                },
                PublishedPort {
                    container: 7946,
                    host_ip: None,
                    host_port: None,
                },
            ],
        );
        let text = docker_ps(&[ha], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   IMAGE              COMMAND                  CREATED         STATUS         PORTS                            NAMES"
        );
        assert_eq!(
            lines[1],
            "ha0123456789   labctl/ha:latest   \"/usr/local/bin/labc…\"   5 seconds ago   Up 5 seconds   127.0.0.1:80->80/tcp, 7946/tcp   ha"
        );
    }

    #[test]
    fn ages_read_like_docker() {
        assert_eq!(human_age(Duration::from_secs(0)), "Less than a second ago");
        assert_eq!(human_age(Duration::from_secs(75)), "About a minute ago");
        assert_eq!(human_age(Duration::from_secs(600)), "10 minutes ago");
        assert_eq!(human_age(Duration::from_secs(7300)), "2 hours ago");
    }

    #[test]
    fn inspect_hides_secrets_and_indents_as_the_docker_cli_does() {
        let raw = br#"{"Name":"/ha","Args":[],"Mounts":[],"Config":{"Env":["A=1","SERF_ENCRYPT_KEY=ab\"c","STATS_AUTH=u:p"],"Cmd":null,"Labels":{}},"Path":"a, b: {c}","HTML":"\u003cb\u003e"}"#;
        assert_eq!(
            inspect_text(raw),
            "[\n    {\n        \"Name\": \"/ha\",\n        \"Args\": [],\n        \"Mounts\": [],\n        \"Config\": {\n            \"Env\": [\n                \"A=1\",\n                \"SERF_ENCRYPT_KEY=<redacted>\",\n                \"STATS_AUTH=<redacted>\"\n            ],\n            \"Cmd\": null,\n            \"Labels\": {}\n        },\n        \"Path\": \"a, b: {c}\",\n        \"HTML\": \"\\u003cb\\u003e\"\n    }\n]\n"
        );
    }

    #[test]
    fn config_servers_in_order() {
        assert_eq!(
            config_servers("backend nodes\n    server s2 1.2.3.4:3000 check\n    server s10 1.2.3.5:3000 check\n"),
            ["s2", "s10"]
        );
    }
}
