//! The web app and HAProxy as the lab has them: compared with the lab's own
//! app and configuration, on the real engine.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::TestLab;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// One request straight to a web app's own address on the lab's network.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> labctl::http::Response {
    rt().block_on(labctl::http::request(
        addr,
        method,
        path,
        headers,
        body,
        Duration::from_secs(10),
    ))
    .unwrap()
}

/// The address of a web app, as `labctl ps` gives it.
fn address(lab: &TestLab, node: &str) -> SocketAddr {
    let ip = lab
        .ps()
        .into_iter()
        .find(|r| r["node"] == node)
        .and_then(|r| r["ip"].as_str().map(String::from))
        .unwrap();
    format!("{ip}:3000").parse().unwrap()
}

#[test]
fn the_web_app_answers_as_the_labs_app_does() {
    let _tier = crate::common::one_module_at_a_time(module_path!());
    let lab = TestLab::new("app");
    lab.ok(&["up"]);
    let s1 = address(&lab, "s1");
    let ip = s1.ip().to_string();

    // GET /: the lab's keys in the lab's order; tag is the node's name.
    let get = call(s1, "GET", "/", &[], "");
    assert_eq!(get.status, 200);
    let prefix =
        format!(r#"{{"hello":"world!","ip":"{ip}","host":"s1","tag":"s1","sessionViews":1,"id":""#);
    assert!(get.body.starts_with(&prefix), "{}", get.body);
    assert!(get.body.ends_with(r#""}"#), "{}", get.body);
    assert_eq!(
        get.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(get.header("x-backend-ip"), Some(ip.as_str()));
    let cookie = get.header("set-cookie").unwrap().to_string();
    assert!(cookie.starts_with("NODESESSID=") && cookie.ends_with("; Path=/; HttpOnly"));

    // The session counts views.
    let session = cookie.split(';').next().unwrap().to_string();
    let again = call(s1, "GET", "/", &[("cookie", &session)], "");
    assert!(again.body.contains(r#""sessionViews":2"#), "{}", again.body);
    assert!(again.header("set-cookie").is_none());

    // HEAD / is GET / without the body: same headers, a new session.
    let head = call(s1, "HEAD", "/", &[], "");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "");
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    assert_eq!(head.header("x-backend-ip"), Some(ip.as_str()));
    assert!(head.header("set-cookie").is_some());

    // POST /delay without a usable delay, and an unknown route.
    let bad = call(
        s1,
        "POST",
        "/delay",
        &[("content-type", "application/json")],
        "nope",
    );
    assert_eq!(bad.status, 500);
    assert_eq!(
        bad.body,
        r#"{"message":"No delay configured due to an error. Maybe you have not provided the correct JSON payload."}"#
    );
    let missing = call(s1, "GET", "/nope", &[], "");
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains("<pre>Cannot GET /nope</pre>"),
        "{}",
        missing.body
    );

    // A delay above HAProxy's check timeout takes the node DOWN; none brings
    // it back UP. A form body works as JSON does.
    let set = call(
        s1,
        "POST",
        "/delay",
        &[("content-type", "application/x-www-form-urlencoded")],
        "delay=1000",
    );
    assert_eq!(set.status, 200);
    assert_eq!(
        set.body,
        r#"{"message":"New timeout of 1000ms configured."}"#
    );
    lab.eventually("s1 DOWN while slow", Duration::from_secs(15), || {
        lab.haproxy_states()
            .iter()
            .any(|(n, s)| n == "s1" && s.starts_with("DOWN"))
    });
    let reset = call(
        s1,
        "POST",
        "/delay",
        &[("content-type", "application/json")],
        r#"{"delay": 0}"#,
    );
    assert_eq!(
        reset.body,
        r#"{"message":"New timeout of 0ms configured."}"#
    );
    lab.assert_all_up(&["s1", "s2"]);

    // Its log: started, then a line per request, health checks included.
    let logs = crate::common::text(&lab.run(&["logs", "s1"])).0;
    // (The Serf agent shares the container's output: its first line may
    // not have ended yet when the app says it started.)
    assert!(logs.contains("Application started\n"), "{logs}");
    let line = |prefix: &str| {
        logs.lines()
            .any(|l| l.contains(prefix) && l.contains(" ms - "))
    };
    assert!(line("GET / 200 "), "{logs}");
    assert!(line("HEAD / 200 "), "{logs}");
    assert!(line("POST /delay 500 "), "{logs}");
    assert!(line("GET /nope 404 "), "{logs}");

    // HAProxy's frontend is the lab's `localnodes`.
    let csv = labctl::http::get_path(lab.host_port(1936), "/;csv", &[], Duration::from_secs(5));
    let csv = rt().block_on(csv).unwrap().body;
    assert!(
        csv.lines().any(|l| l.starts_with("localnodes,FRONTEND,")),
        "{csv}"
    );
}
