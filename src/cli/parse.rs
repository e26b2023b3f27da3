//! The values the command line checks as it reads them: what each expects,
//! and the error that says how to write it.

/// Parses a duration: a number of seconds (`90`) or a humane duration
/// (`90s`, `2m`, `1m30s`, `500ms`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    if s.starts_with('-') {
        return Err(format!(
            "`{s}` is negative: a duration must be positive (e.g. `90s`, `2m`)"
        ));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!("`{s}` is not a duration ({e}): use seconds (`90`) or e.g. `90s`, `2m`, `1m30s`")
    })
}

/// A duration longer than zero (a time limit, a time to run).
pub fn parse_positive_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "`{s}` is no time at all: give a duration longer than zero (e.g. `90s`, `2m`)"
        ));
    }
    Ok(d)
}

/// The most web apps any lab can hold: those of a /16, the largest subnet
/// a lab may have (the default /24 holds 252).
pub fn max_webapps() -> u32 {
    "10.0.0.0/16"
        .parse()
        .ok()
        .and_then(|net| crate::naming::Addressing::new(net).ok())
        .map_or(252, |a| a.capacity())
}

/// What a too-large web app count is told.
const NO_LAB_HOLDS: &str = "no lab holds more (a lab's subnet is a /16 at the largest; the \
    default /24 holds 252)";

