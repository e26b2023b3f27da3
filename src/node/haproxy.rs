//! Talking to the HAProxy that runs beside labctl inside `ha`: its runtime API
//! (admin socket), its master CLI (reloads) and its configuration checker.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// The runtime API socket, inside the container only.
pub const ADMIN_SOCKET: &str = "/run/haproxy/admin.sock";
/// The master CLI socket of HAProxy's master-worker mode.
pub const MASTER_SOCKET: &str = "/run/haproxy/master.sock";
/// Where server states are kept across a reload.
pub const SERVER_STATE_FILE: &str = "/run/haproxy/server-state";

/// Sends one command to a HAProxy CLI socket and returns its answer.
pub fn command(socket: &str, cmd: &str) -> Result<String> {
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
pub fn show_stat() -> Result<String> {
    command(ADMIN_SOCKET, "show stat")
}

/// Checks a configuration file with `haproxy -c`; the error holds HAProxy's
/// own explanation.
pub fn check_config(path: &Path) -> Result<()> {
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
pub fn reload() -> Result<()> {
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
