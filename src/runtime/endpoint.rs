//! Which Docker Engine labctl talks to, found as the docker CLI finds it
//! and further: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH`), else the context named by `DOCKER_CONTEXT` or by
//! `docker context use` (with its TLS files), else the first socket of the
//! engines users run (Docker's own, rootless Docker's, Docker Desktop's,
//! colima's, OrbStack's, Rancher Desktop's, Podman's rootful and rootless)
//! that exists. A context named but not found is an error, never a silent
//! fallback. A connection that fails is explained with its real cause
//! first.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// Where labctl looks for the engine when nothing else says.
pub(crate) const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The engines' sockets labctl knows, in the order it tries them: who
/// makes it, and where (`~` the home folder, `$XDG_RUNTIME_DIR` the
/// user's runtime folder).
pub(crate) const KNOWN_SOCKETS: [(&str, &str); 8] = [
    ("Docker Engine", "/var/run/docker.sock"),
    ("Docker (rootless)", "$XDG_RUNTIME_DIR/docker.sock"),
    ("Docker Desktop", "~/.docker/run/docker.sock"),
    ("colima", "~/.colima/default/docker.sock"),
    ("OrbStack", "~/.orbstack/run/docker.sock"),
    ("Rancher Desktop", "~/.rd/docker.sock"),
    ("Podman (rootful)", "/run/podman/podman.sock"),
    ("Podman (rootless)", "$XDG_RUNTIME_DIR/podman/podman.sock"),
];

/// The known engines that run in a VM of their own.
const IN_A_VM: [&str; 4] = ["Docker Desktop", "colima", "OrbStack", "Rancher Desktop"];

/// The engine's address, and what chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `unix:///…`, `tcp://…`, `http://…`, `https://…` or `ssh://…`.
    pub(crate) host: String,
    /// What chose it, for messages.
    pub(crate) source: Source,
    /// The TLS files it is reached with, when it asks for TLS.
    pub(crate) tls: Option<Tls>,
}

/// What chose the engine's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// `DOCKER_HOST`.
    DockerHost,
    /// A docker CLI context, by name.
    Context(String),
    /// A known socket that exists, by who makes it.
    Socket(&'static str),
    /// Nothing found: Docker's own socket.
    Default,
    /// A command-line option, by name (`--beside`).
    Option(&'static str),
}

/// The TLS material of an engine reached over TLS: `ca.pem`, `cert.pem`
/// and `key.pem` in one folder, as the docker CLI keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    /// The folder that holds the three files.
    pub(crate) dir: PathBuf,
    /// Whether the engine's certificate is checked against `ca.pem`.
    pub(crate) verify: bool,
}

impl Endpoint {
    /// Where the address comes from, in words.
    pub(crate) fn chosen_by(&self) -> String {
        match &self.source {
            Source::DockerHost => " (from DOCKER_HOST)".into(),
            Source::Context(name) => format!(" (from docker context `{name}`)"),
            Source::Socket(who) => format!(" ({who}'s socket)"),
            Source::Default => String::new(),
            Source::Option(name) => format!(" (from {name})"),
        }
    }

    /// Whether the engine shares this machine's Linux kernel: reached on a
    /// local socket that is not one of an engine in a VM (Docker Desktop,
    /// colima, OrbStack, Rancher Desktop).
    pub(crate) fn is_local_linux(&self) -> bool {
        cfg!(target_os = "linux")
            && self.host.starts_with("unix://")
            && !matches!(self.source, Source::Socket(who) if IN_A_VM.contains(&who))
    }
}

/// What [`resolve`] reads: the environment, and whether a path is a
/// socket.
pub(crate) struct Look<'a> {
    /// An environment variable's value.
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    /// Whether a socket exists at a path.
    pub(crate) is_socket: &'a dyn Fn(&Path) -> bool,
}

/// The docker CLI's configuration directory.
fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(dir) = env("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    env("HOME").map(|home| Path::new(&home).join(".docker"))
}

/// A context as its `meta.json` describes it.
struct Context {
    host: String,
    skip_verify: bool,
    /// Its folder's name (the same under `meta/` and `tls/`).
    id: String,
}

