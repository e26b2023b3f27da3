//! Snapshots of a lab for the lab's deliverables: `docker ps` in the docker
//! CLI's columns, `docker inspect` documents, the generated configuration,
//! `/nodes`, logs, `serf.log` and the HAProxy stats page (CSV, HTML and a
//! screenshot).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::contract::SECRETS;
use crate::lab::Lab;
use crate::labels;
use crate::naming::HA;
use crate::runtime::ContainerInfo;
use crate::scenario::Capture;
use crate::stage::Stage;

/// A file a snapshot wrote, for INDEX.md.
#[derive(Debug, Clone, Serialize)]
pub struct Written {
    /// Path relative to the output folder.
    pub path: String,
    /// What it holds.
    pub what: String,
    /// Why it could not be made, when it was not (the deliverable is then
    /// missing, and INDEX.md says so).
    pub missing: Option<String>,
}

/// "3 seconds ago", as the docker CLI says it.
pub fn human_age(age: Duration) -> String {
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
pub fn docker_ps(containers: &[ContainerInfo], now: SystemTime) -> String {
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

/// A `docker inspect` document as the docker CLI prints it (an array, four
/// spaces of indent), with the lab's secrets blanked out.
pub fn inspect_text(mut doc: serde_json::Value) -> Result<String> {
    if let Some(env) = doc
        .pointer_mut("/Config/Env")
        .and_then(|e| e.as_array_mut())
    {
        for entry in env.iter_mut() {
            if let Some(text) = entry.as_str() {
                if let Some((k, _)) = text.split_once('=') {
                    if SECRETS.contains(&k) {
                        *entry = serde_json::Value::String(format!("{k}=<redacted>"));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde_json::Value::Array(vec![doc]).serialize(&mut ser)?;
    out.push(b'\n');
    Ok(String::from_utf8(out)?)
}

/// The `server` names of HAProxy's `nodes` backend in a configuration.
pub fn config_servers(config: &str) -> Vec<String> {
    crate::node::servers::split(config)
        .servers
        .into_iter()
        .map(|s| s.name)
        .collect()
}

/// Takes one snapshot of `lab` into `dir`.
pub async fn capture(
    lab: &Lab,
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
    let containers = lab.containers().await?;
    let ha_running = containers
        .iter()
        .any(|c| c.label(labels::NODE) == Some(HA) && c.state.is_running());
    for part in parts {
        match part {
            Capture::Ps => put(
                "docker-ps.txt",
                "`docker ps -a` of the lab".into(),
                &docker_ps(&containers, SystemTime::now()),
            )?,
            Capture::Inspect => {
                for c in &containers {
                    let doc = lab.inspect(node_of(c)).await?;
                    put(
                        &format!("inspect-{}.json", c.name),
                        format!("`docker inspect {}`", c.name),
                        &inspect_text(doc)?,
                    )?;
                }
            }
            Capture::Logs => {
                for c in &containers {
                    let text = lab.logs(node_of(c), "all").await?;
                    put(
                        &format!("logs-{}.txt", c.name),
                        format!("`docker logs {}`", c.name),
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
            Capture::Nodes if ha_running && stage.number() >= 5 => {
                let out = lab.exec(HA, &["ls", "/nodes"]).await?;
                put("nodes.txt", "`ls /nodes` in `ha`".into(), &out.stdout)?;
            }
            Capture::SerfLog if ha_running && stage.number() >= 3 => {
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
                let html = stats_page(lab, &containers).await?;
                put(
                    "stats.html",
                    "the HAProxy stats page as HAProxy serves it".into(),
                    &html,
                )?;
                shot = Some(
                    shots
                        .take(lab, &dir.join("stats.html"), &dir.join("stats.png"))
                        .await?,
                );
            }
            _ => {}
        }
    }
    if let Some(shot) = shot {
        if let Err(why) = &shot {
            eprintln!("warning: no screenshot of the stats page in {rel}/: {why}");
        }
        written.push(Written {
            path: format!("{rel}/stats.png"),
            what: "screenshot of the stats page (headless Chromium)".into(),
            missing: shot.err(),
        });
    }
    Ok(written)
}

/// The node a container of the lab runs (its container name if unlabelled).
fn node_of(c: &ContainerInfo) -> &str {
    c.label(labels::NODE).unwrap_or(&c.name)
}

/// The stats page, fetched from `ha`'s published stats port on this host.
async fn stats_page(lab: &Lab, containers: &[ContainerInfo]) -> Result<String> {
    let ha = containers
        .iter()
        .find(|c| c.labels.get(labels::NODE).map(String::as_str) == Some(HA))
        .context("the lab has no `ha`")?;
    let port = ha.host_port(1936).context("`ha` publishes no stats port")?;
    let doc = lab.inspect(HA).await?;
    let auth = doc["Config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str()?.strip_prefix("STATS_AUTH="))
        .next()
        .map(|a| {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(a)
            )
        });
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| ("authorization", a))
        .into_iter()
        .collect();
    let page = crate::http::get(port, &headers, Duration::from_secs(10)).await?;
    anyhow::ensure!(
        page.status == 200,
        "the stats page answered {}",
        page.status
    );
    Ok(page.body)
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
    fn inspect_hides_secrets_and_indents_like_docker() {
        let doc = serde_json::json!({"Name": "/ha", "Config": {"Env": ["A=1", "SERF_ENCRYPT_KEY=abc", "STATS_AUTH=u:p"]}});
        let text = inspect_text(doc).unwrap();
        assert!(text.starts_with("[\n    {\n        \""), "{text}");
        assert!(text.contains("\"SERF_ENCRYPT_KEY=<redacted>\""));
        assert!(text.contains("\"STATS_AUTH=<redacted>\""));
        assert!(!text.contains("abc") && !text.contains("u:p"));
        assert!(text.contains("\"A=1\""));
    }

    #[test]
    fn config_servers_in_order() {
        assert_eq!(
            config_servers("backend nodes\n    server s2 1.2.3.4:3000 check\n    server s10 1.2.3.5:3000 check\n"),
            ["s2", "s10"]
        );
    }
}
