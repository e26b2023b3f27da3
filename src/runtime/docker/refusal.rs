//! What the engine's refusals are taken to mean: the typed refusals
//! orchestration acts on, and the messages that need a fix named (Docker's
//! and Podman's words alike).

use anyhow::anyhow;
use bollard::errors::Error as DockerError;

use super::{docker_message, status_code};
use crate::runtime::Refusal;

/// The engine's refusal to create a network, as orchestration acts on it:
/// a subnet that overlaps another network's, a name that is taken. Podman
/// answers both with a 500 and words of its own.
pub(crate) fn network_refusal(e: &DockerError) -> anyhow::Error {
    let message = docker_message(e);
    if message.contains("overlaps") || message.contains("is already used on the host") {
        anyhow::Error::new(Refusal::Overlaps(message))
    } else if status_code(e) == Some(409) || message.contains("network already exists") {
        anyhow::Error::new(Refusal::AlreadyExists(message))
    } else {
        anyhow!(message)
    }
}

/// The engine's refusal to start a container: a taken port as a typed
/// refusal; a rootless engine's privileged port and Podman's default
/// ulimits with what to change.
pub(super) fn start_refusal(e: &DockerError) -> anyhow::Error {
    let msg = docker_message(e);
    if msg.contains("port is already allocated") || msg.contains("address already in use") {
        anyhow::Error::new(Refusal::PortTaken(msg))
    } else if msg.contains("cannot expose privileged port") {
        anyhow!(
            "{msg}\na rootless engine may not publish ports below 1024: choose others with \
             --http-port and --stats-port (8080 and 8936, say)"
        )
    } else if msg.contains("error setting rlimit") {
        anyhow!(
            "{msg}\nthe engine asked for resource limits (open files, processes) above its \
             own: Podman's defaults exceed what this machine lets its service have. Put \
             `default_ulimits = []` under `[containers]` in /etc/containers/containers.conf \
             (rootless: ~/.config/containers/containers.conf), so that containers inherit the \
             service's limits, then restart the service (`systemctl restart podman.socket`, or \
             `systemctl --user restart podman.socket`)"
        )
    } else {
        anyhow!(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status_code: u16, message: &str) -> DockerError {
        DockerError::DockerResponseServerError {
            status_code,
            message: message.to_string(),
        }
    }

    fn refusal(e: &DockerError) -> Option<Refusal> {
        network_refusal(e).downcast::<Refusal>().ok()
    }

    #[test]
    fn network_refusals_of_docker_and_podman_are_told_apart() {
        let docker_overlap = answered(403, "Pool overlaps with other one on this address space");
        assert!(matches!(
            refusal(&docker_overlap),
            Some(Refusal::Overlaps(_))
        ));
        let podman_overlap = answered(
            500,
            "subnet 192.168.42.0/24 is already used on the host or by another config",
        );
        assert!(matches!(
            refusal(&podman_overlap),
            Some(Refusal::Overlaps(_))
        ));
        let docker_taken = answered(409, "network with name heig already exists");
        assert!(matches!(
            refusal(&docker_taken),
            Some(Refusal::AlreadyExists(_))
        ));
        let podman_taken = answered(
            500,
            "network name heig already used: network already exists",
        );
        assert!(matches!(
            refusal(&podman_taken),
            Some(Refusal::AlreadyExists(_))
        ));
        assert!(refusal(&answered(500, "no space left on device")).is_none());
    }

    #[test]
    fn start_refusals_name_their_fix() {
        let taken = answered(
            500,
            "driver failed: Bind for 0.0.0.0:80 failed: port is already allocated",
        );
        assert!(matches!(
            start_refusal(&taken).downcast::<Refusal>().ok(),
            Some(Refusal::PortTaken(_))
        ));
        let rlimit = answered(
            500,
            "runc create failed: error setting rlimit type 7: operation not permitted",
        );
        let why = format!("{:#}", start_refusal(&rlimit));
        assert!(
            why.contains("default_ulimits = []") && why.contains("containers.conf"),
            "{why}"
        );
        let low = answered(500, "rootlessport cannot expose privileged port 80");
        assert!(format!("{:#}", start_refusal(&low)).contains("--http-port"));
    }
}
