//! A bounded load generator for the lab's published port: some workers keep
//! their connection alive, others open one per request; every request is
//! accounted for as a success, a non-2xx answer or a connection error.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::stats::{summarize, Summary};

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// An answer with another status.
    Status(u16),
    /// No answer: refused, reset, timed out, or cut short.
    ConnectionError,
}

/// What a load run saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub sent: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Other answers.
    pub non_2xx: u64,
    /// Requests without an answer.
    pub connection_errors: u64,
    /// Kept-alive connections the server had closed while idle, noticed when
    /// reused; the request was sent again on a new connection, as HTTP
    /// clients do for idempotent requests (not a failure).
    pub stale_reuses: u64,
    /// Latency of answered requests, milliseconds.
    pub latency: Option<Summary>,
    /// A few failures, for the report.
    pub examples: Vec<String>,
    #[serde(skip)]
    samples: Vec<Duration>,
}

impl LoadReport {
    /// Counts one request.
    pub fn record(&mut self, outcome: Outcome, took: Duration, detail: impl FnOnce() -> String) {
        self.sent += 1;
        match outcome {
            Outcome::Ok => {
                self.ok += 1;
                self.samples.push(took);
            }
            Outcome::Status(code) => {
                self.non_2xx += 1;
                self.samples.push(took);
                if self.examples.len() < 5 {
                    self.examples.push(format!("HTTP {code}"));
                }
            }
            Outcome::ConnectionError => {
                self.connection_errors += 1;
                if self.examples.len() < 5 {
                    self.examples.push(detail());
                }
            }
        }
    }

    /// Adds another worker's report to this one.
    pub fn merge(&mut self, other: LoadReport) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.connection_errors += other.connection_errors;
        self.stale_reuses += other.stale_reuses;
        self.samples.extend(other.samples);
        for e in other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e);
            }
        }
        self.latency = (!self.samples.is_empty()).then(|| summarize(&self.samples));
    }

    /// Requests that failed (non-2xx or no answer).
    pub fn failed(&self) -> u64 {
        self.non_2xx + self.connection_errors
    }
}

/// Reads one HTTP/1.1 response (status line, headers, Content-Length body).
async fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool)> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    let mut close = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end().to_ascii_lowercase();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if l.starts_with("connection:") && l.contains("close") {
            close = true;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok((status, close))
}

/// The request of a worker that keeps its connection.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: lab\r\n\r\n";
/// The request of a worker that opens one connection per request: it says
/// so, as HTTP/1.1 asks of a client that will not reuse the connection, and
/// HAProxy closes first. Otherwise the side that closes first is the Docker
/// proxy behind the published port, whose connections to `ha` then sit in
/// TIME_WAIT on the host: at a thousand new connections a second they take
/// every local port within a minute, and the proxy resets new clients.
const REQUEST_CLOSE: &[u8] = b"GET / HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n";
const PER_REQUEST: Duration = Duration::from_secs(10);

async fn connect(port: u16) -> std::io::Result<BufReader<TcpStream>> {
    let stream = tokio::time::timeout(PER_REQUEST, TcpStream::connect(("127.0.0.1", port)))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    stream.set_nodelay(true)?;
    Ok(BufReader::new(stream))
}

