//! Engines reached over ssh (`DOCKER_HOST=ssh://[USER@]HOST[:PORT][/SOCKET]`,
//! or a context with such an address). labctl runs this machine's ssh
//! client, which forwards the engine's socket on that host (SOCKET, else
//! `/var/run/docker.sock`) to a socket in a private folder here, and talks
//! to the engine there for as long as the command runs. ssh reads the
//! user's own configuration, keys and agent; `LABCTL_SSH_ARGS` adds
//! options (`-i KEY`, `-F CONFIG`). Unlike the docker CLI, the other host
//! needs no docker CLI: sshd's socket forwarding alone (on by default).
//!
//! The forward ends with labctl, however labctl ends: ssh runs `cat` on the
//! other host with labctl holding its input, so that the end of labctl
//! closes that input and ssh leaves.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The engine's socket on the other host when the address names none.
const REMOTE_SOCKET: &str = "/var/run/docker.sock";

/// How long ssh has to log in and open the forward.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// An `ssh://` address, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `[USER@]HOST`, as ssh takes it.
    pub(crate) destination: String,
    /// The port, when the address names one.
    pub(crate) port: Option<u16>,
    /// The engine's socket on that host.
    pub(crate) socket: String,
}

/// Takes `ssh://[USER@]HOST[:PORT][/SOCKET]` apart.
pub(crate) fn parse(address: &str) -> Result<Target> {
    let usage = "write it ssh://[USER@]HOST[:PORT][/PATH/TO/ENGINE.sock]";
    let Some(rest) = address.strip_prefix("ssh://") else {
        bail!("`{address}` is not an ssh address: {usage}");
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((user, hp)) => (Some(user), hp),
        None => (None, authority),
    };
    let (host, port) = split_port(host_port)
        .with_context(|| format!("the engine address `{address}`: {usage}"))?;
    if host.is_empty() || user.is_some_and(str::is_empty) {
        bail!("the engine address `{address}` names no host: {usage}");
    }
    if host.starts_with('-') || user.is_some_and(|u| u.starts_with('-')) {
        bail!("the engine address `{address}` has a host or user starting with `-`: {usage}");
    }
    let destination = match user {
        Some(user) => format!("{user}@{host}"),
        None => host.to_string(),
    };
    let socket = if path.len() > 1 {
        path.to_string()
    } else {
        REMOTE_SOCKET.to_string()
    };
    Ok(Target {
        destination,
        port,
        socket,
    })
}

/// `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`.
fn split_port(host_port: &str) -> Result<(&str, Option<u16>)> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => match port.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => bail!("`{host_port}` has text after its `]`"),
            },
            None => bail!("`{host_port}` opens `[` without closing it"),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .with_context(|| format!("`{p}` is not a port"))
        })
        .transpose()?;
    Ok((host, port))
}

/// The extra options to ssh that `LABCTL_SSH_ARGS` gives, split at spaces.
fn extra_args(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

/// The ssh command line that forwards `target`'s socket to `local`.
fn command_line(target: &Target, local: &Path, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ConnectTimeout=15",
        "-o",
        "ServerAliveInterval=15",
    ]
    .map(String::from)
    .to_vec();
    if let Some(port) = target.port {
        args.extend(["-p".into(), port.to_string()]);
    }
    args.extend(extra.iter().cloned());
    args.extend([
        "-L".into(),
        format!("{}:{}", local.display(), target.socket),
        "--".into(),
        target.destination.clone(),
        "cat".into(),
    ]);
    args
}

/// A running forward: ssh, and the folder of its local socket. Both go
/// when it is dropped (or when labctl ends, see the module's note).
pub(crate) struct Tunnel {
    child: Child,
    /// Held open: ssh's `cat` on the other host reads it until labctl ends.
    _input: Option<ChildStdin>,
    dir: PathBuf,
    local: PathBuf,
}

impl Tunnel {
    /// Logs in to the engine's host and forwards its socket here, waiting
    /// until an engine could answer on it.
    pub(crate) async fn open(address: &str) -> Result<Self> {
        Self::open_with(address, &extra_args(std::env::var("LABCTL_SSH_ARGS").ok())).await
    }

