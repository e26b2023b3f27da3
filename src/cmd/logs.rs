//! `labctl logs [-f] [-n N] [-t] [NODE...]`: the nodes' output, streamed;
//! with several nodes (or none named: all), each line prefixed `s1 | `.

use std::io::Write;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::cli::LogsArgs;
use crate::runner::Subject;
use crate::runtime::LogsRequest;

/// Cuts a stream of bytes into whole lines, each written with a prefix.
struct Prefixed {
    prefix: String,
    pending: Vec<u8>,
    out: Arc<Mutex<std::io::Stdout>>,
}

impl Prefixed {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.write(&line);
        }
    }

    fn write(&self, line: &[u8]) {
        let out = self
            .out
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = out.lock();
        let written = out
            .write_all(self.prefix.as_bytes())
            .and_then(|()| out.write_all(line))
            .and_then(|()| {
                if line.ends_with(b"\n") {
                    Ok(())
                } else {
                    out.write_all(b"\n")
                }
            })
            .and_then(|()| out.flush());
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                // Nobody reads any more (`labctl logs -f | head`): a reader
                // of logs changes nothing, so it ends here as SIGPIPE would
                // end it.
                std::process::exit(i32::from(crate::output::EXIT_CLOSED));
            }
        }
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.write(&rest);
        }
    }
}

pub(super) async fn run(lab: &dyn Subject, args: &LogsArgs) -> Result<ExitCode> {
    let req = LogsRequest {
        tail: args.tail,
        timestamps: args.timestamps,
        follow: args.follow,
    };
    let nodes: Vec<String> = if args.nodes.is_empty() {
        lab.log_nodes().await?
    } else {
        lab.check_nodes(&args.nodes).await?;
        args.nodes.clone()
    };
    let width = nodes.iter().map(String::len).max().unwrap_or(0);
    let prefixed = nodes.len() > 1 || args.nodes.is_empty();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let follow_one = |node: String| {
        let out = out.clone();
        let req = &req;
        async move {
            let mut lines = Prefixed {
                prefix: if prefixed {
                    format!("{node:<width$} | ")
                } else {
                    String::new()
                },
                pending: Vec::new(),
                out,
            };
            let mut sink = |b: &[u8]| lines.push(b);
            let result = lab.stream_logs(&node, req, &mut sink).await;
            lines.finish();
            result
        }
    };
    if args.follow {
        // Every node at once, as their lines come.
        let all = futures_util::future::join_all(nodes.into_iter().map(follow_one)).await;
        all.into_iter().collect::<Result<Vec<()>>>()?;
    } else {
        for node in nodes {
            follow_one(node).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
