//! A minimal HTTP/1.1 GET over a fresh connection, for the lab's published
//! ports on this host: status, body (de-chunked), nothing more.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body, decoded from chunked transfer encoding when needed.
    pub body: String,
}

/// `GET /` on 127.0.0.1:`port`, with extra header lines (each ending in CRLF).
pub async fn get(port: u16, extra_headers: &str, timeout: Duration) -> Result<Response> {
    get_path(port, "/", extra_headers, timeout).await
}

/// `GET path` on 127.0.0.1:`port`, with extra header lines (each ending in
/// CRLF).
pub async fn get_path(
    port: u16,
    path: &str,
    extra_headers: &str,
    timeout: Duration,
) -> Result<Response> {
    let mut stream = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect(("127.0.0.1", port)),
    )
    .await
    .with_context(|| format!("connecting to 127.0.0.1:{port} timed out"))?
    .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n{extra_headers}\r\n")
                .as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    tokio::time::timeout(timeout, stream.read_to_end(&mut raw))
        .await
        .with_context(|| format!("no full answer within {} s", timeout.as_secs()))??;
    parse(&raw)
}

/// Parses a whole HTTP/1.x response.
pub fn parse(raw: &[u8]) -> Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").context("not an HTTP answer")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("not an HTTP answer")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok(Response { status, body })
}

/// Decodes a chunked body (sizes in hex, each chunk followed by CRLF).
pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n";
        assert_eq!(
            parse(raw).unwrap(),
            Response {
                status: 200,
                body: "hello, world".into()
            }
        );
    }

    #[test]
    fn plain_bodies_stay() {
        let raw = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno";
        assert_eq!(
            parse(raw).unwrap(),
            Response {
                status: 503,
                body: "no".into()
            }
        );
        assert!(parse(b"garbage").is_err());
    }
}
