//! The values the command line checks as it reads them: what each expects,
//! and the error that says how to write it.

/// Parses a duration: a number of seconds (`90`) or a humane duration
/// (`90s`, `2m`, `1m30s`, `500ms`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!("`{s}` is not a duration ({e}): use seconds (`90`) or e.g. `90s`, `2m`, `1m30s`")
    })
}

/// Checks a signal name (`SIGKILL` or `KILL`, any case).
pub fn parse_signal(s: &str) -> Result<String, String> {
    const KNOWN: [&str; 10] = [
        "HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "STOP", "CONT", "ALRM",
    ];
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if KNOWN.contains(&name) {
        Ok(format!("SIG{name}"))
    } else {
        Err(format!(
            "unknown signal `{s}`: use one of {}",
            KNOWN.map(|k| format!("SIG{k}")).join(", ")
        ))
    }
}

/// Checks `user:pass` for the stats page: it is written into HAProxy's
/// configuration, so only characters that cannot break a line out of it.
pub fn parse_stats_auth(s: &str) -> Result<String, String> {
    let ok_user = |u: &str| {
        !u.is_empty()
            && u.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    };
    let ok_pass = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_graphic() && !"#'\"\\".contains(c))
    };
    match s.split_once(':') {
        Some((user, pass)) if ok_user(user) && ok_pass(pass) && s.len() <= 128 => Ok(s.to_string()),
        _ => Err(
            "expected `user:pass`: a user of letters, digits, `.`, `_`, `-` and a password of \
             printable characters without spaces, quotes, `#` or `\\`"
                .into(),
        ),
    }
}

/// Parses `webapp=N`.
pub fn parse_scale_target(s: &str) -> Result<u32, String> {
    let Some((service, count)) = s.split_once('=') else {
        return Err(format!(
            "expected `webapp=N` (e.g. `labctl scale webapp=5`), got `{s}`"
        ));
    };
    if service != "webapp" {
        return Err(format!(
            "unknown service `{service}`: the lab scales only `webapp` (e.g. `labctl scale webapp=5`)"
        ));
    }
    count.parse::<u32>().map_err(|_| {
        format!("`{count}` is not a number of web apps: use a whole number, 0 or more (e.g. `webapp=3`)")
    })
}

/// A registry as `HOST[:PORT]`, without a scheme or a path.
pub fn parse_registry(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && !s.contains("://")
        && !s.contains('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a registry address: give HOST:PORT, without a scheme or a path \
             (e.g. 192.168.142.10:5000)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_signals() {
        use std::time::Duration;
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon")
            .unwrap_err()
            .starts_with("`soon` is not a duration"));
        assert_eq!(parse_signal("kill"), Ok("SIGKILL".to_string()));
        assert_eq!(parse_signal("SIGTERM"), Ok("SIGTERM".to_string()));
        assert!(parse_signal("SIGFOO")
            .unwrap_err()
            .starts_with("unknown signal `SIGFOO`"));
    }

    #[test]
    fn scale_targets() {
        assert_eq!(parse_scale_target("webapp=5"), Ok(5));
        assert_eq!(parse_scale_target("webapp=0"), Ok(0));
        assert!(parse_scale_target("webapp=-1")
            .unwrap_err()
            .contains("`-1` is not a number"));
        assert!(parse_scale_target("webapp=abc")
            .unwrap_err()
            .contains("`abc`"));
        assert!(parse_scale_target("db=3")
            .unwrap_err()
            .contains("unknown service `db`"));
        assert!(parse_scale_target("5")
            .unwrap_err()
            .contains("expected `webapp=N`"));
    }

    #[test]
    fn a_registry_is_host_and_port_only() {
        assert_eq!(
            parse_registry("192.168.142.10:5000").unwrap(),
            "192.168.142.10:5000"
        );
        assert!(parse_registry("registry.local").is_ok());
        let err = parse_registry("http://10.0.0.1:5000").unwrap_err();
        assert!(err.contains("HOST:PORT"), "{err}");
        assert!(parse_registry("10.0.0.1:5000/labctl").is_err());
        assert!(parse_registry("").is_err());
    }
}
