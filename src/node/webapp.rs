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
pub const SESSION_COOKIE: &str = "NODESESSID";
/// Sessions kept at most; past that the oldest are forgotten (the map is
/// cleared), so that a load test cannot exhaust the node's memory.
const MAX_SESSIONS: usize = 100_000;
/// The longest artificial delay accepted, in milliseconds.
pub const MAX_DELAY_MS: u64 = 60_000;

/// Who this node is.
#[derive(Debug, Clone)]
pub struct Identity {
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
pub fn greeting(identity: &Identity, session_id: &str, views: u64) -> Value {
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
pub fn session_from_cookies(cookies: &str) -> Option<String> {
    cookies
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Reads `{"delay": ms}`; the error says what a valid body looks like.
pub fn parse_delay(body: &Value) -> std::result::Result<u64, String> {
    match body.get("delay").and_then(Value::as_u64) {
        Some(ms) if ms <= MAX_DELAY_MS => Ok(ms),
        _ => Err(format!(
            "expected a JSON body like {{\"delay\": 1000}} with a whole number of milliseconds from 0 to {MAX_DELAY_MS}"
        )),
    }
}

fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    // An id that is not random is still an id; the lab uses it only to count views.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn root(State(app): State<Arc<App>>, method: Method, headers: HeaderMap) -> Response {
    let backend_ip = HeaderValue::from_str(&app.identity.ip).ok();
    if method == Method::HEAD {
        // Health checks: no session, no delay.
        let mut resp = StatusCode::OK.into_response();
        if let Some(ip) = backend_ip {
            resp.headers_mut().insert("x-backend-ip", ip);
        }
        return resp;
    }
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
    let mut resp = Json(greeting(&app.identity, &id, views)).into_response();
    if let Some(ip) = backend_ip {
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
    let parsed = serde_json::from_slice::<Value>(&body)
        .map_err(|e| format!("the body is not JSON ({e})"))
        .and_then(|v| parse_delay(&v));
    match parsed {
        Ok(ms) => {
            app.delay_ms.store(ms, Ordering::Relaxed);
            Json(json!({ "message": format!("New timeout of {ms}ms configured.") })).into_response()
        }
        Err(why) => (StatusCode::BAD_REQUEST, Json(json!({ "error": why }))).into_response(),
    }
}

/// Serves the web app on `port` until SIGTERM or SIGINT, then finishes the
/// requests under way.
pub async fn serve(port: u16, identity: Identity) -> Result<()> {
    let app = Arc::new(App {
        identity,
        sessions: Mutex::new(HashMap::new()),
        delay_ms: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/", get(root))
        .route("/delay", post(set_delay))
        .with_state(app);
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on port {port}"))?;
    println!("labctl webapp: listening on {addr}");
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
            tag: "heig".into(),
        };
        assert_eq!(
            greeting(&id, "abc", 3).to_string(),
            r#"{"hello":"world!","host":"s1","id":"abc","ip":"192.168.42.11","sessionViews":3,"tag":"heig"}"#
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
    fn delay_bodies() {
        assert_eq!(parse_delay(&json!({"delay": 250})), Ok(250));
        assert_eq!(parse_delay(&json!({"delay": 0})), Ok(0));
        assert!(parse_delay(&json!({"delay": -1})).is_err());
        assert!(parse_delay(&json!({"delay": "fast"})).is_err());
        assert!(parse_delay(&json!({"delay": 60_001})).is_err());
        assert!(parse_delay(&json!({})).is_err());
    }

    #[test]
    fn session_ids_are_hex_and_unique() {
        let a = new_session_id();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_session_id());
    }
}
