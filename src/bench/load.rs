//! A bounded load generator for the lab's published port, with the clients
//! the lab's users have: kept-alive connections, one connection per request,
//! and kept-alive clients that pause between requests. None of them ever
//! sends a request again: a request that did not get a 2xx answer on its
//! first attempt is a failure.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::{summarize, Summary};
use crate::http::Connection;
use serde::Serialize;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Ok,
    /// An answer with another status.
    Status(u16),
    /// No answer: refused, reset, closed, timed out, or cut short.
    ConnectionError,
}

/// A kind of client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Keeps its connection and sends the next request at once.
    KeepAlive,
    /// One connection per request (`Connection: close`).
    Close,
    /// Keeps its connection and pauses between requests (1 to 250 ms, well
    /// within HAProxy's keep-alive timeout): its connection is idle most of
    /// the time, where a reload hurts most.
    Idle,
}

/// One answered or failed request, for the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it ended, from the start of the load.
    pub at: Duration,
    /// How long it took.
    pub took: Duration,
    /// Whether it got a 2xx answer.
    pub ok: bool,
}

/// What the clients of one kind saw.
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
    /// Latency of answered requests, milliseconds.
    pub latency: Option<Summary>,
    /// A few failures, for the report.
    pub examples: Vec<String>,
    /// Every request, in the order they ended per client.
    #[serde(skip)]
    pub timeline: Vec<Sample>,
}

impl LoadReport {
    /// Counts one request.
    pub fn record(
        &mut self,
        outcome: Outcome,
        at: Duration,
        took: Duration,
        detail: impl FnOnce() -> String,
    ) {
        self.sent += 1;
        let ok = outcome == Outcome::Ok;
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Status(code) => {
                self.non_2xx += 1;
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
        self.timeline.push(Sample { at, took, ok });
    }

    /// Adds another client's report to this one.
    pub fn merge(&mut self, other: LoadReport) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.non_2xx += other.non_2xx;
        self.connection_errors += other.connection_errors;
        self.timeline.extend(other.timeline);
        for e in other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e);
            }
        }
        let answered: Vec<Duration> = self
            .timeline
            .iter()
            .filter(|s| s.ok)
            .map(|s| s.took)
            .collect();
        self.latency = (!answered.is_empty()).then(|| summarize(&answered));
    }

    /// Requests that failed (non-2xx or no answer).
    pub fn failed(&self) -> u64 {
        self.non_2xx + self.connection_errors
    }
}

/// What each kind of client saw in one load run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadRun {
    /// Kept-alive clients that never pause.
    pub keep_alive: LoadReport,
    /// One request per connection.
    pub close: LoadReport,
    /// Kept-alive clients that pause between requests.
    pub idle: LoadReport,
}

impl LoadRun {
    /// The three kinds with their names.
    pub fn kinds(&self) -> [(&'static str, &LoadReport); 3] {
        [
            ("kept-alive", &self.keep_alive),
            ("one request per connection", &self.close),
            ("kept-alive, pausing", &self.idle),
        ]
    }

    /// Requests sent by every client.
    pub fn sent(&self) -> u64 {
        self.kinds().iter().map(|(_, r)| r.sent).sum()
    }

    /// Requests failed, every client.
    pub fn failed(&self) -> u64 {
        self.kinds().iter().map(|(_, r)| r.failed()).sum()
    }
}

/// The longest a request may take, connection included.
const PER_REQUEST: Duration = Duration::from_secs(10);

fn outcome(status: u16) -> Outcome {
    if (200..300).contains(&status) {
        Outcome::Ok
    } else {
        Outcome::Status(status)
    }
}

/// A small generator of pause lengths, different for every client.
struct Pauses(u64);

impl Pauses {
    fn next(&mut self) -> Duration {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(1 + self.0 % 250)
    }
}

/// One client: requests until `stop`, `max_requests` or `deadline`, each
/// sent once.
async fn client(
    port: u16,
    kind: Client,
    seed: u64,
    stop: Arc<AtomicBool>,
    max_requests: u64,
    started: Instant,
    deadline: Instant,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut conn: Option<Connection> = None;
    let mut pauses = Pauses(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // A client that opens one connection per request says so, as HTTP/1.1
    // asks of a client that will not reuse the connection, and HAProxy
    // closes first. Otherwise the side that closes first is the Docker
    // proxy behind the published port, whose connections to `ha` then sit
    // in TIME_WAIT on the host: at a thousand new connections a second they
    // take every local port within a minute, and the proxy resets clients.
    let close = kind == Client::Close;
    while !stop.load(Ordering::Relaxed) && report.sent < max_requests && Instant::now() < deadline {
        let t0 = Instant::now();
        let result = tokio::time::timeout(PER_REQUEST, async {
            let mut c = match conn.take() {
                Some(c) => c,
                None => Connection::open(port).await?,
            };
            let answer = c.get("/", &[], close).await?;
            Ok::<_, anyhow::Error>((c, answer))
        })
        .await
        .unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "no answer within {} s",
                PER_REQUEST.as_secs()
            ))
        });
        match result {
            Ok((c, answer)) => {
                report.record(
                    outcome(answer.response.status),
                    started.elapsed(),
                    t0.elapsed(),
                    String::new,
                );
                if !close && !answer.closes {
                    conn = Some(c);
                }
            }
            Err(e) => report.record(
                Outcome::ConnectionError,
                started.elapsed(),
                t0.elapsed(),
                || format!("{e:#}"),
            ),
        }
        if kind == Client::Idle {
            tokio::time::sleep(pauses.next()).await;
        }
    }
    report
}