/// Docker CLI context `name`, from its metadata. Entries that are not a
/// context (a stray file, a folder without `meta.json`, a document that
/// does not parse) are passed over.
fn find_context(config: &Path, name: &str) -> Option<Context> {
    let meta = config.join("contexts").join("meta");
    for entry in std::fs::read_dir(meta).ok()?.flatten() {
        let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else {
            continue;
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if doc["Name"] == name {
            let docker = &doc["Endpoints"]["docker"];
            return Some(Context {
                host: docker["Host"].as_str().unwrap_or_default().to_string(),
                skip_verify: docker["SkipTLSVerify"].as_bool().unwrap_or(false),
                id: entry.file_name().to_string_lossy().into_owned(),
            });
        }
    }
    None
}

/// The context names the docker CLI keeps, for an error.
fn context_names(config: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(config.join("contexts").join("meta"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("meta.json")).ok()?;
            let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
            doc["Name"].as_str().map(String::from)
        })
        .collect();
    names.sort();
    names
}

/// The files of a TLS client, as the docker CLI names them.
pub(crate) const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// Whether labctl speaks TLS to engines on this platform (see Cargo.toml).
pub(crate) const SPEAKS_TLS: bool = cfg!(all(target_os = "linux", not(target_env = "musl")));

/// Whether `dir` holds the three TLS files.
fn has_tls_files(dir: &Path) -> bool {
    TLS_FILES.iter().all(|f| dir.join(f).is_file())
}

