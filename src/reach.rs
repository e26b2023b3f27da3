//! Where the user reaches what the lab publishes: the address a printed
//! URL names, decided by where the engine runs and where `ha`'s ports are
//! bound. An engine on this machine's socket (Linux, or Docker Desktop,
//! colima, OrbStack, Podman, WSL2, which forward published ports to the
//! user's localhost) answers on localhost; a remote engine answers on its
//! host's address when the ports are published beyond its loopback, and
//! otherwise not at all from here, which is said with the way round it.

use std::net::IpAddr;

/// Where the engine runs, as seen from labctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EngineAt {
    /// On this machine (its socket, or a VM that forwards its ports here).
    Here,
    /// On another host, by the name or address labctl reaches it at.
    Remote(String),
}

impl EngineAt {
    /// Where the engine at `host` (`unix://…`, `tcp://H:P`, `http://H:P`,
    /// `https://H:P`, `ssh://user@H:P`) runs.
    pub(crate) fn of(host: &str) -> Self {
        let Some((scheme, rest)) = host.split_once("://") else {
            return Self::Here;
        };
        if scheme == "unix" || scheme == "npipe" {
            return Self::Here;
        }
        let authority = rest.split('/').next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let name = match authority.strip_prefix('[') {
            // [::1]:2375
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => authority.rsplit_once(':').map_or(authority, |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    authority
                }
            }),
        };
        let local = name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if local || name.is_empty() {
            Self::Here
        } else {
            Self::Remote(name.to_string())
        }
    }
}

/// Whether the engine at `address` shares this machine's network and
/// files: reached on a socket here (and not over tcp, ssh or TLS, even to
/// this machine's loopback, which may be a container's or a VM's port).
pub(crate) fn shares_this_host(address: &str) -> bool {
    address.starts_with("unix://")
}

/// The URL of a port published on `bind:port` of the engine's host, as
/// reached from the user's machine; `Err` says why there is none and what
/// to do.
pub(crate) fn url(at: &EngineAt, bind: &str, port: u16) -> Result<String, String> {
    let ip: Option<IpAddr> = bind.parse().ok();
    let everywhere = ip.is_some_and(|ip| ip.is_unspecified());
    let loopback = ip.is_some_and(|ip| ip.is_loopback());
    match at {
        EngineAt::Here if everywhere => Ok(format!("http://127.0.0.1:{port}/")),
        EngineAt::Here => Ok(format!("http://{}:{port}/", bracketed(bind))),
        EngineAt::Remote(host) if everywhere => Ok(format!("http://{}:{port}/", bracketed(host))),
        EngineAt::Remote(host) if loopback => Err(format!(
            "published on {host}'s loopback ({bind}:{port}), which this machine cannot reach: \
             `ssh -NL {port}:{bind}:{port} {host}` forwards it here (then \
             http://127.0.0.1:{port}/), or `labctl up --bind 0.0.0.0` publishes it on every \
             address of {host} (anyone who reaches {host} reaches it)"
        )),
        EngineAt::Remote(_) => Ok(format!("http://{}:{port}/", bracketed(bind))),
    }
}

/// Whether something accepts a connection at `url` (`http://HOST:PORT/`)
/// from this machine within a second: no request is sent.
pub(crate) async fn answers(url: &str) -> bool {
    let Some(authority) = url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
    else {
        return false;
    };
    let authority = authority.replace(['[', ']'], "");
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    let Ok(port) = port.parse::<u16>() else {
        return false;
    };
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(std::time::Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
}

/// What is said of a URL that does not answer from this machine, the
/// engine being at `engine`.
pub(crate) fn no_answer(url: &str, engine: &str) -> String {
    format!(
        "{url} does not answer from this machine: the engine at `{engine}` publishes it on \
         its own host (an engine in a container or a VM that forwards no ports); forward it \
         (`ssh -NL PORT:127.0.0.1:PORT HOST`, `docker run` with `-p` for an engine in a \
         container), or give that host's address to --bind"
    )
}

/// An address as a URL writes it (`[::1]` for IPv6).
fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_each_kind_of_engine_runs() {
        let here = [
            "unix:///var/run/docker.sock",
            "unix:///Users/me/.docker/run/docker.sock",
            "unix:///Users/me/.colima/default/docker.sock",
            "unix:///run/user/1000/podman/podman.sock",
            "npipe:////./pipe/docker_engine",
            "tcp://127.0.0.1:2375",
            "tcp://localhost:2375",
            "http://[::1]:2375",
        ];
        for host in here {
            assert_eq!(EngineAt::of(host), EngineAt::Here, "{host}");
        }
        let remote = [
            ("tcp://10.0.0.5:2375", "10.0.0.5"),
            ("https://docker:2376", "docker"),
            ("tcp://lab.example.edu:2376", "lab.example.edu"),
            ("ssh://teacher@lab.example.edu", "lab.example.edu"),
            ("ssh://teacher@10.1.2.3:2222", "10.1.2.3"),
            ("tcp://[fd00::5]:2375", "fd00::5"),
        ];
        for (host, name) in remote {
            assert_eq!(EngineAt::of(host), EngineAt::Remote(name.into()), "{host}");
        }
    }

    #[test]
    fn the_url_each_kind_of_engine_gets() {
        let here = EngineAt::Here;
        // Linux, Docker Desktop, colima, OrbStack, WSL2, Podman: localhost.
        assert_eq!(url(&here, "127.0.0.1", 80).unwrap(), "http://127.0.0.1:80/");
        assert_eq!(
            url(&here, "0.0.0.0", 1936).unwrap(),
            "http://127.0.0.1:1936/"
        );
        assert_eq!(
            url(&here, "192.168.1.20", 80).unwrap(),
            "http://192.168.1.20:80/"
        );
        // A remote engine: its host when published beyond its loopback.
        let remote = EngineAt::Remote("lab.example.edu".into());
        assert_eq!(
            url(&remote, "0.0.0.0", 8080).unwrap(),
            "http://lab.example.edu:8080/"
        );
        assert_eq!(url(&remote, "10.0.0.5", 80).unwrap(), "http://10.0.0.5:80/");
        let why = url(&remote, "127.0.0.1", 80).unwrap_err();
        assert!(
            why.contains("ssh -NL 80:127.0.0.1:80 lab.example.edu"),
            "{why}"
        );
        assert!(why.contains("--bind 0.0.0.0"), "{why}");
        let v6 = EngineAt::Remote("fd00::5".into());
        assert_eq!(url(&v6, "::", 80).unwrap(), "http://[fd00::5]:80/");
    }

    #[test]
    fn a_url_answers_only_when_something_accepts_there() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(runtime.block_on(answers(&format!("http://127.0.0.1:{open}/"))));
        assert!(!runtime.block_on(answers(&format!("http://127.0.0.1:{closed}/"))));
        assert!(!runtime.block_on(answers("not a url")));
        let why = no_answer("http://127.0.0.1:80/", "tcp://127.0.0.1:23750");
        assert!(
            why.contains("the engine at `tcp://127.0.0.1:23750`"),
            "{why}"
        );
    }
}
