//! Which Docker Engine labctl talks to, found as the docker CLI finds it:
//! `DOCKER_HOST`, else the context named by `DOCKER_CONTEXT` or by
//! `docker context use` (in the CLI's `config.json`), else the local socket.
//! A connection that fails is explained with its real cause first.

use std::path::{Path, PathBuf};

/// Where labctl looks for the engine when nothing else says.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The engine's address, and what chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `unix:///…`, `tcp://…` or `http://…`.
    pub host: String,
    /// What chose it, for messages.
    pub source: Source,
}

/// What chose the engine's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `DOCKER_HOST`.
    DockerHost,
    /// A docker CLI context, by name.
    Context(String),
    /// The local socket.
    Default,
}

impl Endpoint {
    /// Where the address comes from, in words.
    pub fn from_where(&self) -> String {
        match &self.source {
            Source::DockerHost => " (from DOCKER_HOST)".into(),
            Source::Context(name) => format!(" (from docker context `{name}`)"),
            Source::Default => String::new(),
        }
    }
}

/// The docker CLI's configuration directory.
fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir));
    }
    env("HOME").map(|home| Path::new(&home).join(".docker"))
}

/// The host of docker CLI context `name`, from its metadata.
fn context_host(config: &Path, name: &str) -> Option<String> {
    let meta = config.join("contexts").join("meta");
    for entry in std::fs::read_dir(meta).ok()?.flatten() {
        let text = std::fs::read_to_string(entry.path().join("meta.json")).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        if doc["Name"] == name {
            return doc["Endpoints"]["docker"]["Host"]
                .as_str()
                .map(String::from);
        }
    }
    None
}

/// Resolves the engine's address from an environment (`env`) and the
/// docker CLI's files.
pub fn resolve(env: &dyn Fn(&str) -> Option<String>) -> Endpoint {
    if let Some(host) = env("DOCKER_HOST").filter(|h| !h.is_empty()) {
        return Endpoint {
            host,
            source: Source::DockerHost,
        };
    }
    let config = config_dir(env);
    let context = env("DOCKER_CONTEXT").or_else(|| {
        let text = std::fs::read_to_string(config.as_ref()?.join("config.json")).ok()?;
        let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
        doc["currentContext"].as_str().map(String::from)
    });
    if let Some(name) = context.filter(|c| !c.is_empty() && c != "default") {
        if let Some(host) = config.as_deref().and_then(|c| context_host(c, &name)) {
            return Endpoint {
                host,
                source: Source::Context(name),
            };
        }
    }
    Endpoint {
        host: DEFAULT_HOST.into(),
        source: Source::Default,
    }
}

/// The address from this process's environment.
pub fn from_env() -> Endpoint {
    resolve(&|key| std::env::var(key).ok())
}

/// Why the engine at `endpoint` cannot be reached, when a look at its
/// address can tell, with what to do. `None` when it looks reachable.
pub fn diagnose(endpoint: &Endpoint) -> Option<String> {
    let at = format!("`{}`{}", endpoint.host, endpoint.from_where());
    let Some(path) = endpoint.host.strip_prefix("unix://") else {
        if endpoint.host.starts_with("tcp://") || endpoint.host.starts_with("http://") {
            return None;
        }
        return Some(format!(
            "the engine address {at} is not one labctl can use: give DOCKER_HOST as \
             unix:///path/to/docker.sock, tcp://HOST:PORT or http://HOST:PORT"
        ));
    };
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => None,
        Err(e) => Some(match e.kind() {
            std::io::ErrorKind::PermissionDenied => format!(
                "permission denied on the Docker Engine's socket {at}: add your user to the \
                 `docker` group (`sudo usermod -aG docker $USER`, then log in again), run as \
                 root, or point DOCKER_HOST at an engine you may use"
            ),
            std::io::ErrorKind::NotFound => format!(
                "no Docker Engine socket at {at}: start the engine (`sudo systemctl start \
                 docker`), or point DOCKER_HOST (or `docker context use`) at a running one"
            ),
            std::io::ErrorKind::ConnectionRefused => format!(
                "nothing answers on the Docker Engine's socket {at}: the engine is not \
                 running; start it (`sudo systemctl start docker`)"
            ),
            _ => format!("cannot connect to the Docker Engine at {at}: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn docker_host_wins_then_the_context_then_the_socket() {
        let dir = std::env::temp_dir().join(format!("labctl-ctx-{}", std::process::id()));
        let meta = dir.join("contexts/meta/0123abcd");
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2375"}}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("config.json"), r#"{"currentContext":"remote"}"#).unwrap();
        let config = dir.display().to_string();

        let e = resolve(&env(&[("DOCKER_CONFIG", config.clone())]));
        assert_eq!(e.host, "tcp://10.0.0.5:2375");
        assert_eq!(e.from_where(), " (from docker context `remote`)");

        let e = resolve(&env(&[
            ("DOCKER_CONFIG", config.clone()),
            ("DOCKER_HOST", "unix:///run/other.sock".into()),
        ]));
        assert_eq!(e.host, "unix:///run/other.sock");
        assert_eq!(e.source, Source::DockerHost);

        let e = resolve(&env(&[
            ("DOCKER_CONFIG", config.clone()),
            ("DOCKER_CONTEXT", "default".into()),
        ]));
        assert_eq!(e.host, DEFAULT_HOST);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unusable_address_is_explained_first() {
        let missing = Endpoint {
            host: "unix:///nonexistent/docker.sock".into(),
            source: Source::DockerHost,
        };
        assert!(diagnose(&missing).unwrap().starts_with(
            "no Docker Engine socket at `unix:///nonexistent/docker.sock` (from DOCKER_HOST)"
        ));
        let ssh = Endpoint {
            host: "ssh://me@box".into(),
            source: Source::DockerHost,
        };
        assert!(diagnose(&ssh).unwrap().contains("tcp://HOST:PORT"));
    }
}
