//! The lab's web app: what the original Express app answered, served by
//! labctl inside each `webapp` container.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

/// The session cookie's name, as the lab's app named it.
pub(crate) const SESSION_COOKIE: &str = "NODESESSID";
/// Sessions kept at most; past that the oldest are forgotten (the map is
/// cleared), so that a load test cannot exhaust the node's memory.
const MAX_SESSIONS: usize = 100_000;
/// The longest artificial delay accepted, in milliseconds.
pub(crate) const MAX_DELAY_MS: u64 = 60_000;

/// Who this node is.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    /// Its address.
    pub ip: String,
    /// Its host name (the node name).
    pub host: String,
    /// The `tag` field.
    pub tag: String,
}

struct App {
    identity: Identity,
    sessions: Mutex<HashMap<String, u64>>,
    delay_ms: AtomicU64,
}

/// The body of `GET /`.
pub(crate) fn greeting(identity: &Identity, session_id: &str, views: u64) -> Value {
    json!({
        "hello": "world!",
        "ip": identity.ip,
        "host": identity.host,
        "tag": identity.tag,
        "sessionViews": views,
        "id": session_id,
    })
}

/// The session id a request's `Cookie` header carries, if any.
pub(crate) fn session_from_cookies(cookies: &str) -> Option<String> {
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// What `POST /delay` answers when it has no usable delay, as the lab's
/// app does.
pub(crate) const DELAY_ERROR: &str =
    "No delay configured due to an error. Maybe you have not provided the correct JSON payload.";

/// Reads the delay of `POST /delay`: a JSON body `{"delay": ms}` or a form
/// body `delay=ms`, a whole number of milliseconds up to [`MAX_DELAY_MS`].
pub(crate) fn parse_delay(body: &[u8]) -> Option<u64> {
    let from_json =
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| match v.get("delay")? {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            });
    let from_form = || {
        std::str::from_utf8(body).ok()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == "delay").then(|| v.trim().parse().ok()).flatten()
        })
    };
    from_json
        .or_else(from_form)
        .filter(|ms| *ms <= MAX_DELAY_MS)
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    // An id that is not random is still an id; the lab uses it only to count views.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `GET /` and `HEAD /` (the same handler; HEAD answers without the body,
/// as Express does): waits the configured delay, counts the session's views,
/// sets the session cookie when the session is new.
async fn root(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let delay = app.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let existing = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(session_from_cookies);
    let (id, views, fresh) = {
        let mut sessions = app
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (id, fresh) = match existing.filter(|id| sessions.contains_key(id)) {
            Some(id) => (id, false),
            None => {
                if sessions.len() >= MAX_SESSIONS {
                    sessions.clear();
                }
                (new_session_id(), true)
            }
        };
        let views = sessions.entry(id.clone()).or_insert(0);
        *views += 1;
        (id, *views, fresh)
    };
    let body = greeting(&app.identity, &id, views).to_string();
    let mut resp = (
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CONTENT_LENGTH, &body.len().to_string()),
        ],
        body,
    )
        .into_response();
    if let Ok(ip) = HeaderValue::from_str(&app.identity.ip) {
        resp.headers_mut().insert("x-backend-ip", ip);
    }
    if fresh {
        if let Ok(cookie) =
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly"))
        {
            resp.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    resp
}

async fn set_delay(State(app): State<Arc<App>>, body: axum::body::Bytes) -> Response {
    match parse_delay(&body) {
        Some(ms) => {
            app.delay_ms.store(ms, Ordering::Relaxed);
            Json(json!({ "message": format!("New timeout of {ms}ms configured.") })).into_response()
        }
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "message": DELAY_ERROR })),
        )
            .into_response(),
    }
}

/// What Express answers for a route it does not have.
pub(crate) fn not_found_page(method: &Method, path: &str) -> String {
    let escaped = path
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {escaped}</pre>\n</body>\n</html>\n"
    )
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        not_found_page(&method, uri.path()),
    )
        .into_response()
}

/// One line per request in the `dev` format of the lab's app's logger:
/// `GET / 200 1.234 ms - 129`.
pub(crate) fn request_line(
    method: &Method,
    uri: &str,
    status: u16,
    ms: f64,
    length: Option<&str>,
) -> String {
    format!(
        "{method} {uri} {status} {ms:.3} ms - {}",
        length.unwrap_or("-")
    )
}

async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let length = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    println!(
        "{}",
        request_line(
            &method,
            &uri,
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
            length.as_deref()
        )
    );
    response
}

/// Serves the web app on `port` until SIGTERM or SIGINT, then finishes the
/// requests under way.
pub(crate) async fn serve(port: u16, identity: Identity) -> Result<()> {
    let app = Arc::new(App {
        identity,
        sessions: Mutex::new(HashMap::new()),
        delay_ms: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/", get(root))
        .route("/delay", post(set_delay))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app);
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on port {port}"))?;
    println!("Application started");
    axum::serve(listener, router)
        .with_graceful_shutdown(stop_signal())
        .await
        .context("serving HTTP")?;
    println!("labctl webapp: stopped");
    Ok(())
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_has_the_lab_fields() {
        let id = Identity {
            ip: "192.168.42.11".into(),
            host: "s1".into(),
            tag: "s1".into(),
        };
        // The lab's app's key order.
        assert_eq!(
            greeting(&id, "abc", 3).to_string(),
            r#"{"hello":"world!","ip":"192.168.42.11","host":"s1","tag":"s1","sessionViews":3,"id":"abc"}"#
        );
    }

    #[test]
    fn session_cookie_is_found_among_others() {
        assert_eq!(
            session_from_cookies("a=1; NODESESSID=f00d; b=2"),
            Some("f00d".into())
        );
        assert_eq!(session_from_cookies("a=1"), None);
        assert_eq!(session_from_cookies("NODESESSID=../x"), None);
        assert_eq!(session_from_cookies("NODESESSID="), None);
    }

    #[test]
    fn delay_bodies_json_or_form() {
        assert_eq!(parse_delay(br#"{"delay": 250}"#), Some(250));
        assert_eq!(parse_delay(br#"{"delay": "500"}"#), Some(500));
        assert_eq!(parse_delay(b"delay=1000"), Some(1000));
        assert_eq!(parse_delay(b"a=1&delay=0"), Some(0));
        assert_eq!(parse_delay(br#"{"delay": -1}"#), None);
        assert_eq!(parse_delay(br#"{"delay": "fast"}"#), None);
        assert_eq!(parse_delay(br#"{"delay": 60001}"#), None);
        assert_eq!(parse_delay(b"{}"), None);
        assert_eq!(parse_delay(b""), None);
    }

    #[test]
    fn unknown_routes_and_request_lines_read_as_the_labs() {
        assert_eq!(
            not_found_page(&Method::GET, "/nope"),
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot GET /nope</pre>\n</body>\n</html>\n"
        );
        assert_eq!(
            request_line(&Method::HEAD, "/", 200, 1.5971, Some("129")),
            "HEAD / 200 1.597 ms - 129"
        );
        assert_eq!(
            request_line(&Method::GET, "/x", 404, 0.25, None),
            "GET /x 404 0.250 ms - -"
        );
    }

    #[test]
    fn session_ids_are_hex_and_unique() {
        let a = new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_session_id());
    }
}
