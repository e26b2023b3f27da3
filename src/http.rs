//! The one HTTP client of labctl, on hyper: a GET to the lab's published
//! ports on this host (stats page, scenario `http` steps, warm-ups), and the
//! kept-alive connection the load generator drives with its own policy.

use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// Body, as text (invalid UTF-8 replaced).
    pub body: String,
}

impl Response {
    /// The first value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET /` on 127.0.0.1:`port`, with extra headers.
pub async fn get(port: u16, headers: &[(&str, &str)], timeout: Duration) -> Result<Response> {
    get_path(port, "/", headers, timeout).await
}

/// `GET path` on 127.0.0.1:`port` over a new connection, closed after it,
/// with extra headers.
pub async fn get_path(
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response> {
    let mut conn = Connection::open(port)
        .await
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    let answer = tokio::time::timeout(timeout, conn.get(path, headers, true))
        .await
        .with_context(|| format!("no full answer within {} s", timeout.as_secs()))?
        .with_context(|| format!("GET {path} on 127.0.0.1:{port}"))?;
    Ok(answer.response)
}

/// One request to `addr` over a new connection, closed after it: `method`
/// on `path` with extra headers and a body. For the lab's own addresses
/// (a web app's, from the host) as well as its published ports.
pub async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<Response> {
    let work = async {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .context("connection timed out")??;
        let (response, _) =
            request_over(stream, method, path, headers, body.as_bytes().to_vec()).await?;
        Ok::<_, anyhow::Error>(response)
    };
    tokio::time::timeout(timeout, work)
        .await
        .with_context(|| format!("no full answer within {} s", timeout.as_secs()))?
        .with_context(|| format!("{method} {path} on {addr}"))
}

/// One request over a connection already open (a TCP or unix socket), which
/// it closes: the answer, and its body's bytes as they came.
pub async fn request_over<S>(
    stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(Response, Bytes)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, "lab")
        .header(CONNECTION, "close");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(http_body_util::Full::new(Bytes::from(body)))
        .context("building the request")?;
    read(sender.send_request(request).await?).await
}

/// Reads a whole answer: as text, and its body's bytes.
async fn read(response: hyper::Response<hyper::body::Incoming>) -> Result<(Response, Bytes)> {
    let status = response.status().as_u16();
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.into_body().collect().await?.to_bytes();
    let text = Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    Ok((text, body))
}

/// One HTTP/1.1 connection to 127.0.0.1, request after request. It never
/// sends a request again: when the server has closed it, the request fails.
pub struct Connection {
    sender: SendRequest<Empty<Bytes>>,
}

/// What one request on a [`Connection`] got.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The answer.
    pub response: Response,
    /// Whether the server said it closes the connection after it.
    pub closes: bool,
}

impl Connection {
    /// Opens a connection (Nagle off: requests are small and answered one
    /// at a time).
    pub async fn open(port: u16) -> Result<Self> {
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(("127.0.0.1", port)))
            .await
            .context("connection timed out")??;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the connection closes; its error is the request's.
            let _ = conn.await;
        });
        Ok(Self { sender })
    }

    /// Sends `GET path` and reads the whole answer. `close` says that this
    /// is the connection's last request (`Connection: close`), as HTTP/1.1
    /// asks of a client that will not reuse it: the server then closes
    /// first, and no connection of the client's sits in TIME_WAIT.
    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
        close: bool,
    ) -> Result<Answer> {
        let mut request = Request::get(path).header(HOST, "lab");
        if close {
            request = request.header(CONNECTION, "close");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).context("building the request")?;
        let (response, _) = read(self.sender.send_request(request).await?).await?;
        let closes = response
            .header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
        Ok(Answer { response, closes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that answers one connection with `raw`.
    async fn answering(raw: &'static [u8]) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _ = s.read(&mut buf).await;
            s.write_all(raw).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded_and_headers_kept() {
        let port = answering(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Lab-Edited: yes\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
        )
        .await;
        let r = get(port, &[], Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "hello, world");
        assert_eq!(r.header("X-LAB-EDITED"), Some("yes"));
    }

    #[tokio::test]
    async fn a_body_cut_inside_a_character_is_text_all_the_same() {
        let port =
            answering(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\n\xc3\xa9\xc3")
                .await;
        let r = get(port, &[], Duration::from_secs(5)).await.unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body, "é\u{fffd}");
    }

    #[tokio::test]
    async fn what_is_not_http_is_an_error() {
        let port = answering(b"garbage\r\n\r\n").await;
        assert!(get(port, &[], Duration::from_secs(5)).await.is_err());
    }
}