/// A whole number `what` from `min` to `max`, with an error that says which
/// and gives `example`; `beyond` says why the maximum is what it is.
fn whole(
    s: &str,
    what: &str,
    (min, max): (u64, u64),
    example: &str,
    beyond: &str,
) -> Result<u64, String> {
    let t = s.trim();
    let at_least = if min == 0 {
        "0 or more".to_string()
    } else {
        format!("positive, {min} or more")
    };
    if let Some(digits) = t.strip_prefix('-') {
        if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "`{s}` is negative: {what} must be {at_least} (e.g. {example})"
            ));
        }
    }
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{s}` is not a whole number: {what} is a whole number from {min} to {max} (e.g. {example})"
        ));
    }
    let beyond = if beyond.is_empty() {
        String::new()
    } else {
        format!("; {beyond}")
    };
    match t.parse::<u64>() {
        Ok(n) if n < min => Err(format!(
            "`{s}` is too small: {what} must be {at_least} (e.g. {example})"
        )),
        Ok(n) if n <= max => Ok(n),
        _ => Err(format!(
            "`{s}` is too large: {what} is at most {max}{beyond}"
        )),
    }
}

/// Narrows a number that `whole` checked against a smaller maximum.
fn narrow<T: TryFrom<u64>>(n: u64) -> Result<T, String> {
    T::try_from(n).map_err(|_| format!("{n} is out of range"))
}

/// `up --webapps N`.
pub(super) fn parse_webapps(s: &str) -> Result<u32, String> {
    let range = (0, u64::from(max_webapps()));
    whole(s, "the number of web apps", range, "`-n 4`", NO_LAB_HOLDS).and_then(narrow)
}

/// `up --stage N`: a task of the lab, 0 to 6.
pub(super) fn parse_stage(s: &str) -> Result<crate::stage::Stage, String> {
    whole(
        s,
        "the stage",
        (0, 6),
        "`--stage 5`; 6 is the final system",
        "",
    )
    .and_then(narrow)
    .and_then(|n| crate::stage::Stage::new(n).map_err(|e| e.to_string()))
}

/// `logs --tail N`.
pub(super) fn parse_tail(s: &str) -> Result<u32, String> {
    let range = (0, u64::from(u32::MAX));
    whole(s, "the number of lines", range, "`-n 20`", "").and_then(narrow)
}

/// `events --count N`.
pub(super) fn parse_events(s: &str) -> Result<usize, String> {
    whole(
        s,
        "the number of events",
        (1, 1_000_000),
        "`--count 10`",
        "",
    )
    .and_then(narrow)
}

/// `bench --runs N`.
pub(super) fn parse_runs(s: &str) -> Result<usize, String> {
    whole(s, "the number of runs", (1, 1000), "`--runs 3`", "").and_then(narrow)
}

/// `bench --cycles N`.
pub(super) fn parse_cycles(s: &str) -> Result<usize, String> {
    whole(s, "the number of cycles", (1, 10_000), "`--cycles 10`", "").and_then(narrow)
}

/// `cluster up --nodes N`.
pub(super) fn parse_cluster_nodes(s: &str) -> Result<u32, String> {
    let max = crate::cluster::plan::MAX_NODES;
    whole(
        s,
        "the number of nodes",
        (1, u64::from(max)),
        "`--nodes 3`",
        "",
    )
    .and_then(narrow)
}

/// A host port; 0 lets the engine pick a free one.
pub(super) fn parse_port(s: &str) -> Result<u16, String> {
    whole(s, "a port", (0, 65535), "`8080`; 0 picks a free port", "").and_then(narrow)
}

/// A subnet written with its prefix length, of the size a lab takes
/// (/16 to /26), in a range an engine can give containers.
pub(super) fn parse_subnet(s: &str) -> Result<ipnet::Ipv4Net, String> {
    let net: ipnet::Ipv4Net = match s.parse() {
        Ok(net) => net,
        Err(_) if s.parse::<std::net::Ipv4Addr>().is_ok() => {
            return Err(format!(
                "`{s}` is an address, not a subnet: write it with its prefix length (e.g. `{s}/24`)"
            ))
        }
        Err(_) => {
            return Err(format!(
                "`{s}` is not a subnet: write an IPv4 network and its prefix length (e.g. `192.168.43.0/24`)"
            ))
        }
    };
    let ip = net.network();
    let why = if ip.is_loopback() {
        Some("is the loopback range")
    } else if ip.is_multicast() {
        Some("is for multicast")
    } else if ip.is_link_local() {
        Some("is link-local")
    } else if ip.is_unspecified() || ip.octets()[0] == 0 {
        Some("is not a network containers can have")
    } else if ip.octets()[0] >= 240 {
        Some("is reserved")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(format!(
            "subnet `{s}` {why}: give a private range such as `192.168.43.0/24`"
        ));
    }
    crate::naming::Addressing::new(net).map_err(|e| format!("{e:#}"))?;
    Ok(net)
}

/// A subnet for a local cluster's network: as a lab's, any size from /16
/// to /28.
pub(super) fn parse_cluster_subnet(s: &str) -> Result<ipnet::Ipv4Net, String> {
    match parse_subnet(s) {
        Err(e) if e.contains("wrong size") => {
            let net: ipnet::Ipv4Net = s.parse().map_err(|_| e.clone())?;
            if (16..=28).contains(&net.prefix_len()) {
                Ok(net)
            } else {
                Err(format!(
                    "subnet {net} has the wrong size: use a prefix from /16 to /28, e.g. `--subnet 192.168.142.0/24`"
                ))
            }
        }
        other => other,
    }
}

/// A node of a lab: `ha` or a web app `sN` (no leading zero).
pub fn parse_node(s: &str) -> Result<String, String> {
    let ok = s == crate::naming::HA
        || crate::naming::webapp_number(s).is_some_and(|n| n <= max_webapps());
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "`{s}` is not a node name: a lab's nodes are `ha` and the web apps `s1`, `s2`, … \
             (no leading zero); `labctl ps` lists them"
        ))
    }
}

/// A lab's name (see [`crate::naming::LabNames::new`]).
pub(super) fn parse_lab(s: &str) -> Result<String, String> {
    crate::naming::LabNames::new(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("{e:#}"))
}

/// A local cluster's name.
pub(super) fn parse_cluster_name(s: &str) -> Result<String, String> {
    crate::cluster::plan::check_name(s)
        .map(|()| s.to_string())
        .map_err(|e| format!("{e:#}"))
}

/// A folder that exists (`--templates`).
pub(super) fn parse_existing_dir(s: &str) -> Result<std::path::PathBuf, String> {
    let path = std::path::PathBuf::from(s);
    if path.is_dir() {
        Ok(path)
    } else {
        Err(format!(
            "template directory `{s}` does not exist; pass an existing directory to --templates"
        ))
    }
}

/// A yes-or-no value, as people write it in environment variables: `1`,
/// `yes`, `true`, `on` (and `0`, `no`, `false`, `off`, or nothing).
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "on" => Ok(true),
        "" | "0" | "no" | "n" | "false" | "off" => Ok(false),
        _ => Err(format!(
            "`{s}` is not yes or no: use 1/0, yes/no, true/false or on/off"
        )),
    }
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
    if count.parse::<u64>().is_ok() || count.starts_with('-') {
        let range = (0, u64::from(max_webapps()));
        return whole(
            count,
            "the number of web apps",
            range,
            "`webapp=3`",
            NO_LAB_HOLDS,
        )
        .map_err(|e| e.replace("is negative:", "is not a number of web apps:"))
        .and_then(narrow);
    }
    Err(format!(
        "`{count}` is not a number of web apps: use a whole number, 0 or more (e.g. `webapp=3`)"
    ))
}

/// A registry as `HOST[:PORT]`, without a scheme or a path.
pub(super) fn parse_registry(s: &str) -> Result<String, String> {
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