    async fn open_with(address: &str, extra: &[String]) -> Result<Self> {
        let target = parse(address)?;
        let dir = private_dir()?;
        let local = dir.join("docker.sock");
        let args = command_line(&target, &local, extra);
        let spawned = Command::new("ssh")
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                if e.kind() == std::io::ErrorKind::NotFound {
                    bail!(
                        "the engine at `{address}` is reached over ssh, and this machine has \
                         no ssh client: install OpenSSH's client (`openssh-client`)"
                    );
                }
                return Err(e).context("starting ssh");
            }
        };
        let input = child.stdin.take();
        let mut tunnel = Self {
            child,
            _input: input,
            dir,
            local,
        };
        tunnel.wait_open(address, &target).await?;
        Ok(tunnel)
    }

    /// The engine's address here: the forwarded socket.
    pub(crate) fn host(&self) -> String {
        format!("unix://{}", self.local.display())
    }

    async fn wait_open(&mut self, address: &str, target: &Target) -> Result<()> {
        let started = Instant::now();
        loop {
            if std::os::unix::net::UnixStream::connect(&self.local).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let mut said = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = err.read_to_string(&mut said);
                }
                bail!(
                    "ssh to `{}` for the engine at `{address}` ended ({status}): {}\n\
                     labctl runs ssh without asking for passwords (BatchMode): load your key \
                     into ssh-agent or name it with LABCTL_SSH_ARGS=\"-i KEY\", check that \
                     `ssh {} true` works, and that `{}` is the engine's socket there (name \
                     another with ssh://HOST/PATH)",
                    target.destination,
                    said.trim(),
                    target.destination,
                    target.socket
                );
            }
            if started.elapsed() > OPEN_TIMEOUT {
                bail!(
                    "ssh to `{}` did not forward the engine's socket within {} s; check that \
                     `ssh {} true` works from this machine",
                    target.destination,
                    OPEN_TIMEOUT.as_secs(),
                    target.destination
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A new folder only this user may enter, for the forwarded socket.
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let base = std::env::temp_dir();
    for n in 0..100u32 {
        let dir = base.join(format!("labctl-ssh-{}-{n}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("creating `{}`", dir.display()));
            }
        }
    }
    bail!("no free folder for the ssh forward in `{}`", base.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_addresses_are_taken_apart() {
        let t = parse("ssh://teacher@lab.example.edu").unwrap();
        assert_eq!(t.destination, "teacher@lab.example.edu");
        assert_eq!(t.port, None);
        assert_eq!(t.socket, "/var/run/docker.sock");
        let t = parse("ssh://root@127.0.0.1:2222").unwrap();
        assert_eq!(
            (t.destination.as_str(), t.port),
            ("root@127.0.0.1", Some(2222))
        );
        let t = parse("ssh://me@host/run/user/1000/podman/podman.sock").unwrap();
        assert_eq!(t.socket, "/run/user/1000/podman/podman.sock");
        assert_eq!(t.destination, "me@host");
        let t = parse("ssh://[fd00::1]:22/").unwrap();
        assert_eq!((t.destination.as_str(), t.port), ("fd00::1", Some(22)));
        assert_eq!(t.socket, "/var/run/docker.sock");
        for bad in [
            "ssh://",
            "ssh://@host",
            "ssh://host:0",
            "ssh://host:port",
            "ssh://[fd00::1",
            "ssh://-oProxyCommand=x",
            "tcp://host:2375",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(format!("{err:#}").contains("ssh://"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn ssh_forwards_the_socket_and_runs_cat_for_as_long_as_labctl_runs() {
        let t = parse("ssh://root@127.0.0.1:2222").unwrap();
        let args = command_line(
            &t,
            Path::new("/tmp/labctl-ssh-1-0/docker.sock"),
            &extra_args(Some(" -i /k  -F /c ".into())),
        );
        let line = args.join(" ");
        assert!(line.starts_with("-T -o BatchMode=yes"), "{line}");
        assert!(
            line.ends_with(
                "-p 2222 -i /k -F /c -L /tmp/labctl-ssh-1-0/docker.sock:/var/run/docker.sock \
                 -- root@127.0.0.1 cat"
            ),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_failed_login_says_what_ssh_said_and_what_to_check() {
        // Port 1 of this machine's loopback: nothing listens there.
        let extra = extra_args(Some("-o StrictHostKeyChecking=no".into()));
        let Err(e) = Tunnel::open_with("ssh://nobody@127.0.0.1:1", &extra).await else {
            panic!("ssh to a closed port opened a forward");
        };
        let message = format!("{e:#}");
        assert!(
            message.contains("`ssh nobody@127.0.0.1 true` works")
                || message.contains("no ssh client"),
            "{message}"
        );
    }
}
