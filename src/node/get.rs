//! `labctl node get`: requests from inside a node to a port of its own
//! (`ha`'s HAProxy, its stats page), so that the host reaches the lab
//! through the engine's `exec` wherever the engine runs: beside labctl, in
//! a VM, on a remote host, rootless. Each request is made once, over a new
//! connection, and never retried; the answers are printed as JSON.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// What one request got: a status and body, or why there was none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The status code (0 when there was no answer).
    pub status: u16,
    /// The body.
    pub body: String,
    /// Why there was no answer.
    pub error: Option<String>,
}

/// How long one request may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The command that makes `count` GET requests of `path` on this node's
/// port `port`, with basic credentials `auth` (`user:password`).
pub(crate) fn command(port: u16, path: &str, auth: Option<&str>, count: u32) -> Vec<String> {
    let mut cmd = vec![
        "labctl".to_string(),
        "node".into(),
        "get".into(),
        "--port".into(),
        port.to_string(),
        "--count".into(),
        count.to_string(),
    ];
    if let Some(auth) = auth {
        cmd.extend(["--auth".to_string(), auth.to_string()]);
    }
    cmd.push(path.to_string());
    cmd
}

/// Reads what [`run`] printed.
pub(crate) fn parse(stdout: &str) -> Result<Vec<Answer>> {
    serde_json::from_str(stdout).context("reading the answers `labctl node get` printed")
}

/// Makes the requests and prints their answers as one JSON array.
pub(crate) fn run(port: u16, path: &str, auth: Option<&str>, count: u32) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let header = auth.map(|a| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(a)
        )
    });
    let headers: Vec<(&str, &str)> = header
        .as_deref()
        .map(|h| vec![("Authorization", h)])
        .unwrap_or_default();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let answers: Vec<Answer> = runtime.block_on(async {
        let mut out = Vec::new();
        for _ in 0..count {
            out.push(
                match crate::http::request(addr, "GET", path, &headers, "", TIMEOUT).await {
                    Ok(r) => Answer {
                        status: r.status,
                        body: r.body,
                        error: None,
                    },
                    Err(e) => Answer {
                        status: 0,
                        body: String::new(),
                        error: Some(format!("{e:#}")),
                    },
                },
            );
        }
        out
    });
    println!("{}", serde_json::to_string(&answers)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_names_the_port_the_count_and_the_credentials() {
        assert_eq!(
            command(1936, "/;csv", Some("admin:pw"), 1).join(" "),
            "labctl node get --port 1936 --count 1 --auth admin:pw /;csv"
        );
        assert_eq!(
            command(80, "/", None, 3).join(" "),
            "labctl node get --port 80 --count 3 /"
        );
    }

    #[test]
    fn answers_read_back_as_printed() {
        let a = vec![
            Answer {
                status: 200,
                body: "{\"host\":\"s1\"}".into(),
                error: None,
            },
            Answer {
                status: 0,
                body: String::new(),
                error: Some("connection refused".into()),
            },
        ];
        assert_eq!(parse(&serde_json::to_string(&a).unwrap()).unwrap(), a);
        assert!(parse("not json").is_err());
    }

    #[test]
    fn a_request_to_a_port_nothing_listens_on_is_an_error() {
        // A port nothing listens on: one answer, with why, and no retry.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let r = runtime.block_on(crate::http::request(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "GET",
            "/",
            &[],
            "",
            Duration::from_secs(2),
        ));
        assert!(r.is_err());
    }
}
