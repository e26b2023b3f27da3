//! A scenario's expectations, checked once against the lab: the error
//! says what differs.

use std::collections::BTreeSet;

use anyhow::{bail, Result};

use super::snapshot;
use super::Subject;
use crate::naming::{HA, HTTP_PORT};
use crate::scenario::{Expectation, HttpStep};
use crate::stage::Stage;

/// Checks an expectation once; the error says what differs.
pub async fn check(lab: &dyn Subject, stage: Stage, e: &Expectation) -> Result<()> {
    if let Some(n) = e.members {
        let alive = lab
            .members()
            .await?
            .into_iter()
            .filter(|m| {
                m.status == "alive"
                    && m.tags.get("role").map(String::as_str) == Some(crate::contract::BACKEND)
            })
            .count();
        if alive != n {
            bail!("{alive} alive web app member(s) in Serf, expected {n}");
        }
    }
    if let Some(want) = &e.config_servers {
        let path = stage.generated_config();
        let text = lab
            .exec(HA, &["cat", path])
            .await?
            .success(&format!("reading `{path}`"))?;
        let have = snapshot::config_servers(&text.stdout);
        if &have != want {
            bail!(
                "`{path}` lists servers [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            );
        }
    }
    if let Some(want) = &e.running_servers {
        // HAProxy lists servers added at run time after the others: a web
        // app that left and came back is listed last. The set is what counts.
        let mut have: Vec<String> = lab
            .backends()
            .await?
            .servers
            .into_iter()
            .map(|s| s.name)
            .collect();
        have.sort_by_key(|n| crate::node::membership::natural_key(n));
        let mut want = want.clone();
        want.sort_by_key(|n| crate::node::membership::natural_key(n));
        if have != want {
            bail!(
                "the running HAProxy has servers [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            );
        }
    }
    if let Some(want) = &e.nodes {
        let have = lab.registry().await?;
        if &have != want {
            bail!(
                "/nodes holds [{}], expected [{}]",
                have.join(", "),
                want.join(", ")
            );
        }
    }
    if let Some(want) = &e.servers {
        let servers = lab.backends().await?.servers;
        for (name, state) in want {
            let have = servers.iter().find(|s| &s.name == name);
            let ok = have.is_some_and(|s| {
                if state == "UP" {
                    s.is_verified_up()
                } else {
                    s.status.starts_with(state.as_str())
                }
            });
            if !ok {
                bail!(
                    "`{name}` is {} in HAProxy, expected {state}",
                    have.map_or("absent".to_string(), |s| s.status.clone())
                );
            }
        }
    }
    if let Some(f) = &e.file {
        let out = lab.exec(&f.node, &["cat", &f.path]).await?;
        if out.code != 0 {
            bail!(
                "`{}` cannot be read in `{}`: {}",
                f.path,
                f.node,
                out.stderr.trim()
            );
        }
        if let Some(text) = &f.contains {
            if !out.stdout.contains(text.as_str()) {
                bail!("`{}` in `{}` does not contain `{text}`", f.path, f.node);
            }
        }
        if let Some(text) = &f.not_contains {
            if out.stdout.contains(text.as_str()) {
                bail!("`{}` in `{}` contains `{text}`", f.path, f.node);
            }
        }
    }
    Ok(())
}

/// An `http` step: requests through `ha`, each answered with the expected
/// status, and answers from every expected web app among them.
pub(super) async fn http(lab: &dyn Subject, h: &HttpStep) -> Result<()> {
    // From inside `ha`, through its HAProxy: the lab is reached through the
    // engine wherever the engine runs.
    let answers = lab.get_in_ha(HTTP_PORT, "/", None, h.requests).await?;
    let mut hosts = BTreeSet::new();
    for (i, answer) in answers.into_iter().enumerate() {
        if let Some(e) = answer.error {
            bail!("request {}: {e}", i + 1);
        }
        let (status, body) = (answer.status, answer.body);
        if status != h.expect_status {
            bail!(
                "request {} answered {status}, not {}: {}",
                i + 1,
                h.expect_status,
                body.trim()
            );
        }
        if let Some(host) = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["host"].as_str().map(String::from))
        {
            hosts.insert(host);
        }
    }
    let missing: Vec<&String> = h
        .expect_hosts
        .iter()
        .filter(|n| !hosts.contains(*n))
        .collect();
    if !missing.is_empty() {
        bail!(
            "no answer from {} in {} request(s); answers came from: {}",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            h.requests,
            hosts.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}