async fn exchange(
    conn: &mut BufReader<TcpStream>,
    keep_alive: bool,
) -> std::io::Result<(u16, bool)> {
    let request = if keep_alive { REQUEST } else { REQUEST_CLOSE };
    tokio::time::timeout(PER_REQUEST, async {
        conn.get_mut().write_all(request).await?;
        read_response(conn).await
    })
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

fn outcome(status: u16) -> Outcome {
    if (200..300).contains(&status) {
        Outcome::Ok
    } else {
        Outcome::Status(status)
    }
}

/// One worker: requests until `stop`, `max_requests` or `deadline`.
async fn worker(
    port: u16,
    keep_alive: bool,
    stop: Arc<AtomicBool>,
    max_requests: u64,
    deadline: Instant,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut conn: Option<BufReader<TcpStream>> = None;
    while !stop.load(Ordering::Relaxed) && report.sent < max_requests && Instant::now() < deadline {
        let started = Instant::now();
        let reused = conn.is_some();
        let result = async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => connect(port).await?,
            };
            let r = exchange(&mut c, keep_alive).await;
            Ok::<_, std::io::Error>((c, r))
        }
        .await;
        match result {
            Ok((c, Ok((status, close)))) => {
                report.record(outcome(status), started.elapsed(), String::new);
                if keep_alive && !close {
                    conn = Some(c);
                }
            }
            Ok((_, Err(e))) if reused && e.kind() != std::io::ErrorKind::TimedOut => {
                // The server closed this idle connection: send again on a new one.
                report.stale_reuses += 1;
                let again = async {
                    let mut c = connect(port).await?;
                    let r = exchange(&mut c, keep_alive).await?;
                    Ok::<_, std::io::Error>((c, r))
                }
                .await;
                match again {
                    Ok((c, (status, close))) => {
                        report.record(outcome(status), started.elapsed(), String::new);
                        if keep_alive && !close {
                            conn = Some(c);
                        }
                    }
                    Err(e) => report.record(Outcome::ConnectionError, started.elapsed(), || {
                        e.to_string()
                    }),
                }
            }
            Ok((_, Err(e))) | Err(e) => {
                report.record(Outcome::ConnectionError, started.elapsed(), || {
                    e.to_string()
                })
            }
        }
    }
    report
}

/// A load run in the background.
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<LoadReport>>,
}

impl Load {
    /// Starts `keep_alive` kept-alive workers and `fresh` one-connection-per-
    /// request workers against 127.0.0.1:`port`, bounded by `max_requests`
    /// each and `max_time` in all.
    pub fn start(
        port: u16,
        keep_alive: usize,
        fresh: usize,
        max_requests: u64,
        max_time: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + max_time;
        let workers = (0..keep_alive + fresh)
            .map(|i| {
                tokio::spawn(worker(
                    port,
                    i < keep_alive,
                    stop.clone(),
                    max_requests,
                    deadline,
                ))
            })
            .collect();
        Self { stop, workers }
    }

    /// Stops the workers and adds up what they saw.
    pub async fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = LoadReport::default();
        for w in self.workers {
            if let Ok(r) = w.await {
                total.merge(r);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_is_counted_once() {
        let mut a = LoadReport::default();
        a.record(Outcome::Ok, Duration::from_millis(2), String::new);
        a.record(Outcome::Status(503), Duration::from_millis(4), String::new);
        a.record(Outcome::ConnectionError, Duration::from_millis(9), || {
            "reset".into()
        });
        let mut b = LoadReport::default();
        b.record(Outcome::Ok, Duration::from_millis(6), String::new);
        b.stale_reuses = 2;
        a.merge(b);
        assert_eq!(
            (a.sent, a.ok, a.non_2xx, a.connection_errors, a.stale_reuses),
            (4, 2, 1, 1, 2)
        );
        assert_eq!(a.failed(), 2);
        assert_eq!(a.sent, a.ok + a.failed());
        // Latency covers answered requests only.
        let l = a.latency.unwrap();
        assert_eq!((l.n, l.min, l.max), (3, 2.0, 6.0));
        assert_eq!(a.examples, ["HTTP 503", "reset"]);
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(outcome(200), Outcome::Ok);
        assert_eq!(outcome(204), Outcome::Ok);
        assert_eq!(outcome(503), Outcome::Status(503));
    }

    #[tokio::test]
    async fn it_measures_a_real_server_and_counts_refusals() {
        // A tiny keep-alive server on loopback answering three requests.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut r = BufReader::new(s);
            for _ in 0..3 {
                let mut line = String::new();
                loop {
                    line.clear();
                    r.read_line(&mut line).await.unwrap();
                    if line == "\r\n" {
                        break;
                    }
                }
                r.get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await
                    .unwrap();
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let report = worker(
            port,
            true,
            stop,
            3,
            Instant::now() + Duration::from_secs(10),
        )
        .await;
        server.await.unwrap();
        assert_eq!((report.sent, report.ok, report.failed()), (3, 3, 0));
        // Nobody listens any more: every request is a connection error.
        let stop = Arc::new(AtomicBool::new(false));
        let report = worker(
            port,
            false,
            stop,
            2,
            Instant::now() + Duration::from_secs(10),
        )
        .await;
        assert_eq!((report.sent, report.connection_errors), (2, 2));
    }
}
