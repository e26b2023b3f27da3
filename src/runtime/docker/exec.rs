//! Commands and output of the Docker Engine's containers: exec (collected,
//! or attached to this process's terminal), logs (collected or streamed),
//! and a container's description as the engine wrote it.

use anyhow::{anyhow, bail, Context, Result};
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::{StreamExt, TryStreamExt};

use super::{docker_message, DockerEngine};
use crate::runtime::{ExecOutput, LogsRequest};
use bollard::errors::Error as DockerError;

impl DockerEngine {
    /// The full `docker inspect` document of a container.
    pub(super) async fn inspect_raw(&self, name: &str) -> Result<Vec<u8>> {
        // The engine's own bytes: a client library would drop the fields it
        // does not know and the nulls, and reorder what it keeps.
        let path = format!("/v{}/containers/{name}/json", self.docker.client_version());
        let what = format!("inspecting container `{name}`");
        self.get_raw(&path, &what).await
    }

    /// The body of a GET of `path` on the engine, as it sent it, on a
    /// connection of its own (unix socket, tcp, TLS, or ssh's forward).
    pub(super) async fn get_raw(&self, path: &str, what: &str) -> Result<Vec<u8>> {
        let what = || what.to_string();
        let (response, body) = if let Some(socket) = self.dial.strip_prefix("unix://") {
            let stream = tokio::net::UnixStream::connect(socket)
                .await
                .with_context(what)?;
            crate::http::request_over(stream, "GET", path, &[], Vec::new()).await
        } else {
            let addr = self
                .dial
                .trim_start_matches("tcp://")
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .with_context(what)?;
            match &self.tls {
                Some(tls) => {
                    let stream = super::tls::connect(addr, tls, stream)
                        .await
                        .with_context(what)?;
                    crate::http::request_over(stream, "GET", path, &[], Vec::new()).await
                }
                None => crate::http::request_over(stream, "GET", path, &[], Vec::new()).await,
            }
        }
        .with_context(what)?;
        if response.status != 200 {
            bail!("{}: {}", what(), response.body.trim());
        }
        Ok(body.to_vec())
    }

    /// Runs a command inside a running container and collects its output.
    pub(super) async fn exec_output(&self, container: &str, cmd: &[&str]) -> Result<ExecOutput> {
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("running `{}` in `{container}`", cmd.join(" ")))?;
        let started = self
            .docker
            .start_exec(&created.id, Some(StartExecOptions::default()))
            .await
            .with_context(|| format!("running `{}` in `{container}`", cmd.join(" ")))?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        if let StartExecResults::Attached { mut output, .. } = started {
            while let Some(chunk) = output.try_next().await.with_context(|| {
                format!("reading the output of `{}` in `{container}`", cmd.join(" "))
            })? {
                match chunk {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.extend_from_slice(&message);
                    }
                    other => stdout.extend_from_slice(&other.into_bytes()),
                }
            }
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .context("reading an exec's exit code")?;
        Ok(ExecOutput {
            code: inspect.exit_code.unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    pub(super) async fn exec_streamed(
        &self,
        container: &str,
        cmd: &[&str],
        tty: bool,
    ) -> Result<i64> {
        use tokio::io::AsyncWriteExt;
        let what = || format!("running `{}` in `{container}`", cmd.join(" "));
        let created = self
            .docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| (*s).to_string()).collect::<Vec<_>>()),
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(tty),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(what)?;
        let started = self
            .docker
            .start_exec(
                &created.id,
                Some(StartExecOptions {
                    detach: false,
                    tty,
                    output_capacity: None,
                }),
            )
            .await
            .with_context(what)?;
        if let StartExecResults::Attached {
            mut output,
            mut input,
        } = started
        {
            if tty {
                if let Some((height, width)) = crate::terminal::size() {
                    let _ = self
                        .docker
                        .resize_exec(
                            &created.id,
                            bollard::exec::ResizeExecOptions { height, width },
                        )
                        .await;
                }
            }
            let _raw = if tty {
                crate::terminal::RawMode::enable()
            } else {
                None
            };
            // Stdin is read on a thread of its own: a read that blocks must
            // not keep labctl from ending when the command has.
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut stdin = std::io::stdin();
                let mut buf = [0u8; 4096];
                loop {
                    match stdin.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if tx.send(buf[..n].to_vec()).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            let forward = tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    if input.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                // End of stdin: the command sees end of file too.
                let _ = input.shutdown().await;
            });
            let mut stdout = tokio::io::stdout();
            let mut stderr = tokio::io::stderr();
            while let Some(chunk) = output.next().await {
                match chunk.with_context(what)? {
                    bollard::container::LogOutput::StdErr { message } => {
                        stderr.write_all(&message).await?;
                        stderr.flush().await?;
                    }
                    other => {
                        stdout
                            .write_all(&other.into_bytes())
                            .await
                            .map_err(crate::output::stdout_error)?;
                        stdout.flush().await.map_err(crate::output::stdout_error)?;
                    }
                }
            }
            forward.abort();
        }
        let inspect = self
            .docker
            .inspect_exec(&created.id)
            .await
            .context("reading an exec's exit code")?;
        Ok(inspect.exit_code.unwrap_or(-1))
    }

    pub(super) async fn logs_streamed(
        &self,
        container: &str,
        req: &LogsRequest,
        sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
    ) -> Result<()> {
        let stream = self.docker.logs(container, Some(logs_options(req)));
        drain_logs(stream, &format!("`{container}`"), sink).await
    }

    /// What a container has written (as much as `req` asks; never
    /// following).
    pub(super) async fn logs_text(&self, container: &str, req: &LogsRequest) -> Result<String> {
        let req = LogsRequest {
            follow: false,
            ..req.clone()
        };
        let stream = self.docker.logs(container, Some(logs_options(&req)));
        let mut out = Vec::new();
        drain_logs(stream, &format!("`{container}`"), &mut |b| {
            out.extend_from_slice(b)
        })
        .await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// The options of a logs request: both outputs, the last `tail` lines.
pub(super) fn logs_options(req: &LogsRequest) -> bollard::query_parameters::LogsOptions {
    bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&req.tail_arg())
        .timestamps(req.timestamps)
        .follow(req.follow)
        .build()
}

/// Passes the chunks of a logs stream to `sink`; `what` names the source
/// in an error.
pub(super) async fn drain_logs(
    mut stream: impl futures_util::Stream<Item = std::result::Result<bollard::container::LogOutput, DockerError>>
        + Unpin,
    what: &str,
    sink: &mut (dyn for<'l> FnMut(&'l [u8]) + Send),
) -> Result<()> {
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| anyhow!(docker_message(&e)))
            .with_context(|| format!("reading the logs of {what}"))?;
        sink(&chunk.into_bytes());
    }
    Ok(())
}