/// How many clients of each kind.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Kept-alive clients that never pause.
    pub keep_alive: usize,
    /// One request per connection.
    pub close: usize,
    /// Kept-alive clients that pause between requests.
    pub idle: usize,
}

impl Mix {
    /// The benchmarks' mix.
    pub const BENCH: Mix = Mix {
        keep_alive: 4,
        close: 4,
        idle: 32,
    };
}

/// A load run in the background.
pub struct Load {
    stop: Arc<AtomicBool>,
    started: Instant,
    clients: Vec<(Client, tokio::task::JoinHandle<LoadReport>)>,
}

impl Load {
    /// Starts the clients of `mix` against 127.0.0.1:`port`, bounded by
    /// `max_requests` each and `max_time` in all.
    pub fn start(port: u16, mix: Mix, max_requests: u64, max_time: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let deadline = started + max_time;
        let kinds = std::iter::repeat_n(Client::KeepAlive, mix.keep_alive)
            .chain(std::iter::repeat_n(Client::Close, mix.close))
            .chain(std::iter::repeat_n(Client::Idle, mix.idle));
        let clients = kinds
            .enumerate()
            .map(|(i, kind)| {
                let task = tokio::spawn(client(
                    port,
                    kind,
                    i as u64 + 1,
                    stop.clone(),
                    max_requests,
                    started,
                    deadline,
                ));
                (kind, task)
            })
            .collect();
        Self {
            stop,
            started,
            clients,
        }
    }

    /// When the load started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Stops the clients and adds up what each kind saw.
    pub async fn finish(self) -> LoadRun {
        self.stop.store(true, Ordering::Relaxed);
        let mut run = LoadRun::default();
        for (kind, task) in self.clients {
            let report = task.await.unwrap_or_else(|e| {
                let mut r = LoadReport::default();
                r.record(
                    Outcome::ConnectionError,
                    Duration::ZERO,
                    Duration::ZERO,
                    || format!("client task failed: {e}"),
                );
                r
            });
            match kind {
                Client::KeepAlive => run.keep_alive.merge(report),
                Client::Close => run.close.merge(report),
                Client::Idle => run.idle.merge(report),
            }
        }
        run
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    #[test]
    fn every_request_is_counted_once() {
        let ms = Duration::from_millis;
        let mut a = LoadReport::default();
        a.record(Outcome::Ok, ms(10), ms(2), String::new);
        a.record(Outcome::Status(503), ms(20), ms(4), String::new);
        a.record(Outcome::ConnectionError, ms(30), ms(9), || "reset".into());
        let mut b = LoadReport::default();
        b.record(Outcome::Ok, ms(15), ms(6), String::new);
        a.merge(b);
        assert_eq!((a.sent, a.ok, a.non_2xx, a.connection_errors), (4, 2, 1, 1));
        assert_eq!(a.failed(), 2);
        assert_eq!(a.sent, a.ok + a.failed());
        // Latency covers answered (2xx) requests only.
        let l = a.latency.unwrap();
        assert_eq!((l.n, l.min, l.max), (2, 2.0, 6.0));
        assert_eq!(a.examples, ["HTTP 503", "reset"]);
        assert_eq!(a.timeline.len(), 4);
        assert_eq!(a.timeline.iter().filter(|s| s.ok).count(), 2);
    }

    #[test]
    fn statuses_are_classified() {
        assert_eq!(outcome(200), Outcome::Ok);
        assert_eq!(outcome(204), Outcome::Ok);
        assert_eq!(outcome(503), Outcome::Status(503));
    }

    #[test]
    fn pauses_stay_within_the_keep_alive_timeout() {
        let mut p = Pauses(7);
        let all: Vec<Duration> = (0..1000).map(|_| p.next()).collect();
        assert!(all.iter().all(|d| *d >= Duration::from_millis(1)));
        assert!(all.iter().all(|d| *d <= Duration::from_millis(250)));
        assert!(all.iter().any(|d| *d > Duration::from_millis(200)));
    }

    /// A keep-alive server on loopback that answers `answers` requests on
    /// its first connection, then closes it without answering the next.
    async fn server_closing_after(answers: usize) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut r = BufReader::new(s);
            for _ in 0..answers {
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
            // Drops the connection: the next request meets a closed one.
        });
        port
    }

    #[tokio::test]
    async fn a_closed_keep_alive_connection_is_a_failure_never_resent() {
        let port = server_closing_after(3).await;
        let stop = Arc::new(AtomicBool::new(false));
        let now = Instant::now();
        let report = client(
            port,
            Client::KeepAlive,
            1,
            stop,
            5,
            now,
            now + Duration::from_secs(10),
        )
        .await;
        // Three answered; the fourth met the closed connection and is lost;
        // the fifth opened a new connection that nobody accepts any more.
        assert_eq!(report.sent, 5);
        assert_eq!(report.ok, 3);
        assert_eq!(report.connection_errors, 2, "{:?}", report.examples);
    }
}
