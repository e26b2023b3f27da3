//! Talking to the HAProxy that runs beside labctl inside `ha`: its runtime API
//! (admin socket), its master CLI (reloads) and its configuration checker.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The runtime API socket, inside the container only.
pub(crate) const ADMIN_SOCKET: &str = "/run/haproxy/admin.sock";
/// The master CLI socket of HAProxy's master-worker mode.
pub(crate) const MASTER_SOCKET: &str = "/run/haproxy/master.sock";
/// Where server states are kept across a reload.
pub(crate) const SERVER_STATE_FILE: &str = "/run/haproxy/server-state";

/// Sends one command to a HAProxy CLI socket and returns its answer.
pub(crate) fn command(socket: &str, cmd: &str) -> Result<String> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to HAProxy at `{socket}`"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream
        .write_all(format!("{cmd}\n").as_bytes())
        .with_context(|| format!("sending `{cmd}` to `{socket}`"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .with_context(|| format!("reading HAProxy's answer to `{cmd}`"))?;
    Ok(answer)
}

/// HAProxy's statistics as CSV.
pub(crate) fn show_stat() -> Result<String> {
    command(ADMIN_SOCKET, "show stat")
}

/// The HAProxy running beside labctl, for reconciliation.
pub(crate) struct Local;

impl super::reconcile::Haproxy for Local {
    fn check(&self, candidate: &Path) -> Result<()> {
        check_config(candidate)
    }

    fn reload(&self) -> Result<()> {
        reload()
    }

    fn servers(&self) -> Result<Vec<crate::stats::ServerState>> {
        Ok(crate::stats::servers(
            &show_stat()?,
            super::servers::BACKEND,
        ))
    }

    fn command(&self, cmd: &str) -> Result<String> {
        command(ADMIN_SOCKET, cmd)
    }

    fn answers(&self, addr: &str) -> bool {
        http_check(addr).unwrap_or(false)
    }
}

/// How long `ha`'s own check waits to connect to a web app on the lab's
/// network (a connection there takes well under a millisecond).
const CHECK_CONNECT: Duration = Duration::from_millis(50);
/// How long it waits for the answer: HAProxy's `timeout check`.
const CHECK_ANSWER: Duration = Duration::from_millis(150);

/// The health check HAProxy runs on a web app (`option httpchk HEAD /`, sent
/// as HAProxy sends it), run once from `ha`: whether it passes.
pub(crate) fn http_check(addr: &str) -> Result<bool> {
    let addr: std::net::SocketAddr = addr
        .parse()
        .with_context(|| format!("`{addr}` is not an ip:port"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, CHECK_CONNECT)?;
    stream.set_read_timeout(Some(CHECK_ANSWER))?;
    stream.set_write_timeout(Some(CHECK_ANSWER))?;
    stream.write_all(b"HEAD / HTTP/1.0\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let mut read = 0;
    while read < head.len() && !head[..read].contains(&b'\n') {
        match stream.read(&mut head[read..])? {
            0 => break,
            n => read += n,
        }
    }
    Ok(check_passes(&String::from_utf8_lossy(&head[..read])))
}

/// Whether an answer's status line passes an HTTP check as HAProxy judges
/// it by default: a 2xx or 3xx status.
pub(crate) fn check_passes(answer: &str) -> bool {
    let mut words = answer.lines().next().unwrap_or_default().split_whitespace();
    let version = words.next().unwrap_or_default();
    let status: u16 = words.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    version.starts_with("HTTP/") && (200..400).contains(&status)
}

pub(crate) use crate::contract::Processes;

/// Reads `show proc` of the master CLI.
pub(crate) fn processes() -> Result<Processes> {
    Ok(parse_processes(&command(MASTER_SOCKET, "show proc; quit")?))
}

/// Parses the master CLI's `show proc`.
pub(crate) fn parse_processes(text: &str) -> Processes {
    let mut p = Processes::default();
    let mut old = false;
    for line in text.lines() {
        if line.starts_with("# old workers") {
            old = true;
        } else if line.starts_with("# ") {
            old = false;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.get(1).copied() {
            Some("master") => {
                p.reloads = words.get(2).and_then(|r| r.parse().ok()).unwrap_or(0);
            }
            Some("worker") => {
                if let Ok(pid) = words[0].parse() {
                    if old {
                        p.old_workers.push(pid);
                    } else {
                        p.workers.push(pid);
                    }
                }
            }
            _ => {}
        }
    }
    p
}

/// Checks a configuration file with `haproxy -c`; the error holds HAProxy's
/// own explanation.
pub(crate) fn check_config(path: &Path) -> Result<()> {
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-q")
        .arg("-f")
        .arg(path)
        .output()
        .context("running `haproxy -c`")?;
    if !out.status.success() {
        let mut why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if why.is_empty() {
            why = String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        bail!("HAProxy rejects the configuration: {why}");
    }
    Ok(())
}

/// Saves the servers' states, then asks the master to reload: it starts a
/// new worker on the new configuration, which takes over the listening
/// sockets, while the old worker finishes the requests it holds.
pub(crate) fn reload() -> Result<()> {
    if !Path::new(MASTER_SOCKET).exists() {
        bail!("HAProxy is not running yet (no `{MASTER_SOCKET}`)");
    }
    // A missing state file only means the new worker checks every server
    // afresh; it is no reason not to reload.
    if let Ok(state) = command(ADMIN_SOCKET, "show servers state") {
        let _ = std::fs::write(SERVER_STATE_FILE, state);
    }
    command(MASTER_SOCKET, "reload").context("asking HAProxy's master to reload")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_passes_on_2xx_and_3xx_only() {
        assert!(check_passes("HTTP/1.1 200 OK\r\nContent-Length: 118\r\n"));
        assert!(check_passes("HTTP/1.0 302 Found\r\n"));
        assert!(!check_passes("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!check_passes("HTTP/1.1 404 Not Found\r\n"));
        assert!(!check_passes("SSH-2.0-OpenSSH\r\n"));
        assert!(!check_passes("HTTP/1.1"));
        assert!(!check_passes(""));
    }

    #[test]
    fn the_check_runs_against_a_real_listener() {
        use std::net::TcpListener;
        let serve = |answer: &'static str| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap().to_string();
            std::thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                let mut req = [0u8; 128];
                let n = s.read(&mut req).unwrap();
                assert!(req[..n].starts_with(b"HEAD / HTTP/1.0\r\n"));
                s.write_all(answer.as_bytes()).unwrap();
            });
            addr
        };
        assert!(http_check(&serve("HTTP/1.1 200 OK\r\n\r\n")).unwrap());
        assert!(!http_check(&serve("HTTP/1.1 500 Oops\r\n\r\n")).unwrap());
        // Nothing listens: an error, not a pass.
        let free = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap().to_string();
        drop(free);
        assert!(http_check(&addr).is_err());
        assert!(http_check("s3:3000").is_err());
    }

    #[test]
    fn show_proc_gives_the_reloads_and_the_workers() {
        // As HAProxy 2.6 prints it after three reloads, one old worker left.
        let text =
            "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
            10              master          3 [failed: 0]   0d00h02m11s     2.6.12-1+deb12u4\n\
            # workers\n\
            97              worker          0               0d00h00m01s     2.6.12-1+deb12u4\n\
            # old workers\n\
            42              worker          3               0d00h02m10s     2.6.12-1+deb12u4\n\
            # programs\n\n";
        assert_eq!(
            parse_processes(text),
            Processes {
                reloads: 3,
                workers: vec![97],
                old_workers: vec![42],
            }
        );
        assert_eq!(parse_processes(""), Processes::default());
    }
}