/// A known socket's path in this environment (`None` when it names a
/// folder the environment does not give).
fn socket_path(pattern: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(rest) = pattern.strip_prefix("~/") {
        return env("HOME").map(|h| Path::new(&h).join(rest));
    }
    if let Some(rest) = pattern.strip_prefix("$XDG_RUNTIME_DIR/") {
        return env("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(&d).join(rest));
    }
    Some(PathBuf::from(pattern))
}

/// Resolves the engine's address from an environment and the docker CLI's
/// files (see the module's comment for the order).
pub(crate) fn resolve(look: &Look<'_>) -> Result<Endpoint> {
    let env = look.env;
    let config = config_dir(env);
    if let Some(host) = env("DOCKER_HOST").filter(|h| !h.is_empty()) {
        let verify = env("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
        let tls = verify
            || env("DOCKER_TLS").is_some_and(|v| !v.is_empty())
            || host.starts_with("https://");
        let tls = tls.then(|| Tls {
            dir: env("DOCKER_CERT_PATH")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .or_else(|| config.clone())
                .unwrap_or_default(),
            verify: verify || host.starts_with("https://"),
        });
        return Ok(Endpoint {
            host,
            source: Source::DockerHost,
            tls,
        });
    }
    let (context, named_by) = match env("DOCKER_CONTEXT").filter(|c| !c.is_empty()) {
        Some(c) => (Some(c), "DOCKER_CONTEXT"),
        None => (
            config.as_ref().and_then(|c| {
                let text = std::fs::read_to_string(c.join("config.json")).ok()?;
                let doc: serde_json::Value = serde_json::from_str(&text).ok()?;
                doc["currentContext"].as_str().map(String::from)
            }),
            "`docker context use` (currentContext in config.json)",
        ),
    };
    if let Some(name) = context.filter(|c| !c.is_empty() && c != "default") {
        let found = config.as_deref().and_then(|c| find_context(c, &name));
        let Some(found) = found.filter(|c| !c.host.is_empty()) else {
            let known = config.as_deref().map(context_names).unwrap_or_default();
            bail!(
                "docker context `{name}`, named by {named_by}, does not exist{}: `docker context \
                 ls` lists the contexts; name one of them, or `default`",
                if known.is_empty() {
                    String::new()
                } else {
                    format!(" (there are: {})", known.join(", "))
                }
            );
        };
        let tls_dir = config
            .as_deref()
            .unwrap_or(Path::new(""))
            .join("contexts")
            .join("tls")
            .join(&found.id)
            .join("docker");
        let tls = has_tls_files(&tls_dir).then_some(Tls {
            dir: tls_dir,
            verify: !found.skip_verify,
        });
        return Ok(Endpoint {
            host: found.host,
            source: Source::Context(name),
            tls,
        });
    }
    for (who, pattern) in KNOWN_SOCKETS {
        if let Some(path) = socket_path(pattern, env).filter(|p| (look.is_socket)(p)) {
            return Ok(Endpoint {
                host: format!("unix://{}", path.display()),
                source: if who == KNOWN_SOCKETS[0].0 {
                    Source::Default
                } else {
                    Source::Socket(who)
                },
                tls: None,
            });
        }
    }
    Ok(Endpoint {
        host: DEFAULT_HOST.into(),
        source: Source::Default,
        tls: None,
    })
}

/// Whether a socket exists at `path`.
fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

/// The address from this process's environment and files.
pub(crate) fn from_env() -> Result<Endpoint> {
    resolve(&Look {
        env: &|key| std::env::var(key).ok(),
        is_socket: &is_socket,
    })
}

/// The engine at `host` that option `option` names, with the TLS
/// settings of this process's environment (as DOCKER_HOST would be).
pub(crate) fn given(host: &str, option: &'static str) -> Result<Endpoint> {
    let endpoint = resolve(&Look {
        env: &|key| match key {
            "DOCKER_HOST" => Some(host.to_string()),
            _ => std::env::var(key).ok(),
        },
        is_socket: &is_socket,
    })?;
    Ok(Endpoint {
        source: Source::Option(option),
        ..endpoint
    })
}

/// Why the engine at `endpoint` cannot be reached, when a look at its
/// address can tell, with what to do. `None` when it looks reachable.
pub(crate) fn diagnose(endpoint: &Endpoint) -> Option<String> {
    let at = format!("`{}`{}", endpoint.host, endpoint.chosen_by());
    let forward = "reach it over ssh instead (DOCKER_HOST=ssh://USER@HOST: labctl forwards the \
         engine's socket with this machine's ssh client)";
    if let Some(tls) = &endpoint.tls {
        if !SPEAKS_TLS {
            return Some(format!(
                "the engine at {at} is reached over TLS (with the files in `{}`), which labctl \
                 speaks on Linux hosts only for now: {forward}",
                tls.dir.display()
            ));
        }
        if !tls.verify {
            return Some(format!(
                "the engine at {at} is to be reached over TLS without checking its certificate \
                 (DOCKER_TLS without DOCKER_TLS_VERIFY, or a context with SkipTLSVerify): labctl \
                 always checks it against the CA in `{}`; set DOCKER_TLS_VERIFY=1, or give the \
                 context its CA",
                tls.dir.display()
            ));
        }
        let missing: Vec<&str> = TLS_FILES
            .into_iter()
            .filter(|f| !tls.dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Some(format!(
                "the engine at {at} is reached over TLS, and `{}` lacks {}: point \
                 DOCKER_CERT_PATH at the folder of ca.pem, cert.pem and key.pem (the files \
                 the engine's CA made for this client)",
                tls.dir.display(),
                missing.join(", ")
            ));
        }
        return None;
    }
    if endpoint.host.starts_with("ssh://") {
        // ssh itself says what is wrong when labctl opens the forward.
        return crate::runtime::ssh::parse(&endpoint.host)
            .err()
            .map(|e| format!("{e:#} ({at})"));
    }
    let Some(path) = endpoint.host.strip_prefix("unix://") else {
        if endpoint.host.starts_with("tcp://") || endpoint.host.starts_with("http://") {
            return None;
        }
        return Some(format!(
            "the engine address {at} is not one labctl can use: give DOCKER_HOST as \
             unix:///path/to/docker.sock, tcp://HOST:PORT, http://HOST:PORT or \
             ssh://USER@HOST"
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
            std::io::ErrorKind::NotFound if endpoint.source == Source::Default => format!(
                "no Docker Engine socket at {at}, nor one of Docker Desktop, colima, OrbStack, \
                 Rancher Desktop or Podman: start the engine (`sudo systemctl start docker`, or \
                 the app), or point DOCKER_HOST (or `docker context use`) at a running one"
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
mod tests;
