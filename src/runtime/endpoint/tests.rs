//! Finding the engine: every source in its order, a stray entry among the
//! contexts, an unknown context, the TLS files, the known sockets.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::*;

/// A docker CLI configuration folder of a test's own.
struct Config(PathBuf);

impl Config {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("labctl-ctx-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// A context as `docker context create` stores it: `meta/ID/meta.json`.
    fn context(&self, id: &str, json: &str) -> &Self {
        let meta = self.0.join("contexts/meta").join(id);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(meta.join("meta.json"), json).unwrap();
        self
    }

    /// The context's TLS files, as `docker context create --docker
    /// ca=…,cert=…,key=…` stores them: `tls/ID/docker/*.pem`.
    fn tls(&self, id: &str) -> PathBuf {
        let dir = self.0.join("contexts/tls").join(id).join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.join(f), "-----BEGIN-----\n").unwrap();
        }
        dir
    }

    fn current(&self, name: &str) -> &Self {
        std::fs::write(
            self.0.join("config.json"),
            format!(r#"{{"currentContext":"{name}"}}"#),
        )
        .unwrap();
        self
    }

    fn path(&self) -> String {
        self.0.display().to_string()
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Resolves with `vars` for the environment and `sockets` as the sockets
/// that exist.
fn resolve_with(vars: &[(&str, &str)], sockets: &[&str]) -> Result<Endpoint> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let sockets: HashSet<PathBuf> = sockets.iter().map(PathBuf::from).collect();
    resolve(&Look {
        env: &|k| map.get(k).cloned(),
        is_socket: &|p: &Path| sockets.contains(p),
    })
}

const REMOTE: &str = r#"{"Name":"remote","Endpoints":{"docker":{"Host":"tcp://10.0.0.5:2375"}}}"#;

#[test]
fn docker_host_wins_then_the_context_then_the_sockets() {
    let c = Config::new("order");
    c.context("0123abcd", REMOTE).current("remote");
    let config = c.path();

    let e = resolve_with(&[("DOCKER_CONFIG", &config)], &[]).unwrap();
    assert_eq!(e.host, "tcp://10.0.0.5:2375");
    assert_eq!(e.chosen_by(), " (from docker context `remote`)");
    assert_eq!(e.tls, None);

    let e = resolve_with(
        &[
            ("DOCKER_CONFIG", &config),
            ("DOCKER_HOST", "unix:///run/other.sock"),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(e.host, "unix:///run/other.sock");
    assert_eq!(e.source, Source::DockerHost);

    // `default` is the socket, whatever config.json says.
    let e = resolve_with(
        &[("DOCKER_CONFIG", &config), ("DOCKER_CONTEXT", "default")],
        &["/var/run/docker.sock"],
    )
    .unwrap();
    assert_eq!(e.host, DEFAULT_HOST);
    assert_eq!(e.source, Source::Default);
}

#[test]
fn a_stray_entry_among_the_contexts_is_passed_over() {
    let c = Config::new("stray");
    // Finder's file, a folder without meta.json, a broken document: each
    // sorted before the real context.
    std::fs::create_dir_all(c.0.join("contexts/meta")).unwrap();
    std::fs::write(c.0.join("contexts/meta/.DS_Store"), "\0\0").unwrap();
    std::fs::create_dir_all(c.0.join("contexts/meta/00empty")).unwrap();
    c.context("01broken", "{ not json")
        .context("ffff", REMOTE)
        .current("remote");
    let e = resolve_with(&[("DOCKER_CONFIG", &c.path())], &[]).unwrap();
    assert_eq!(e.host, "tcp://10.0.0.5:2375");
}

#[test]
fn an_unknown_context_is_an_error_that_names_the_known_ones() {
    let c = Config::new("unknown");
    c.context("0123abcd", REMOTE);
    let e = resolve_with(
        &[("DOCKER_CONFIG", &c.path()), ("DOCKER_CONTEXT", "colima")],
        &["/var/run/docker.sock"],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("docker context `colima`, named by DOCKER_CONTEXT, does not exist"),
        "{e}"
    );
    assert!(e.contains("(there are: remote)"), "{e}");
    c.current("gone");
    let e = resolve_with(&[("DOCKER_CONFIG", &c.path())], &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("named by `docker context use`"), "{e}");
}

#[test]
fn tls_comes_from_the_environment_or_from_the_contexts_files() {
    let e = resolve_with(
        &[
            ("DOCKER_HOST", "tcp://docker:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs/client"),
        ],
        &[],
    )
    .unwrap();
    let tls = e.tls.unwrap();
    assert_eq!(tls.dir, Path::new("/certs/client"));
    assert!(tls.verify);

    // Without DOCKER_CERT_PATH, the CLI's folder; https:// asks for TLS.
    let e = resolve_with(
        &[("DOCKER_HOST", "https://lab:2376"), ("HOME", "/home/me")],
        &[],
    )
    .unwrap();
    assert_eq!(e.tls.unwrap().dir, Path::new("/home/me/.docker"));
    let plain = resolve_with(&[("DOCKER_HOST", "tcp://lab:2375")], &[]).unwrap();
    assert_eq!(plain.tls, None);

    let c = Config::new("tls");
    c.context(
        "9a9a",
        r#"{"Name":"ci","Endpoints":{"docker":{"Host":"tcp://docker:2376","SkipTLSVerify":true}}}"#,
    )
    .current("ci");
    let dir = c.tls("9a9a");
    let e = resolve_with(&[("DOCKER_CONFIG", &c.path())], &[]).unwrap();
    assert_eq!(e.tls, Some(Tls { dir, verify: false }));
    // Refused before any connection is tried: where labctl speaks no TLS,
    // with the way round it; elsewhere, unchecked certificates.
    let why = diagnose(&e).unwrap();
    if SPEAKS_TLS {
        assert!(why.contains("SkipTLSVerify"), "{why}");
        let checked = Endpoint {
            tls: Some(Tls {
                dir: c.tls("9a9a"),
                verify: true,
            }),
            ..e.clone()
        };
        assert_eq!(diagnose(&checked), None);
        let lacking = Endpoint {
            tls: Some(Tls {
                dir: c.0.join("nowhere"),
                verify: true,
            }),
            ..e
        };
        let why = diagnose(&lacking).unwrap();
        assert!(why.contains("lacks ca.pem, cert.pem, key.pem"), "{why}");
    } else {
        assert!(why.contains("DOCKER_HOST=ssh://USER@HOST"), "{why}");
    }
}

#[test]
fn the_known_sockets_are_tried_in_order() {
    let home = [("HOME", "/Users/me"), ("XDG_RUNTIME_DIR", "/run/user/1000")];
    let found = |sockets: &[&str]| resolve_with(&home, sockets).unwrap();

    let e = found(&[
        "/Users/me/.docker/run/docker.sock",
        "/Users/me/.colima/default/docker.sock",
    ]);
    assert_eq!(e.host, "unix:///Users/me/.docker/run/docker.sock");
    assert_eq!(e.chosen_by(), " (Docker Desktop's socket)");
    assert!(!e.is_local_linux());

    let e = found(&["/Users/me/.colima/default/docker.sock"]);
    assert_eq!(e.source, Source::Socket("colima"));
    let e = found(&["/Users/me/.orbstack/run/docker.sock"]);
    assert_eq!(e.source, Source::Socket("OrbStack"));
    let e = found(&["/run/podman/podman.sock"]);
    assert_eq!(e.host, "unix:///run/podman/podman.sock");
    let e = found(&["/run/user/1000/docker.sock", "/run/podman/podman.sock"]);
    assert_eq!(e.source, Source::Socket("Docker (rootless)"));
    let e = found(&["/run/user/1000/podman/podman.sock"]);
    assert_eq!(e.source, Source::Socket("Podman (rootless)"));
    assert_eq!(e.is_local_linux(), cfg!(target_os = "linux"));

    // Docker's own comes first; with none, Docker's own is named.
    let e = found(&["/var/run/docker.sock", "/run/podman/podman.sock"]);
    assert_eq!(
        (e.host.as_str(), &e.source),
        (DEFAULT_HOST, &Source::Default)
    );
    let e = found(&[]);
    assert_eq!(e.host, DEFAULT_HOST);
    // Without XDG_RUNTIME_DIR, no rootless socket is guessed.
    let e = resolve_with(&[], &["/podman/podman.sock"]).unwrap();
    assert_eq!(e.host, DEFAULT_HOST);
}

#[test]
fn an_unusable_address_is_explained_first() {
    let missing = Endpoint {
        host: "unix:///nonexistent/docker.sock".into(),
        source: Source::DockerHost,
        tls: None,
    };
    assert!(diagnose(&missing).unwrap().starts_with(
        "no Docker Engine socket at `unix:///nonexistent/docker.sock` (from DOCKER_HOST)"
    ));
    let nothing = Endpoint {
        host: "unix:///nonexistent/docker.sock".into(),
        source: Source::Default,
        tls: None,
    };
    assert!(diagnose(&nothing)
        .unwrap()
        .contains("nor one of Docker Desktop, colima"));
    let ssh = Endpoint {
        host: "ssh://me@box".into(),
        source: Source::DockerHost,
        tls: None,
    };
    // An ssh address that reads well is left to ssh (which says what
    // fails when labctl opens the forward); one that does not is explained.
    assert_eq!(diagnose(&ssh), None);
    let no_host = Endpoint {
        host: "ssh://me@:22".into(),
        source: Source::DockerHost,
        tls: None,
    };
    let why = diagnose(&no_host).unwrap();
    assert!(
        why.contains("names no host") && why.contains("(from DOCKER_HOST)"),
        "{why}"
    );
    let odd = Endpoint {
        host: "npipe:////./pipe/docker_engine".into(),
        source: Source::DockerHost,
        tls: None,
    };
    assert!(diagnose(&odd).unwrap().contains("tcp://HOST:PORT"));
}
